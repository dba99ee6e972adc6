from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from engagement import rules

# The streak board's members: a streak going on (not one whose loss the
# periodic job reported), of a user who is shown on the leaderboards. The
# board's reads filter with this same condition, so the partial index serves them.
STREAK_BOARD = Q(streak__gt=0, leaderboard_opt_in=True) & (
    Q(loss_reported_for__isnull=True) | ~Q(loss_reported_for=F("last_checkin_date"))
)

MAX_FREEZES = settings.ENGAGEMENT["MAX_FREEZES"]
ENERGY_MAX = settings.ENGAGEMENT["ENERGY_MAX"]
FATIGUE_MAX = settings.ENGAGEMENT["FATIGUE_MAX"]


def initial_state() -> rules.State:
    """The state a new user starts with: ``settings.ENGAGEMENT``'s ``START_*``
    values (read on each call, so test overrides apply)."""
    return rules.initial_state(settings.ENGAGEMENT, rules.Limits.from_settings(settings.ENGAGEMENT))


# The state row's defaults: callables, so the settings decide (and a migration
# does not record their values).
def start_level() -> int:
    return initial_state().level


def start_energy() -> int:
    return initial_state().energy


def start_fatigue() -> int:
    return initial_state().fatigue


def start_loyalty() -> int:
    return initial_state().loyalty


def start_streak_freezes() -> int:
    return initial_state().streak_freezes


