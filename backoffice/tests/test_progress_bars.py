"""The long commands' progress bars (tqdm): on stderr and only on a terminal,
so that stdout carries the report and the one-line summary alone."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from engagement.models import UserState
from rewards.catalog import catalog_seed
from rewards.tests.factories import checkin_days, state_grant
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, stderr: StringIO) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=stderr)
    return out.getvalue()


def final_frame(err: str) -> str:
    """The bar as last drawn: tqdm redraws one line with carriage returns."""
    return err.rstrip("\n").split("\r")[-1]


def test_verify_invariants_draws_a_bar_on_a_terminal():
    for user in UserFactory.create_batch(3):
        checkin_days(user, 2)
    err = Terminal()

    out = run("verify_invariants", "--batch-size", "1", stderr=err)

    assert out == "Checked 3 users: every invariant holds.\n"
    assert final_frame(err.getvalue()).startswith("users: 100%|")
    assert " 3/3 [" in final_frame(err.getvalue())
    assert err.getvalue().count("\n") == 1  # one line redrawn, not a line per update


def test_verify_invariants_reports_violations_on_stdout_apart_from_the_bar():
    ann = UserFactory(email="ann@example.com")
    state_grant(ann, loyalty=5)
    UserState.objects.filter(user=ann).update(loyalty=1)
    out, err = StringIO(), Terminal()

    with pytest.raises(CommandError):
        call_command("verify_invariants", stdout=out, stderr=err)

    assert (
        out.getvalue() == f"ann@example.com ({ann.pk}) loyalty: ledger replays to 5, state has 1\n"
    )
    assert final_frame(err.getvalue()).startswith("users: 100%|")


def test_simulate_draws_a_bar_of_user_days_and_ends_with_its_summary():
    catalog_seed()
    err = Terminal()

    out = run("simulate", "--users", "2", "--days", "3", "--start", "2026-04-01", stderr=err)

    assert len(out.splitlines()) == 1
    assert out.startswith("Simulated 2 users x 3 days")
    assert final_frame(err.getvalue()).startswith("user-days: 100%|")
    assert " 6/6 [" in final_frame(err.getvalue())


@pytest.mark.parametrize("stderr", [StringIO, Terminal], ids=["log", "terminal"])
def test_no_bar_in_a_log_nor_with_no_progress(stderr):
    checkin_days(UserFactory(), 1)
    args = ["verify_invariants"] if stderr is StringIO else ["verify_invariants", "--no-progress"]
    err = stderr()

    out = run(*args, stderr=err)

    assert out == "Checked 1 user: every invariant holds.\n"
    assert err.getvalue() == ""
