"""``manage.py grant``: the grant services from the shell, by e-mail, with a reason."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from engagement.models import LedgerEntry
from rewards.models import InventoryItem
from rewards.tests.factories import ToolFactory, state_of
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def grant(*args: str) -> str:
    out = StringIO()
    call_command("grant", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


@pytest.fixture
def ann():
    return UserFactory(email="ann@example.com")


def test_grant_loyalty_by_email_with_a_reason(ann):
    output = grant("Ann@Example.com", "--loyalty", "50", "--reason", "Support ticket 123")

    assert output == (
        "ann@example.com: loyalty +50. Now level 1, energy 50, fatigue 0, loyalty 50, "
        "streak_freezes 0."
    )
    entry = LedgerEntry.objects.get(user=ann)
    assert (entry.kind, entry.ref, entry.loyalty, entry.reason) == (
        "admin_grant",
        "loyalty",
        50,
        "Support ticket 123",
    )


def test_grant_freezes_a_tool_and_an_adjustment(ann):
    ToolFactory(id="coffee")

    grant("ann@example.com", "--streak-freezes", "1", "--reason", "r1")
    tool_output = grant("ann@example.com", "--tool", "coffee", "--quantity", "3", "--reason", "r2")
    adjust_output = grant(
        "ann@example.com", "--adjust", "energy=-20", "loyalty=7", "--reason", "r3"
    )

    assert "coffee now x3" in tool_output
    assert adjust_output.startswith("ann@example.com: energy -20, loyalty +7.")
    state = state_of(ann)
    assert (state.streak_freezes, state.energy, state.loyalty) == (1, 30, 7)
    assert InventoryItem.objects.get(user=ann).quantity == 3
    assert list(LedgerEntry.objects.order_by("id").values_list("kind", "reason")) == [
        ("admin_grant", "r1"),
        ("admin_grant", "r2"),
        ("admin_adjust", "r3"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.com", "--loyalty", "5", "--reason", "r"], "No user"),
        (["ann@example.com", "--loyalty", "5", "--reason", "  "], "reason_required"),
        (["ann@example.com", "--loyalty", "0", "--reason", "r"], "invalid_staff_change"),
        (["ann@example.com", "--tool", "nope", "--reason", "r"], "tool_not_found"),
        (["ann@example.com", "--adjust", "loyalty=-5", "--reason", "r"], "nothing_to_apply"),
    ],
)
def test_refusals_exit_with_an_error_and_change_nothing(ann, args, message):
    with pytest.raises(CommandError, match=message):
        grant(*args)

    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["ann@example.com", "--loyalty", "5"],  # no reason
        ["ann@example.com", "--reason", "r"],  # nothing to grant
        ["ann@example.com", "--loyalty", "5", "--streak-freezes", "1", "--reason", "r"],  # two
        ["ann@example.com", "--adjust", "energy=1", "energy=2", "--reason", "r"],  # twice
        ["ann@example.com", "--adjust", "energy=x", "--reason", "r"],  # no integer
        ["ann@example.com", "--adjust", "level=1", "--reason", "r"],  # not adjustable
    ],
)
def test_bad_arguments_are_refused(ann, args):
    with pytest.raises(CommandError):
        grant(*args)

    assert not LedgerEntry.objects.exists()


def test_a_wrong_adjust_field_is_refused_with_the_valid_ones(ann):
    with pytest.raises(CommandError) as refused:
        grant("ann@example.com", "--adjust", "level=1", "--reason", "r")

    assert "'level' cannot be adjusted; valid fields: energy, fatigue, loyalty, " in str(
        refused.value
    )
    assert "streak_freezes" in str(refused.value)
    assert not LedgerEntry.objects.exists()


def test_streak_freezes_is_the_field_name_of_an_adjustment(ann):
    output = grant("ann@example.com", "--adjust", "streak_freezes=2", "--reason", "r")

    assert output.startswith("ann@example.com: streak_freezes +2.")
    assert output.endswith("streak_freezes 2.")
    assert state_of(ann).streak_freezes == 2


@pytest.mark.parametrize(
    ("args", "warning"),
    [
        (["--freezes", "1"], "--freezes is deprecated and will be removed; use --streak-freezes."),
        (
            ["--adjust", "freezes=1"],
            "freezes= is deprecated and will be removed; use streak_freezes=.",
        ),
    ],
)
def test_the_old_freezes_spelling_still_works_with_a_warning(ann, args, warning):
    out, err = StringIO(), StringIO()
    call_command("grant", "ann@example.com", *args, "--reason", "r", stdout=out, stderr=err)

    assert err.getvalue().strip() == warning
    assert "streak_freezes +1" in out.getvalue()
    assert state_of(ann).streak_freezes == 1
