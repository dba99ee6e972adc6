"""The leaderboards' own rows: the weekly counts and the boards' histograms.

The streak board ranks the state rows themselves (``engagement.UserState``,
its ``engagement_streak_board_idx``); the weekly board ranks
:class:`WeeklyCheckins`. A rank is 1 + the number of members with a higher
score: read from :class:`BoardScore`, a histogram appended to in the same
statement as every change that moves a score, so it costs the same at 10 k or
1 M users (docs/ARCHITECTURE.md, "Leaderboards").
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class WeeklyCheckins(models.Model):
    """The user's check-ins in one ISO week of their own local dates (Monday
    ``week_start`` to Sunday). Written by the check-in, one more per check-in
    (``INSERT ... ON CONFLICT DO UPDATE``), opted in or not: the flag decides
    who is shown, not what is counted."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="weekly_checkins",
        db_index=False,  # served by the unique (user, week_start)
    )
    week_start = models.DateField(help_text="Monday of the user's local ISO week.")
    checkins = models.PositiveIntegerField()

    class Meta:
        verbose_name = "weekly check-ins"
        verbose_name_plural = "weekly check-ins"
        indexes = [
            # The weekly board: a week's users, most check-ins first, with a
            # stable tiebreak.
            models.Index(
                "week_start",
                models.F("checkins").desc(),
                "user",
                name="leaderboards_weekly_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "week_start"], name="leaderboards_weeklycheckins_user_week_unique"
            ),
            models.CheckConstraint(
                condition=Q(checkins__gte=1, checkins__lte=7),
                name="leaderboards_weeklycheckins_checkins_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.checkins} check-ins of {self.user_id} in the week of {self.week_start}"


class BoardScore(models.Model):
    """How many members of ``board`` have ``score``: the sum of ``users`` over
    the board's rows at that score. A rank is read from it (1 + the members
    with a higher score), and the participants (all of them). ``board`` is
    ``streak`` or ``weekly:<Monday>``.

    Append-only on the hot path: every change that moves a score inserts its
    own rows (-1 at the old score, +1 at the new one), so no two check-ins
    ever wait on the same row; ``services.fold`` sums each (board, score) into
    one row now and then, in one transaction, so a reader's sums never move.

    No constraint keeps a sum at 0 or above: rows written around the services
    (a bulk load, a test's factory) leave the histogram behind, and a check-in
    must not fail for that. ``board_score_mismatches`` finds such drift and
    ``manage.py rebuild_leaderboards`` repairs it."""

    id = models.BigAutoField(primary_key=True)
    board = models.CharField(max_length=20)
    score = models.PositiveIntegerField()
    users = models.IntegerField()

    class Meta:
        indexes = [
            # A rank and the participants: the sums of one board's rows above
            # a score, read from the index alone.
            models.Index(
                fields=["board", "score"], include=["users"], name="leaderboards_boardscore_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1), name="leaderboards_boardscore_score_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.board}: {self.users:+d} at {self.score}"
