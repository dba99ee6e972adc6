from base.errors import NotFoundError


class UnknownBoard(NotFoundError):
    code = "unknown_board"
    default_detail = "No such leaderboard; the boards are `streak` and `weekly`."


class NoPreviousPeriod(NotFoundError):
    code = "no_previous_period"
    default_detail = (
        "The streak board has no previous period (current streaks only); "
        "`period=previous` is for the weekly board."
    )
