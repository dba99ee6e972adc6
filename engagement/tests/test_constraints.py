"""Every constraint of the engagement tables, proven twice: model validation
raises ValidationError and a raw write is refused by the database."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from engagement.models import LedgerEntry, LedgerKind, UserState
from engagement.rules import INITIAL_STATE, STATE_FIELDS
from engagement.tests.factories import LedgerEntryFactory, UserStateFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INITIAL_VALUES = {f: getattr(INITIAL_STATE, f) for f in STATE_FIELDS}

# (constraint name, values that violate only that constraint)
USER_STATE_VIOLATIONS = [
    ("engagement_userstate_level_min", {"level": 0}),
    ("engagement_userstate_level_min", {"level": -5}),
    ("engagement_userstate_energy_range", {"energy": -1}),
    ("engagement_userstate_energy_range", {"energy": 101}),
    ("engagement_userstate_fatigue_range", {"fatigue": -1}),
    ("engagement_userstate_fatigue_range", {"fatigue": 101}),
    ("engagement_userstate_loyalty_min", {"loyalty": -1}),
    ("engagement_userstate_streak_min", {"streak": -1}),
    ("engagement_userstate_longest_streak_gte_streak", {"streak": 3, "longest_streak": 2}),
    ("engagement_userstate_total_checkins_min", {"total_checkins": -1}),
    ("engagement_userstate_streak_freezes_range", {"streak_freezes": -1}),
    ("engagement_userstate_streak_freezes_range", {"streak_freezes": 3}),
]
violations = pytest.mark.parametrize(
    ("constraint", "values"),
    USER_STATE_VIOLATIONS,
    ids=[f"{name}-{values}" for name, values in USER_STATE_VIOLATIONS],
)

# Values on the edge of every range, all allowed.
USER_STATE_EDGES = [
    {"level": 1},
    {"energy": 0},
    {"energy": 100},
    {"fatigue": 0},
    {"fatigue": 100},
    {"loyalty": 0},
    {"streak": 0, "longest_streak": 0},
    {"streak": 4, "longest_streak": 4},
    {"total_checkins": 0},
    {"streak_freezes": 0},
    {"streak_freezes": 2},
]


def state_values(state: UserState) -> dict[str, int]:
    return {f: getattr(state, f) for f in STATE_FIELDS}


# --- UserState CHECK constraints ---------------------------------------------------


@violations
def test_user_state_full_clean_rejects(constraint, values):
    state = UserStateFactory.build(user=UserFactory(), **values)

    with pytest.raises(ValidationError) as exc:
        state.full_clean()

    assert exc.value.message_dict == {"__all__": [f"Constraint “{constraint}” is violated."]}


@violations
def test_user_state_database_refuses_create(constraint, values):
    user = UserFactory()

    with transaction.atomic(), pytest.raises(IntegrityError, match=constraint):
        UserState.objects.create(user=user, **values)

    assert not UserState.objects.filter(user=user).exists()


@violations
def test_user_state_database_refuses_update(constraint, values):
    state = UserStateFactory()

    with transaction.atomic(), pytest.raises(IntegrityError, match=constraint):
        UserState.objects.filter(pk=state.pk).update(**values)

    state.refresh_from_db()
    assert state_values(state) == INITIAL_VALUES


@pytest.mark.parametrize("values", USER_STATE_EDGES, ids=str)
def test_user_state_accepts_values_on_the_edge_of_every_range(values):
    state = UserStateFactory.build(user=UserFactory(), **values)

    state.full_clean()
    state.save()

    state.refresh_from_db()
    assert state_values(state) == {**INITIAL_VALUES, **values}


def test_user_state_defaults_are_the_initial_state():
    state = UserStateFactory()

    state.refresh_from_db()
    assert state_values(state) == INITIAL_VALUES
    assert state.last_checkin_date is None


# --- UserState: one row per user ------------------------------------------------------


def test_second_user_state_for_a_user_fails_full_clean():
    existing = UserStateFactory()

    with pytest.raises(ValidationError) as exc:
        UserState(user=existing.user).full_clean()

    assert [e.code for e in exc.value.error_dict["user"]] == ["unique"]


def test_second_user_state_for_a_user_is_refused_by_the_database():
    existing = UserStateFactory(loyalty=7)

    with transaction.atomic(), pytest.raises(IntegrityError):
        UserState.objects.create(user=existing.user, loyalty=99)

    assert list(UserState.objects.filter(user=existing.user).values_list("loyalty")) == [(7,)]


# --- LedgerEntry kind CHECK ------------------------------------------------------------

KIND_CONSTRAINT = "engagement_ledgerentry_kind_valid"


def test_ledger_entry_validate_constraints_rejects_an_unknown_kind():
    entry = LedgerEntryFactory.build(user=UserFactory(), kind="bogus")

    with pytest.raises(ValidationError) as exc:
        entry.validate_constraints()

    assert exc.value.message_dict == {"__all__": [f"Constraint “{KIND_CONSTRAINT}” is violated."]}


def test_ledger_entry_full_clean_rejects_an_unknown_kind():
    entry = LedgerEntryFactory.build(user=UserFactory(), kind="bogus")

    with pytest.raises(ValidationError) as exc:
        entry.full_clean()

    assert list(exc.value.message_dict) == ["kind"]
    assert [e.code for e in exc.value.error_dict["kind"]] == ["invalid_choice"]


def test_ledger_entry_with_an_unknown_kind_is_refused_by_the_database():
    user = UserFactory()

    with transaction.atomic(), pytest.raises(IntegrityError, match=KIND_CONSTRAINT):
        LedgerEntry.objects.create(user=user, kind="bogus", state_after={})

    assert not LedgerEntry.objects.filter(user=user).exists()


def test_changing_a_ledger_entry_to_an_unknown_kind_is_refused_by_the_database():
    entry = LedgerEntryFactory(kind=LedgerKind.TOOL_BUY)

    with transaction.atomic(), pytest.raises(IntegrityError, match=KIND_CONSTRAINT):
        LedgerEntry.objects.filter(pk=entry.pk).update(kind="")

    entry.refresh_from_db()
    assert entry.kind == "tool_buy"


@pytest.mark.parametrize("kind", LedgerKind.values)
def test_ledger_entry_accepts_every_documented_kind(kind):
    entry = LedgerEntryFactory.build(user=UserFactory(), kind=kind)

    entry.full_clean()
    entry.save()

    assert LedgerEntry.objects.get(pk=entry.pk).kind == kind


def test_the_documented_ledger_kinds():
    assert LedgerKind.values == [
        "checkin",
        "reward_claim",
        "tool_buy",
        "tool_use",
        "freeze_used",
        "admin_grant",
        "admin_adjust",
        "streak_restore",
    ]
