"""Staff's "Restore streak": the admin action on users and ``manage.py
restore_streak``, both through ``rewards.services.streak_restore`` with a
required reason, once per loss."""

import datetime as dt
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError

from backoffice.tests.test_user_admin import run_action
from checkins.services import checkin_create
from engagement.models import LedgerEntry
from events.models import Event
from rewards.tests.factories import T0, checkin_days, state_of
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True, email="staff@example.com"))
    return client


def lose_streak(user, length: int = 3) -> str:
    """``length`` days from T0, a missed day, a reset check-in; returns the
    local date the streak was lost on."""
    checkin_days(user, length)
    checkin_create(user_id=user.pk, now=T0 + dt.timedelta(days=length + 1))
    return (T0 + dt.timedelta(days=length)).date().isoformat()


def restores(user) -> list[tuple[str, int, str]]:
    return list(
        LedgerEntry.objects.filter(user_id=user.pk, kind="streak_restore").values_list(
            "ref", "streak", "reason"
        )
    )


# --- The admin action ------------------------------------------------------------------
def test_restore_asks_for_a_reason_first(staff_client, user):
    lose_streak(user)

    response = run_action(staff_client, "restore_streak", [user])

    assert response.status_code == 200
    page = response.content.decode()
    assert user.email in page
    assert 'name="grant-reason"' in page
    assert restores(user) == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_restore_without_a_reason_is_refused(staff_client, user, reason):
    lose_streak(user)

    response = run_action(staff_client, "restore_streak", [user], {"reason": reason})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert restores(user) == []
    assert state_of(user).streak == 1


def test_restore_goes_through_the_service_and_reports_who_had_nothing(staff_client):
    ann, bob = UserFactory(email="ann@example.com"), UserFactory(email="bob@example.com")
    lost_on = lose_streak(ann)
    checkin_days(bob, 2)

    response = run_action(
        staff_client, "restore_streak", [ann, bob], {"reason": "Outage, ticket 42"}
    )

    assert response.status_code == 302
    assert (state_of(ann).streak, state_of(ann).longest_streak) == (4, 4)
    assert restores(ann) == [(lost_on, 3, "Outage, ticket 42")]
    assert Event.objects.filter(user_id=ann.pk, type="streak.restored").count() == 1
    assert restores(bob) == []
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages[0] == (
        "Restore streak — done for 1: ann@example.com (streak +3, longest_streak +1)."
    )
    assert messages[1].startswith(
        "Restore streak — refused, nothing changed for 1: bob@example.com"
    )
    log = LogEntry.objects.get(object_id=str(ann.pk))
    assert log.change_message == (
        "Restore streak: streak +3, longest_streak +1. Reason: Outage, ticket 42"
    )


def test_the_action_restores_a_loss_once(staff_client, user):
    lose_streak(user)
    run_action(staff_client, "restore_streak", [user], {"reason": "r"})

    response = run_action(staff_client, "restore_streak", [user], {"reason": "r"})

    messages = [str(m) for m in response.wsgi_request._messages]
    assert "refused, nothing changed" in messages[-1]
    assert len(restores(user)) == 1
    assert state_of(user).streak == 4


# --- manage.py restore_streak ----------------------------------------------------------
def restore(*args: str) -> str:
    out = StringIO()
    call_command("restore_streak", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_the_command_restores_by_email_with_the_reason():
    ann = UserFactory(email="ann@example.com")
    lost_on = lose_streak(ann, length=4)

    output = restore("Ann@Example.com", "--reason", "Support ticket 7")

    assert output == ("ann@example.com: streak +4, longest_streak +1. Now streak 5, longest 5.")
    assert restores(ann) == [(lost_on, 4, "Support ticket 7")]


def test_the_command_refuses_a_second_restore_and_writes_nothing():
    ann = UserFactory(email="ann@example.com")
    lose_streak(ann)
    restore("ann@example.com", "--reason", "r")

    with pytest.raises(CommandError) as refused:
        restore("ann@example.com", "--reason", "r")

    assert str(refused.value).startswith("Refused (nothing_to_repair):")
    assert str(refused.value).endswith("Nothing was changed.")
    assert len(restores(ann)) == 1


def test_the_command_needs_a_reason_and_a_known_user():
    ann = UserFactory(email="ann@example.com")
    lose_streak(ann)

    with pytest.raises(CommandError, match="reason_required"):
        restore("ann@example.com", "--reason", "  ")
    with pytest.raises(CommandError, match="No user with the e-mail address"):
        restore("nobody@example.com", "--reason", "r")
    with pytest.raises(CommandError, match="--reason"):
        restore("ann@example.com")
    assert restores(ann) == []
