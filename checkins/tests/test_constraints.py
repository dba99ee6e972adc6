"""Every constraint of the check-in table, proven twice: model validation
raises ValidationError and a raw write is refused by the database."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from checkins.models import CheckIn
from checkins.tests.factories import CheckInFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

D = dt.date(2025, 3, 10)
# PostgreSQL names the constraint; SQLite names the columns.
USER_DATE_UNIQUE = (
    r"checkins_checkin_user_date_unique|checkins_checkin\.user_id, checkins_checkin\.date"
)
STREAK_MIN = "checkins_checkin_streak_min"


def dates_of(user) -> list[dt.date]:
    return list(CheckIn.objects.filter(user=user).order_by("date").values_list("date", flat=True))


# --- one check-in per user and date (UniqueConstraint(user, date)) ------------------------


def test_full_clean_rejects_a_second_checkin_on_the_same_date():
    first = CheckInFactory(date=D)

    with pytest.raises(ValidationError) as exc:
        CheckIn(user=first.user, date=D, streak=2).full_clean()

    assert exc.value.message_dict == {"__all__": ["Already checked in on this date."]}
    assert [e.code for e in exc.value.error_dict["__all__"]] == ["already_checked_in"]


def test_database_refuses_a_second_checkin_on_the_same_date():
    first = CheckInFactory(date=D, streak=1)

    with transaction.atomic(), pytest.raises(IntegrityError, match=USER_DATE_UNIQUE):
        CheckIn.objects.create(user=first.user, date=D, streak=2)

    assert list(CheckIn.objects.filter(user=first.user).values_list("date", "streak")) == [(D, 1)]


def test_database_refuses_moving_a_checkin_onto_a_used_date():
    user = UserFactory()
    CheckInFactory(user=user, date=D)
    later = CheckInFactory(user=user, date=D + dt.timedelta(days=1), streak=2)

    with transaction.atomic(), pytest.raises(IntegrityError, match=USER_DATE_UNIQUE):
        CheckIn.objects.filter(pk=later.pk).update(date=D)

    assert dates_of(user) == [D, D + dt.timedelta(days=1)]


def test_different_users_may_check_in_on_the_same_date():
    first = CheckInFactory(date=D)
    other = CheckIn(user=UserFactory(), date=D, streak=1)

    other.full_clean()
    other.save()

    assert CheckIn.objects.filter(date=D).count() == 2
    assert dates_of(first.user) == [D]


def test_one_user_may_check_in_on_different_dates():
    first = CheckInFactory(date=D)
    second = CheckIn(user=first.user, date=D + dt.timedelta(days=1), streak=2)

    second.full_clean()
    second.save()

    assert dates_of(first.user) == [D, D + dt.timedelta(days=1)]


# --- streak >= 1 (CHECK) -------------------------------------------------------------------


def test_full_clean_rejects_a_zero_streak():
    checkin = CheckIn(user=UserFactory(), date=D, streak=0)

    with pytest.raises(ValidationError) as exc:
        checkin.full_clean()

    assert exc.value.message_dict == {"__all__": [f"Constraint “{STREAK_MIN}” is violated."]}


def test_database_refuses_a_zero_streak():
    user = UserFactory()

    with transaction.atomic(), pytest.raises(IntegrityError, match=STREAK_MIN):
        CheckIn.objects.create(user=user, date=D, streak=0)

    assert dates_of(user) == []


def test_database_refuses_an_update_to_a_zero_streak():
    checkin = CheckInFactory(date=D, streak=3)

    with transaction.atomic(), pytest.raises(IntegrityError, match=STREAK_MIN):
        CheckIn.objects.filter(pk=checkin.pk).update(streak=0)

    checkin.refresh_from_db()
    assert checkin.streak == 3


def test_a_streak_of_one_is_accepted():
    checkin = CheckIn(user=UserFactory(), date=D, streak=1)

    checkin.full_clean()
    checkin.save()

    assert CheckIn.objects.get(pk=checkin.pk).streak == 1


# --- freezes_used >= 0 (the positive field's CHECK) ----------------------------------------


def test_full_clean_rejects_negative_freezes_used():
    checkin = CheckIn(user=UserFactory(), date=D, streak=1, freezes_used=-1)

    with pytest.raises(ValidationError) as exc:
        checkin.full_clean()

    assert exc.value.message_dict == {
        "freezes_used": ["Ensure this value is greater than or equal to 0."]
    }


def test_database_refuses_negative_freezes_used():
    user = UserFactory()

    with transaction.atomic(), pytest.raises(IntegrityError, match="freezes_used"):
        CheckIn.objects.create(user=user, date=D, streak=1, freezes_used=-1)

    assert dates_of(user) == []
