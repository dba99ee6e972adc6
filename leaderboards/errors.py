from base.errors import NotFoundError


class UnknownBoard(NotFoundError):
    code = "unknown_board"
    default_detail = "No such leaderboard; the boards are `streak` and `weekly`."


class NoPreviousPeriod(NotFoundError):
    # 404, not 400: the request is well formed (a board and a period the
    # schema lists); that board's previous period does not exist.
    code = "no_previous_period"
    default_detail = "The streak board has no previous period: it is always the current one."
