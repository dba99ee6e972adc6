import datetime as dt

import pytest
import time_machine

from checkins.models import CheckIn
from engagement.invariants import ledger_replay_mismatches
from engagement.models import LedgerEntry, UserState
from users.tests.factories import UserFactory, client_for

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC)


def test_first_checkin_returns_the_whole_outcome(user):
    with time_machine.travel(NOON, tick=False):
        response = client_for(user).post("/api/v1/checkins")

    assert response.status_code == 201
    body = response.json()
    assert body["checkin"]["date"] == "2026-05-10"
    assert body["checkin"]["streak"] == 1
    assert body["state"] == {
        "level": 1,
        "energy": 70,
        "fatigue": 10,
        "loyalty": 5,
        "streak": 1,
        "longest_streak": 1,
        "total_checkins": 1,
        "streak_freezes": 0,
        "last_checkin_date": "2026-05-10",
        "lost_streak": 0,
        "streak_lost_on": None,
        "streak_status": "active",
    }
    assert body["streak"] == {"current": 1, "longest": 1, "status": "active"}
    assert body["freezes_used"] == 0
    assert body["unlocked"] == []
    assert body["meta"]["leveled_up"] is False
    assert body["meta"]["loyalty_multiplier"] == 1.0
    assert body["meta"]["loyalty_applied"] == 5
    assert body["meta"]["applied"]["energy"] == 20
    assert CheckIn.objects.filter(user=user).count() == 1
    assert list(LedgerEntry.objects.filter(user=user).values_list("kind", "ref")) == [
        ("checkin", "2026-05-10")
    ]
    assert ledger_replay_mismatches(user_id=user.pk) == []


def test_second_checkin_the_same_day_is_409_and_writes_nothing(user):
    with time_machine.travel(NOON, tick=False):
        client_for(user).post("/api/v1/checkins")
    state_before = UserState.objects.get(user=user)

    with time_machine.travel(NOON + dt.timedelta(hours=11), tick=False):
        response = client_for(user).post("/api/v1/checkins")

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "already_checked_in"
    assert problem["status"] == 409
    assert problem["request_id"] == response["X-Request-ID"]
    assert CheckIn.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(user=user).count() == 1
    state_after = UserState.objects.get(user=user)
    assert state_after.as_rules_state() == state_before.as_rules_state()


def test_checkin_needs_authentication(api_client, db):
    response = api_client.post("/api/v1/checkins")

    assert response.status_code == 401
    assert CheckIn.objects.count() == 0


def test_checkin_bootstraps_state_for_a_user_without_one(user):
    assert not UserState.objects.filter(user=user).exists()

    response = client_for(user).post("/api/v1/checkins")

    assert response.status_code == 201
    assert UserState.objects.get(user=user).total_checkins == 1


def test_history_is_paginated_newest_first_and_only_the_callers(user):
    other = UserFactory()
    for day in range(5):
        with time_machine.travel(NOON + dt.timedelta(days=day), tick=False):
            assert client_for(user).post("/api/v1/checkins").status_code == 201
            assert client_for(other).post("/api/v1/checkins").status_code == 201

    client = client_for(user)
    first_page = client.get("/api/v1/checkins", {"page_size": 2}).json()
    second_page = client.get(first_page["next"]).json()

    assert [c["date"] for c in first_page["results"]] == ["2026-05-14", "2026-05-13"]
    assert [c["date"] for c in second_page["results"]] == ["2026-05-12", "2026-05-11"]
    assert [c["streak"] for c in first_page["results"]] == [5, 4]
    own_ids = set(CheckIn.objects.filter(user=user).values_list("id", flat=True))
    assert {c["id"] for c in first_page["results"] + second_page["results"]} <= own_ids


def test_history_page_size_is_capped(auth_client):
    response = auth_client.get("/api/v1/checkins", {"page_size": 10_000})

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_history_rejects_a_garbled_cursor(auth_client):
    response = auth_client.get("/api/v1/checkins", {"cursor": "%%%not-a-cursor"})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("page_size", ["0", "-1", "abc", "null", "1.5", "٣"])
def test_history_rejects_a_malformed_page_size(auth_client, page_size):
    response = auth_client.get("/api/v1/checkins", {"page_size": page_size})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["detail"] == "The query parameters are invalid."
    assert "page_size" in response.json()["errors"]


def test_ledger_lists_own_entries_newest_first(user):
    with time_machine.travel(NOON, tick=False):
        client_for(user).post("/api/v1/checkins")
    with time_machine.travel(NOON + dt.timedelta(days=1), tick=False):
        client_for(user).post("/api/v1/checkins")
        response = client_for(user).get("/api/v1/ledger")

    assert response.status_code == 200
    entries = response.json()["results"]
    assert [(e["kind"], e["ref"]) for e in entries] == [
        ("checkin", "2026-05-11"),
        ("checkin", "2026-05-10"),
    ]
    assert entries[0]["deltas"]["streak"] == 1
    assert entries[0]["state_after"]["streak"] == 2
