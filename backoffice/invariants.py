"""Every invariant between a state row, its ledger, its check-ins and its
events, checked for all users in batches: eight aggregate queries per batch of
users (the state rows, the ledger sums, the check-in aggregates, the last
check-in's streak, the ledger entries by kind and ref, the level-ups, the
events by type and ref, the streak restores), each served by a per-user index,
never a query per user.

For every user with a state row:
- ledger replay: initial state + the sum of the ledger's deltas == the row;
- ``total_checkins`` == the number of check-in rows;
- ``last_checkin_date`` == the latest check-in's date;
- ``streak`` == the streak the latest check-in reached (0 without check-ins),
  plus what the ``streak_restore`` entries since that check-in added (a
  restore gives a lost streak back without a check-in; the next check-in's
  streak includes it);
- ``longest_streak`` == the highest streak of any check-in or restore (0
  without);
- events: the ledger and the events tell the same story, entry by entry: each
  ``checkin`` entry has its ``checkin.created`` event for the same date, each
  freeze, claim, purchase and use its event for the same date, reward or tool,
  and each entry that raised the level its ``level.up`` (both are written by
  the same state change, so they agree exactly; a difference names the dates
  or ids on each side). A reconciliation (``admin_adjust`` with ref
  ``reconcile``, ``backoffice.reconcile``) raises no level: it records one.
And no user has ledger entries or check-ins without a state row.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Q, Subquery, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from checkins.models import CheckIn
from engagement import rules
from engagement.invariants import replay_differences
from engagement.models import RECONCILE_REF, LedgerEntry, UserState
from events.models import Event
from users.models import User

# What a violation is about: the ledger replay (the only one ``--reconcile``
# repairs), the check-ins, the events, or a missing state row.
LEDGER, CHECKINS, EVENTS, STATE = "ledger", "checkins", "events", "state"


@dataclass(frozen=True)
class Violation:
    user_id: uuid.UUID
    email: str
    field: str
    problem: str
    check: str

    def __str__(self) -> str:
        return f"{self.email} ({self.user_id}) {self.field}: {self.problem}"


def _ledger_sums(low, high) -> dict:
    rows = (
        LedgerEntry.objects.filter(user_id__gte=low, user_id__lte=high)
        .values("user_id")
        .annotate(**{field: Sum(field) for field in rules.STATE_FIELDS})
        .order_by()
    )
    return {row["user_id"]: row for row in rows}


_Kind = LedgerEntry.Kind
_Type = Event.Type
# A ledger kind, the event its change writes, and the data key that holds the entry's ref.
LEDGER_EVENTS = {
    _Kind.CHECKIN: (_Type.CHECKIN_CREATED, "date"),
    _Kind.FREEZE_USED: (_Type.STREAK_FREEZE_CONSUMED, "date"),
    _Kind.REWARD_CLAIM: (_Type.REWARD_CLAIMED, "reward_id"),
    _Kind.TOOL_BUY: (_Type.TOOL_PURCHASED, "tool_id"),
    _Kind.TOOL_USE: (_Type.TOOL_USED, "tool_id"),
    _Kind.STREAK_RESTORE: (_Type.STREAK_RESTORED, "date"),
}
LEVEL_UP = (_Type.LEVEL_UP.value, "")

Story = Counter[tuple[str, str]]  # (event type, date or id) -> how many


def _ledger_and_event_stories(low, high) -> dict[uuid.UUID, tuple[Story, Story]]:
    """Per user: what the ledger says the events should be, and what they are."""
    stories: dict[uuid.UUID, tuple[Story, Story]] = defaultdict(lambda: (Counter(), Counter()))
    in_batch = {"user_id__gte": low, "user_id__lte": high}
    entries = (
        LedgerEntry.objects.filter(**in_batch, kind__in=list(LEDGER_EVENTS))
        .values_list("user_id", "kind", "ref")
        .annotate(n=Count("id"))
        .order_by()
    )
    for user_id, kind, ref, n in entries:
        stories[user_id][0][(LEDGER_EVENTS[kind][0].value, ref)] += n
    level_ups = (
        LedgerEntry.objects.filter(**in_batch, level__gt=0)
        .exclude(kind=_Kind.ADMIN_ADJUST, ref=RECONCILE_REF)  # bookkeeping, no level-up
        .values("user_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("user_id", "n")
    )
    for user_id, n in level_ups:
        stories[user_id][0][LEVEL_UP] += n
    keys = {event_type: key for event_type, key in LEDGER_EVENTS.values()}
    events = (
        Event.objects.filter(**in_batch, type__in=[*keys, _Type.LEVEL_UP])
        .annotate(ref=Coalesce(*(KT(f"data__{key}") for key in sorted(set(keys.values())))))
        .values_list("user_id", "type", "ref")
        .annotate(n=Count("id"))
        .order_by()
    )
    for user_id, event_type, ref, n in events:
        key = LEVEL_UP if event_type == _Type.LEVEL_UP else (event_type, ref or "")
        stories[user_id][1][key] += n
    return stories


def _story_difference(expected: Story, actual: Story) -> str:
    def listed(story: Story) -> str:
        return ", ".join(
            f"{event_type} {ref}".rstrip() + (f" (x{n})" if n > 1 else "")
            for (event_type, ref), n in sorted(story.items())
        )

    missing, extra = expected - actual, actual - expected
    parts = []
    if missing:
        parts.append(f"ledger entries without their event: {listed(missing)}")
    if extra:
        parts.append(f"events without their ledger entry: {listed(extra)}")
    return "; ".join(parts)


def _checkin_aggregates(low, high) -> dict:
    rows = (
        CheckIn.objects.filter(user_id__gte=low, user_id__lte=high)
        .values("user_id")
        .annotate(count=Count("id"), last_date=Max("date"), longest=Max("streak"))
        .order_by()
    )
    return {row["user_id"]: row for row in rows}


def _last_checkin_streaks(low, high) -> dict:
    latest = CheckIn.objects.filter(user_id=OuterRef("user_id")).order_by("-date").values("date")
    rows = CheckIn.objects.filter(
        user_id__gte=low, user_id__lte=high, date=Subquery(latest[:1])
    ).values_list("user_id", "streak")
    return dict(rows)


@dataclass(frozen=True)
class Restores:
    """A user's ``streak_restore`` entries: the streak they added since the
    latest check-in, and the highest streak any of them reached."""

    since_last_checkin: int = 0
    highest: int = 0


def _restores(low, high) -> dict[uuid.UUID, Restores]:
    """Per user of the batch with restores (rare: one query for all of them).
    A restore is "since the latest check-in" when no ``checkin`` entry of its
    user follows it (the ``(user, -id)`` index serves the check)."""
    later_checkin = LedgerEntry.objects.filter(
        user_id=OuterRef("user_id"), kind=_Kind.CHECKIN, id__gt=OuterRef("id")
    )
    rows = (
        LedgerEntry.objects.filter(user_id__gte=low, user_id__lte=high, kind=_Kind.STREAK_RESTORE)
        .annotate(
            reached=Cast(KT("state_after__streak"), IntegerField()),
            superseded=Exists(later_checkin),
        )
        .values_list("user_id", "streak", "reached", "superseded")
    )
    found: dict[uuid.UUID, Restores] = {}
    for user_id, added, reached, superseded in rows:
        seen = found.get(user_id, Restores())
        found[user_id] = Restores(
            since_last_checkin=seen.since_last_checkin + (0 if superseded else added),
            highest=max(seen.highest, reached),
        )
    return found


def _user_violations(
    state: dict,
    sums: dict,
    checkins: dict | None,
    last_streak: int | None,
    stories: tuple[Story, Story] | None = None,
    restores: Restores | None = None,
):
    def violation(field: str, problem: str, check: str = CHECKINS) -> Violation:
        return Violation(state["user_id"], state["user__email"], field, problem, check)

    for field, replayed, actual in replay_differences(state=state, sums=sums):
        yield violation(field, f"ledger replays to {replayed}, state has {actual}", LEDGER)
    count = checkins["count"] if checkins else 0
    if state["total_checkins"] != count:
        yield violation(
            "total_checkins", f"state has {state['total_checkins']}, check-in rows: {count}"
        )
    last_date = checkins["last_date"] if checkins else None
    if state["last_checkin_date"] != last_date:
        yield violation(
            "last_checkin_date",
            f"state has {state['last_checkin_date']}, the latest check-in is {last_date}",
        )
    restores = restores or Restores()
    reached = last_streak if last_streak is not None else 0
    expected_streak = reached + restores.since_last_checkin
    if state["streak"] != expected_streak:
        restored = (
            f" and restores since added {restores.since_last_checkin}"
            if restores.since_last_checkin
            else ""
        )
        yield violation(
            "streak",
            f"state has {state['streak']}, the latest check-in reached {reached}{restored}",
        )
    highest = checkins["longest"] if checkins else 0
    longest = max(highest, restores.highest)
    if state["longest_streak"] != longest:
        restored = f", a restore reached {restores.highest}" if restores.highest else ""
        yield violation(
            "longest_streak",
            f"state has {state['longest_streak']}, the highest check-in streak is "
            f"{highest}{restored}",
        )
    if stories is not None and stories[0] != stories[1]:
        yield violation("events", _story_difference(*stories), EVENTS)


_STATE_VALUES = ("user_id", "user__email", *rules.STATE_FIELDS, "last_checkin_date")


def _batch_violations(states: list[dict]) -> Iterator[Violation]:
    """The violations of these users (state rows as values, in ``user_id`` order)."""
    low, high = states[0]["user_id"], states[-1]["user_id"]
    sums = _ledger_sums(low, high)
    checkins = _checkin_aggregates(low, high)
    last_streaks = _last_checkin_streaks(low, high)
    stories = _ledger_and_event_stories(low, high)
    restores = _restores(low, high)
    for state in states:
        user_id = state["user_id"]
        yield from _user_violations(
            state,
            sums.get(user_id, {}),
            checkins.get(user_id),
            last_streaks.get(user_id),
            stories.get(user_id),
            restores.get(user_id),
        )


def invariant_violations(
    *, batch_size: int = 1000, on_batch: Callable[[int], None] | None = None
) -> Iterator[Violation]:
    """Yield every violation, batch by batch of users in ``user_id`` order;
    ``on_batch(n)`` is told after each batch of ``n`` users."""
    after = None
    while True:
        batch = UserState.objects.order_by("user_id").values(*_STATE_VALUES)
        if after is not None:
            batch = batch.filter(user_id__gt=after)
        states = list(batch[:batch_size])
        if not states:
            break
        yield from _batch_violations(states)
        after = states[-1]["user_id"]
        if on_batch:
            on_batch(len(states))
    yield from _rows_without_state()


def user_violations(*, user_id: uuid.UUID) -> list[Violation]:
    """One user's violations, by the same queries (a batch of one). Under the
    user's state lock (``backoffice.reconcile``) they are exact: every write
    changes the state row and the ledger together, under that lock."""
    states = list(UserState.objects.filter(user_id=user_id).values(*_STATE_VALUES))
    return list(_batch_violations(states)) if states else []


def _rows_without_state() -> Iterator[Violation]:
    """Users with ledger entries or check-ins but no state row (one query)."""
    orphans = (
        User.objects.filter(~Exists(UserState.objects.filter(user_id=OuterRef("pk"))))
        .filter(
            Q(Exists(LedgerEntry.objects.filter(user_id=OuterRef("pk"))))
            | Q(Exists(CheckIn.objects.filter(user_id=OuterRef("pk"))))
            | Q(Exists(Event.objects.filter(user_id=OuterRef("pk"))))
        )
        .values_list("pk", "email")
    )
    for user_id, email in orphans:
        yield Violation(
            user_id,
            email,
            "state",
            "ledger entries, check-ins or events without a state row",
            STATE,
        )
