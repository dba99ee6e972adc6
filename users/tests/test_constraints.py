"""Every constraint and validator of the user table: model validation raises
ValidationError, and the database refuses the raw write."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CI_UNIQUE = "users_user_email_ci_unique"


def emails_like(address: str) -> list[str]:
    return sorted(User.objects.filter(email__iexact=address).values_list("email", flat=True))


# --- e-mail unique regardless of case (UniqueConstraint on Lower(email)) --------------


def test_database_refuses_an_email_differing_only_in_case():
    # given: stored lower-cased, as normalization would
    User.objects.create(email="a@x.com")

    # when / then: a raw insert that skips normalization still hits Lower(email)
    with transaction.atomic(), pytest.raises(IntegrityError, match=CI_UNIQUE):
        User.objects.create(email="A@X.com")

    assert emails_like("a@x.com") == ["a@x.com"]


def test_database_refuses_an_update_to_an_email_differing_only_in_case():
    User.objects.create(email="a@x.com")
    other = User.objects.create(email="b@x.com")

    with transaction.atomic(), pytest.raises(IntegrityError, match=CI_UNIQUE):
        User.objects.filter(pk=other.pk).update(email="A@x.COM")

    other.refresh_from_db()
    assert other.email == "b@x.com"


def test_validate_constraints_rejects_an_email_differing_only_in_case():
    User.objects.create(email="a@x.com")
    # validate_constraints skips clean(), so the address stays upper-case here
    user = UserFactory.build(email="A@X.com")

    with pytest.raises(ValidationError) as exc:
        user.validate_constraints()

    assert exc.value.message_dict == {
        "__all__": ["A user with this e-mail address already exists."]
    }
    assert [e.code for e in exc.value.error_dict["__all__"]] == ["email_taken"]


def test_full_clean_normalizes_the_email_then_rejects_the_duplicate():
    User.objects.create(email="a@x.com")
    user = UserFactory.build(email="A@X.com")

    with pytest.raises(ValidationError) as exc:
        user.full_clean()

    assert user.email == "a@x.com"
    assert exc.value.message_dict == {"email": ["User with this Email already exists."]}
    assert [e.code for e in exc.value.error_dict["email"]] == ["unique"]


# --- e-mail unique as stored (unique=True) ------------------------------------------------


def test_database_refuses_the_same_email_twice():
    User.objects.create(email="a@x.com")

    with transaction.atomic(), pytest.raises(IntegrityError, match=r"users_user[._]email"):
        User.objects.create(email="a@x.com")

    assert emails_like("a@x.com") == ["a@x.com"]


def test_full_clean_rejects_the_same_email_twice():
    User.objects.create(email="a@x.com")

    with pytest.raises(ValidationError) as exc:
        UserFactory.build(email="a@x.com").full_clean()

    assert [e.code for e in exc.value.error_dict["email"]] == ["unique"]


def test_different_emails_are_accepted():
    User.objects.create(email="a@x.com")
    user = UserFactory.build(email="B@x.com")

    user.full_clean()
    user.save()

    assert sorted(User.objects.values_list("email", flat=True)) == ["a@x.com", "b@x.com"]


# --- time zone validator ------------------------------------------------------------------


def test_full_clean_rejects_an_unknown_time_zone():
    user = UserFactory.build(timezone="Mars/Olympus")

    with pytest.raises(ValidationError) as exc:
        user.full_clean()

    assert exc.value.message_dict == {
        "timezone": ["Mars/Olympus is not a known IANA time zone name."]
    }
    assert [e.code for e in exc.value.error_dict["timezone"]] == ["invalid_timezone"]


@pytest.mark.parametrize("name", ["UTC", "Europe/Warsaw", "America/Los_Angeles", "Asia/Kolkata"])
def test_full_clean_accepts_an_iana_time_zone(name):
    user = UserFactory.build(timezone=name)

    user.full_clean()

    assert user.timezone == name


def test_time_zone_defaults_to_utc():
    assert User.objects.create(email="a@x.com").timezone == "UTC"
