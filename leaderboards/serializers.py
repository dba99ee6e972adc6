from rest_framework import serializers

from leaderboards.boards import DEFAULT_LIMIT, MAX_LIMIT, PERIODS
from leaderboards.selectors import BoardPage


class LeaderboardQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_LIMIT,
        default=DEFAULT_LIMIT,
        help_text=f"How many rows of the top (1 to {MAX_LIMIT}).",
    )
    period = serializers.ChoiceField(
        choices=PERIODS,
        default="current",
        help_text="`weekly` only: `current` (the caller's local ISO week) or `previous` "
        "(the week before; `final` once it has ended in every zone).",
    )


class LeaderboardPeriodOutputSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()


class LeaderboardRowOutputSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="Ties share a rank (1, 2, 2, 4).")
    display_name = serializers.CharField(
        help_text="The user's display name, or a neutral alias (`Player 1a2b3c4d`)."
    )
    score = serializers.IntegerField()


class LeaderboardMeOutputSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.IntegerField()


class LeaderboardOutputSerializer(serializers.Serializer):
    board = serializers.ChoiceField(choices=["streak", "weekly"])
    period = LeaderboardPeriodOutputSerializer(
        help_text="`weekly`: Monday to Sunday of the ISO week; `streak`: today (the caller's "
        "local date), both ends."
    )
    final = serializers.BooleanField(
        help_text="The board will not change any more: a previous week once it has ended in "
        "every zone (its end in UTC + 14 h). `false` for every current board."
    )
    top = LeaderboardRowOutputSerializer(many=True)
    me = LeaderboardMeOutputSerializer(
        allow_null=True,
        help_text="The caller's rank and score; null when not on the board (opted out, or "
        "no score in the period).",
    )
    participants = serializers.IntegerField(help_text="Users on the board (a score above 0).")


_DATE = serializers.DateField()


def board_data(page: BoardPage) -> dict:
    """The response body, as ``LeaderboardOutputSerializer`` documents it."""
    return {
        "board": page.board,
        "period": {
            "start": _DATE.to_representation(page.start),
            "end": _DATE.to_representation(page.end),
        },
        "final": page.final,
        "top": [
            {"rank": row.rank, "display_name": row.display_name, "score": row.score}
            for row in page.top
        ],
        "me": None if page.me is None else {"rank": page.me.rank, "score": page.me.score},
        "participants": page.participants,
    }
