from base.errors import NotFoundError


class UnknownBoard(NotFoundError):
    code = "unknown_board"
    default_detail = "No such leaderboard; the boards are `streak` and `weekly`."
