"""The staff dashboard's numbers: four aggregate queries, whatever the data size.

- check-ins per day: check-in rows by their (local) date;
- daily active users: distinct users with an entry of their own in the ledger
  (check-in, claim, shop) by UTC day -- staff grants are not activity;
- streak distribution: current streaks, bucketed; a streak counts while it
  can still continue: last check-in yesterday or today (UTC), or further back
  by no more days than the freezes held (see ``rules.streak_status``);
- reward funnel: per reward, users who unlocked it in the window and how many
  of those have claimed it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from checkins.models import CheckIn
from engagement.models import MAX_FREEZES, LedgerEntry, LedgerKind, UserState
from rewards.models import Reward

WINDOW_DAYS = 30
USER_ACTIVITY = (
    LedgerKind.CHECKIN,
    LedgerKind.FREEZE_USED,
    LedgerKind.REWARD_CLAIM,
    LedgerKind.TOOL_BUY,
    LedgerKind.TOOL_USE,
)
# (label, lowest streak, highest streak or None)
STREAK_BUCKETS = (
    ("1", 1, 1),
    ("2-3", 2, 3),
    ("4-6", 4, 6),
    ("7-13", 7, 13),
    ("14-29", 14, 29),
    ("30+", 30, None),
)


@dataclass(frozen=True)
class DayCount:
    day: dt.date
    count: int


@dataclass(frozen=True)
class FunnelRow:
    reward_id: str
    title: str
    active: bool
    unlocked: int
    claimed: int

    @property
    def claim_rate(self) -> int:
        return round(100 * self.claimed / self.unlocked) if self.unlocked else 0


@dataclass(frozen=True)
class Dashboard:
    start: dt.date
    end: dt.date
    checkins_per_day: list[DayCount]
    active_users_per_day: list[DayCount]
    users: int
    live_streaks: int
    streak_buckets: list[tuple[str, int]]
    funnel: list[FunnelRow]

    @property
    def checkins_total(self) -> int:
        return sum(d.count for d in self.checkins_per_day)

    @property
    def active_users_average(self) -> float:
        return round(
            sum(d.count for d in self.active_users_per_day) / len(self.active_users_per_day), 1
        )

    @property
    def without_live_streak(self) -> int:
        return self.users - self.live_streaks

    @property
    def unlocked_total(self) -> int:
        return sum(row.unlocked for row in self.funnel)

    @property
    def claimed_total(self) -> int:
        return sum(row.claimed for row in self.funnel)


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _series(start: dt.date, end: dt.date, counts: dict[dt.date, int]) -> list[DayCount]:
    return [DayCount(day=day, count=counts.get(day, 0)) for day in _days(start, end)]


def checkins_per_day(*, start: dt.date, end: dt.date) -> list[DayCount]:
    rows = (
        CheckIn.objects.filter(date__gte=start, date__lte=end)
        .values("date")
        .annotate(n=Count("id"))
        .order_by()
    )
    return _series(start, end, {row["date"]: row["n"] for row in rows})


def active_users_per_day(*, start: dt.date, end: dt.date) -> list[DayCount]:
    since = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    rows = (
        LedgerEntry.objects.filter(
            created_at__gte=since, created_at__lt=until, kind__in=USER_ACTIVITY
        )
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(n=Count("user_id", distinct=True))
        .order_by()
    )
    return _series(start, end, {row["day"]: row["n"] for row in rows})


def _live_streak(today: dt.date) -> Q:
    """A streak that a check-in today would still extend (or already did)."""
    live = Q()
    for freezes in range(MAX_FREEZES + 1):
        live |= Q(
            streak_freezes=freezes,
            last_checkin_date__gte=today - dt.timedelta(days=1 + freezes),
        )
    return live & Q(streak__gte=1)


def streak_distribution(*, today: dt.date) -> tuple[int, int, list[tuple[str, int]]]:
    """(users with a state, users with a live streak, [(bucket, users)])."""
    live = _live_streak(today)
    aggregates = {"users": Count("pk"), "live": Count("pk", filter=live)}
    for index, (_label, low, high) in enumerate(STREAK_BUCKETS):
        bucket = Q(streak__gte=low) if high is None else Q(streak__gte=low, streak__lte=high)
        aggregates[f"bucket_{index}"] = Count("pk", filter=live & bucket)
    row = UserState.objects.aggregate(**aggregates)
    buckets = [(label, row[f"bucket_{i}"]) for i, (label, _, _) in enumerate(STREAK_BUCKETS)]
    return row["users"], row["live"], buckets


def reward_funnel(*, start: dt.date) -> list[FunnelRow]:
    """Every reward that is active or was unlocked in the window."""
    since = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    in_window = Q(owners__unlocked_at__gte=since)
    rewards = (
        Reward.objects.annotate(
            unlocked=Count("owners", filter=in_window),
            claimed=Count("owners", filter=in_window & Q(owners__claimed_at__isnull=False)),
        )
        .filter(Q(active=True) | Q(unlocked__gt=0))
        .order_by("rule", "threshold", "id")
    )
    return [
        FunnelRow(
            reward_id=r.pk, title=r.title, active=r.active, unlocked=r.unlocked, claimed=r.claimed
        )
        for r in rewards
    ]


def dashboard_data(*, today: dt.date, days: int = WINDOW_DAYS) -> Dashboard:
    """The last ``days`` days up to and including ``today``: four queries."""
    start = today - dt.timedelta(days=days - 1)
    users, live, buckets = streak_distribution(today=today)
    return Dashboard(
        start=start,
        end=today,
        checkins_per_day=checkins_per_day(start=start, end=today),
        active_users_per_day=active_users_per_day(start=start, end=today),
        users=users,
        live_streaks=live,
        streak_buckets=buckets,
        funnel=reward_funnel(start=start),
    )
