"""``verify_invariants --reconcile``: the repair path for a ledger that no
longer replays to its state (``backoffice.reconcile``)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from engagement.invariants import ledger_replay_mismatches
from engagement.models import LedgerEntry, UserState
from events.models import Event
from rewards.tests.factories import checkin_days, state_grant
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REASON = "Ticket 42: loyalty restored by hand in SQL"


def verify(*args: str) -> tuple[int, str, str]:
    """Exit status, stdout and the CommandError's message (or "")."""
    out = StringIO()
    try:
        call_command("verify_invariants", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), ""


def snapshot(user) -> dict:
    return dict(UserState.objects.filter(user=user).values().get())


def test_a_corrupted_row_is_reported_then_reconciled_once():
    ann, bob = UserFactory(email="ann@example.com"), UserFactory(email="bob@example.com")
    checkin_days(ann, 3)
    checkin_days(bob, 3)
    # Behind the services' back: the state row moves, the ledger does not.
    UserState.objects.filter(user=bob).update(loyalty=999, energy=7, level=4)
    corrupted = snapshot(bob)
    entries, events = LedgerEntry.objects.count(), Event.objects.count()

    status, report, message = verify()
    assert status == 1
    assert message == "Checked 2 users: 3 invariant violations in 1 user."
    assert f"bob@example.com ({bob.pk}) loyalty: ledger replays to 15, state has 999" in report

    status, out, message = verify("--reconcile", "--reason", REASON)

    assert (status, message) == (0, "")
    assert out.splitlines()[-2:] == [
        f"Reconciled bob@example.com ({bob.pk}): level +2, energy +7, loyalty +984.",
        "Reconciled 1 user.",
    ]
    entry = LedgerEntry.objects.filter(user=bob).latest("id")
    assert (entry.kind, entry.ref) == ("admin_adjust", "reconcile")
    assert (entry.level, entry.energy, entry.loyalty, entry.fatigue, entry.streak) == (
        2,
        7,
        984,
        0,
        0,
    )
    assert entry.reason.startswith(f"{REASON} (verify_invariants --reconcile by ")
    assert entry.state_after["loyalty"] == 999
    assert snapshot(bob) | {"updated_at": None} == corrupted | {"updated_at": None}
    assert LedgerEntry.objects.count() == entries + 1  # ann's ledger untouched
    assert Event.objects.count() == events  # a correction is no level-up
    assert ledger_replay_mismatches(user_id=bob.pk) == []
    assert verify() == (0, "Checked 2 users: every invariant holds.\n", "")

    # Again: nothing to reconcile, nothing written.
    assert verify("--reconcile", "--reason", REASON) == (
        0,
        "Checked 2 users: every invariant holds.\n",
        "",
    )
    assert LedgerEntry.objects.count() == entries + 1


def test_a_lost_ledger_row_is_reconciled_too():
    ann = UserFactory(email="ann@example.com")
    checkin_days(ann, 2)
    state_grant(ann, loyalty=20)
    LedgerEntry.objects.filter(user=ann, kind="admin_grant").delete()

    status, out, _ = verify("--reconcile", "--reason", REASON)

    assert status == 0
    assert f"Reconciled ann@example.com ({ann.pk}): loyalty +20." in out
    assert verify()[0] == 0


def test_a_deactivated_account_is_reconciled():
    ann = UserFactory(email="ann@example.com")
    checkin_days(ann, 1)
    UserState.objects.filter(user=ann).update(fatigue=55)
    type(ann).objects.filter(pk=ann.pk).update(is_active=False)

    status, out, _ = verify("--reconcile", "--reason", REASON)

    assert status == 0
    assert "fatigue +45." in out
    assert verify()[0] == 0


def test_a_state_that_contradicts_its_checkins_is_not_reconciled():
    ann, bob = UserFactory(email="ann@example.com"), UserFactory(email="bob@example.com")
    checkin_days(ann, 3)
    checkin_days(bob, 3)
    UserState.objects.filter(user=ann).update(total_checkins=9)  # the row is wrong
    UserState.objects.filter(user=bob).update(energy=1)  # only the ledger disagrees
    entries = LedgerEntry.objects.count()

    status, out, message = verify("--reconcile", "--reason", REASON)

    assert status == 1
    assert f"Not reconciled: ann@example.com ({ann.pk}): the state disagrees with" in out
    assert f"Reconciled bob@example.com ({bob.pk}): energy +1." in out
    assert message == (
        "Reconciled 1 user. 1 user still with violations that --reconcile does not repair "
        "(see above)."
    )
    assert LedgerEntry.objects.count() == entries + 1
    assert not LedgerEntry.objects.filter(user=ann, ref="reconcile").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reconcile"], "--reconcile needs a --reason"),
        (["--reconcile", "--reason", "  "], "--reconcile needs a --reason"),
        (["--reason", "why"], "--reason goes with --reconcile."),
        (["--reconcile", "--reason", "x" * 501], "longer than 500 characters"),
    ],
)
def test_reconcile_needs_a_reason(args, message):
    ann = UserFactory()
    checkin_days(ann, 1)
    UserState.objects.filter(user=ann).update(energy=1)

    with pytest.raises(CommandError, match=message):
        call_command("verify_invariants", *args, stdout=StringIO(), stderr=StringIO())

    assert not LedgerEntry.objects.filter(ref="reconcile").exists()
