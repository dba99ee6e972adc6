"""The leaderboards' own rows: the weekly counts and the boards' histograms.

The streak board ranks the state rows themselves (``engagement.UserState``,
its ``engagement_streak_board_idx``); the weekly board ranks
:class:`WeeklyCheckins`. A rank is 1 + the number of members with a higher
score: read from :class:`BoardScore`, a histogram maintained in the same
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
    """How many members of ``board`` have ``score``: the histogram a rank is
    read from (1 + the members of a higher score) and the participants (all
    of them). ``board`` is ``streak`` or ``weekly:<Monday>``. Spread over
    ``shard`` (from the user id) so that check-ins moving the same score do
    not all queue on one row; a read sums the shards.

    No constraint keeps ``users`` at 0 or above: rows written around the
    services (a bulk load, a test's factory) leave the histogram behind, and
    a check-in must not fail for that. ``board_score_mismatches`` finds such
    drift and ``manage.py rebuild_leaderboards`` repairs it."""

    id = models.BigAutoField(primary_key=True)
    board = models.CharField(max_length=20)
    score = models.PositiveIntegerField()
    shard = models.PositiveSmallIntegerField()
    users = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["board", "score", "shard"], name="leaderboards_boardscore_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=1), name="leaderboards_boardscore_score_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.board}: {self.users} at {self.score} (shard {self.shard})"
