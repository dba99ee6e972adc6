"""The state-change envelope's batch form (``states_change``) and backfill
changes: the after-change steps run even without a step of the change's own,
and a change without steps leaves the state row alone."""

import datetime as dt

import pytest
from django.db.models import Q

from engagement import rules, services, statements
from engagement.models import LedgerEntry, UserState
from engagement.services import StateChange, limits, state_change, states_change
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


@pytest.fixture
def probe(monkeypatch):
    """The only after-change step: it remembers each change it saw and adds
    one ledger row to the change's write."""
    seen: list[StateChange] = []

    def step(change: StateChange) -> str:
        seen.append(change)
        entry = statements.LedgerRow(
            kind=LedgerEntry.Kind.ADMIN_GRANT,
            ref="probe",
            reason="",
            deltas=rules.Deltas(),
            state_after=services.state_snapshot(change.current),
        )
        change.write_with(statements.ledger_rows(user_id=change.user_id, entries=[entry], now=NOW))
        return "seen"

    monkeypatch.setattr(services, "_after_change_steps", {"probe": step})
    return seen


def users_with_states(count: int) -> list:
    users = sorted(UserFactory.create_batch(count), key=lambda u: u.pk)
    for user in users:
        UserState.objects.create(user=user)
    return users


def test_a_change_without_a_step_runs_no_after_change_step(probe):
    (user,) = users_with_states(1)

    with state_change(user_id=user.pk, now=NOW):
        pass

    assert probe == []
    assert not LedgerEntry.objects.exists()


def test_a_backfill_change_runs_them_and_writes_their_rows_but_not_the_state(probe):
    users = users_with_states(3)
    UserState.objects.filter(user=users[1]).update(streak=5, longest_streak=5)
    before = {row.user_id: row.updated_at for row in UserState.objects.all()}

    with states_change(
        user_ids=[u.pk for u in reversed(users)], now=NOW, condition=Q(streak__lt=5), backfill=True
    ) as changes:
        assert [c.user_id for c in changes] == [users[0].pk, users[2].pk]  # user_id order

    assert [c.user_id for c in probe] == [users[0].pk, users[2].pk]
    assert all(c.backfill and c.outcomes == {"probe": "seen"} for c in changes)
    assert sorted(LedgerEntry.objects.values_list("user_id", flat=True)) == sorted(
        [users[0].pk, users[2].pk]
    )
    assert {row.user_id: row.updated_at for row in UserState.objects.all()} == before


def test_a_batch_leaves_deactivated_users_out_and_writes_recorded_steps(probe):
    ann, bob = users_with_states(2)
    type(bob).objects.filter(pk=bob.pk).update(is_active=False)

    with states_change(user_ids=[ann.pk, bob.pk], now=NOW) as changes:
        for change in changes:
            change.record(
                LedgerEntry.Kind.ADMIN_GRANT,
                "test",
                rules.apply(change.current, loyalty=3, limits=limits()),
            )

    assert [c.user_id for c in changes] == [ann.pk]
    assert not changes[0].backfill
    assert UserState.objects.get(user=ann).loyalty == 3
    assert UserState.objects.get(user=bob).loyalty == 0
    assert sorted(LedgerEntry.objects.values_list("ref", flat=True)) == ["probe", "test"]


def test_an_error_in_the_batch_rolls_every_change_back(probe):
    ann, bob = users_with_states(2)

    with (
        pytest.raises(ZeroDivisionError),
        states_change(user_ids=[ann.pk, bob.pk], now=NOW, backfill=True),
    ):
        1 / 0  # noqa: B018

    assert probe == []
    assert not LedgerEntry.objects.exists()