class UserState(models.Model):
    """One row per user: the numbers the whole product revolves around.

    Only services change it, always under ``select_for_update`` of this row and
    always together with a :class:`LedgerEntry`.

    ``lost_streak`` and ``streak_lost_on`` are state (``rules.State``, not
    ledger deltas): the streak the last reset check-in lost and the local date
    it was lost on, kept for one restore (``rules.streak_restore``).

    Two columns are not engagement state but markers of notifications already
    sent by the periodic streak jobs (``events.streaks``): they are no
    ``rules.State`` field, no rule reads them and no ledger entry records them
    (the ledger replays the state; a marker changes no number of it). They are
    written under the same row lock, in the transaction that writes the event.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="state",
    )
    level = models.IntegerField(default=start_level)
    energy = models.IntegerField(default=start_energy)
    fatigue = models.IntegerField(default=start_fatigue)
    loyalty = models.IntegerField(default=start_loyalty)
    streak = models.IntegerField(default=rules.INITIAL_STATE.streak)
    longest_streak = models.IntegerField(default=rules.INITIAL_STATE.longest_streak)
    total_checkins = models.IntegerField(default=rules.INITIAL_STATE.total_checkins)
    streak_freezes = models.IntegerField(default=start_streak_freezes)
    last_checkin_date = models.DateField(null=True, blank=True)
    lost_streak = models.IntegerField(
        default=rules.INITIAL_STATE.lost_streak,
        db_default=rules.INITIAL_STATE.lost_streak,
        help_text="Length of the streak the last reset check-in lost; 0 when none is kept "
        "(never reset, or restored).",
    )
    streak_lost_on = models.DateField(
        null=True,
        blank=True,
        help_text="Local date the kept lost streak was lost on (the first day the freezes "
        "could not cover).",
    )
    at_risk_notified_on = models.DateField(
        null=True,
        blank=True,
        help_text="Local date the last streak.at_risk reminder went out (at most one a day).",
    )
    loss_reported_for = models.DateField(
        null=True,
        blank=True,
        help_text="last_checkin_date of the streak whose streak.lost was reported (once a loss).",
    )
    # A copy of users.User.leaderboard_opt_in (the source of truth), written
    # with it under this row's lock: the lock reads it (a check-in knows
    # whether to count the user on the boards without another statement) and
    # the streak board's index filters on it.
    leaderboard_opt_in = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Copy of the user's leaderboard_opt_in, kept with it in one transaction.",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "user state"
        indexes = [
            # The streak board (leaderboards): its members, best first, with a
            # stable tiebreak; a streak whose loss was reported is not current.
            models.Index(
                F("streak").desc(),
                "user",
                name="engagement_streak_board_idx",
                condition=STREAK_BOARD,
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(level__gte=1), name="engagement_userstate_level_min"
            ),
            models.CheckConstraint(
                condition=Q(energy__gte=0, energy__lte=ENERGY_MAX),
                name="engagement_userstate_energy_range",
            ),
            models.CheckConstraint(
                condition=Q(fatigue__gte=0, fatigue__lte=FATIGUE_MAX),
                name="engagement_userstate_fatigue_range",
            ),
            models.CheckConstraint(
                condition=Q(loyalty__gte=0), name="engagement_userstate_loyalty_min"
            ),
            models.CheckConstraint(
                condition=Q(streak__gte=0), name="engagement_userstate_streak_min"
            ),
            models.CheckConstraint(
                condition=Q(longest_streak__gte=F("streak")),
                name="engagement_userstate_longest_streak_gte_streak",
            ),
            models.CheckConstraint(
                condition=Q(total_checkins__gte=0),
                name="engagement_userstate_total_checkins_min",
            ),
            models.CheckConstraint(
                condition=Q(streak_freezes__gte=0, streak_freezes__lte=MAX_FREEZES),
                name="engagement_userstate_streak_freezes_range",
            ),
            models.CheckConstraint(
                condition=Q(lost_streak=0, streak_lost_on__isnull=True)
                | Q(lost_streak__gt=0, streak_lost_on__isnull=False),
                name="engagement_userstate_lost_streak_dated",
            ),
        ]

    def __str__(self) -> str:
        return f"state of {self.user_id}"

    def as_rules_state(self) -> rules.State:
        return rules.State(
            **{f: getattr(self, f) for f in rules.STATE_FIELDS},
            last_checkin_date=self.last_checkin_date,
            **{f: getattr(self, f) for f in rules.LOSS_FIELDS},
        )

    def set_from(self, state: rules.State) -> None:
        for field in rules.STATE_FIELDS:
            setattr(self, field, getattr(state, field))
        self.last_checkin_date = state.last_checkin_date
        for field in rules.LOSS_FIELDS:
            setattr(self, field, getattr(state, field))


class LedgerKind(models.TextChoices):
    CHECKIN = "checkin", "Check-in"
    REWARD_CLAIM = "reward_claim", "Reward claim"
    TOOL_BUY = "tool_buy", "Tool bought"
    TOOL_USE = "tool_use", "Tool used"
    FREEZE_USED = "freeze_used", "Streak freeze used"
    ADMIN_GRANT = "admin_grant", "Admin grant"
    ADMIN_ADJUST = "admin_adjust", "Admin adjustment"
    STREAK_RESTORE = "streak_restore", "Streak restored"


# The ref of the ``admin_adjust`` entry that ``verify_invariants --reconcile``
# writes: it changes no state, it records the difference between the state
# and what the ledger replayed to (so it raises no level and sends no event).
RECONCILE_REF = "reconcile"


class LedgerEntry(models.Model):
    """Append-only record of one change of a user's state.

    The delta columns hold the *applied* change (after clamping and multiplier),
    so that the initial state plus the sum of a user's deltas is their state.
    """

    Kind = LedgerKind

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="ledger_entries",
        db_index=False,  # served by the (user, -id) index
    )
    kind = models.CharField(max_length=20, choices=LedgerKind.choices)
    ref = models.CharField(
        max_length=200, blank=True, help_text="What caused it: a date, reward or tool id."
    )
    level = models.IntegerField(default=0)
    energy = models.IntegerField(default=0)
    fatigue = models.IntegerField(default=0)
    loyalty = models.IntegerField(default=0)
    streak = models.IntegerField(default=0)
    longest_streak = models.IntegerField(default=0)
    total_checkins = models.IntegerField(default=0)
    streak_freezes = models.IntegerField(default=0)
    state_after = models.JSONField()
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["user", "-id"], name="engagement_ledger_user_id_idx"),
            # The admin's ledger list (newest first, by time) and the dashboard's window.
            models.Index(fields=["created_at", "id"], name="engagement_ledger_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=LedgerKind.values),
                name="engagement_ledgerentry_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.ref} for {self.user_id}"

    @property
    def deltas(self) -> rules.Deltas:
        return rules.Deltas(**{f: getattr(self, f) for f in rules.STATE_FIELDS})
