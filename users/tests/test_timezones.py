"""Time zone names and rules come from the pinned tzdata, never the host."""

import datetime as dt
from importlib import import_module

import pytest
from django.apps import apps

from users.models import User
from users.tests.factories import UserFactory, client_for
from users.timezones import TIMEZONE_NAMES, local_date, zone

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules", "Mars/Base", "utc"])
def test_names_that_are_not_places_are_refused(name):
    user = UserFactory()

    response = client_for(user).patch("/api/v1/me", {"timezone": name}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "timezone" in response.json()["errors"]
    user.refresh_from_db()
    assert user.timezone == "UTC"
    assert user.timezone_changed_at is None


@pytest.mark.parametrize("name", ["localtime", "Factory"])
def test_registration_refuses_them_too(api_client, name):
    response = api_client.post(
        "/api/v1/auth/register",
        {"email": "tz@example.com", "password": "a-Strong-passw0rd!", "timezone": name},
        format="json",
    )

    assert response.status_code == 400
    assert not User.objects.filter(email="tz@example.com").exists()


@pytest.mark.parametrize("name", ["UTC", "Europe/Warsaw", "Pacific/Kiritimati", "Asia/Calcutta"])
def test_zones_and_their_older_spellings_are_accepted(name):
    response = client_for(UserFactory()).patch("/api/v1/me", {"timezone": name}, format="json")

    assert response.status_code == 200
    assert response.json()["user"]["timezone"] == name


def test_the_list_is_tzdatas_own():
    assert "localtime" not in TIMEZONE_NAMES
    assert "Factory" not in TIMEZONE_NAMES
    assert list(TIMEZONE_NAMES) == sorted(set(TIMEZONE_NAMES))
    assert {"UTC", "Etc/UTC", "America/New_York", "US/Eastern"} <= set(TIMEZONE_NAMES)


def test_the_schema_enum_is_the_same_list(api_client):
    schema = api_client.get("/api/schema/?format=json").json()

    assert schema["components"]["schemas"]["TimezoneEnum"]["enum"] == list(TIMEZONE_NAMES)


def test_every_listed_name_loads_from_the_package():
    moment = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    for name in TIMEZONE_NAMES:
        local_date(moment, name)
    assert local_date(moment, "Pacific/Kiritimati") == dt.date(2026, 12, 2)
    assert local_date(moment, "Pacific/Pago_Pago") == dt.date(2026, 12, 1)
    assert zone("Europe/Warsaw").key == "Europe/Warsaw"


def test_the_migration_moves_unknown_stored_zones_to_utc():
    kept = UserFactory(timezone="Europe/Warsaw")
    stale = UserFactory()
    User.objects.filter(pk=stale.pk).update(timezone="localtime")  # accepted before
    migration = import_module("users.migrations.0002_timezones_from_tzdata")

    migration.move_unknown_zones_to_utc(apps, schema_editor=None)

    assert User.objects.get(pk=stale.pk).timezone == "UTC"
    assert User.objects.get(pk=kept.pk).timezone == "Europe/Warsaw"
