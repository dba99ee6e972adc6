"""GET /checkins/calendar: the days kept, checked in or bridged by a freeze."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkins.selectors import month_calendar
from checkins.tests.factories import CheckInFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/checkins/calendar"


def day(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def test_checked_in_and_frozen_days_of_a_month(user, auth_client):
    CheckInFactory(user=user, date=day("2026-11-29"))
    CheckInFactory(user=user, date=day("2026-12-02"), freezes_used=2)  # bridges Nov 30, Dec 1
    CheckInFactory(user=user, date=day("2026-12-03"))
    CheckInFactory(user=user, date=day("2027-01-02"), freezes_used=1)  # bridges Jan 1
    CheckInFactory(user=UserFactory(), date=day("2026-12-10"))  # someone else's

    december = auth_client.get(URL, {"month": "2026-12"})
    november = auth_client.get(URL, {"month": "2026-11"})
    january = auth_client.get(URL, {"month": "2027-01"})

    assert december.status_code == 200
    assert december.json() == {
        "month": "2026-12",
        "days": [
            {"date": "2026-12-01", "status": "frozen"},
            {"date": "2026-12-02", "status": "checked_in"},
            {"date": "2026-12-03", "status": "checked_in"},
        ],
    }
    assert november.json()["days"] == [
        {"date": "2026-11-29", "status": "checked_in"},
        {"date": "2026-11-30", "status": "frozen"},
    ]
    assert january.json()["days"] == [
        {"date": "2027-01-01", "status": "frozen"},
        {"date": "2027-01-02", "status": "checked_in"},
    ]


def test_a_month_without_check_ins_is_empty(auth_client):
    response = auth_client.get(URL, {"month": "2026-02"})

    assert response.json() == {"month": "2026-02", "days": []}


def test_one_indexed_query(user, auth_client):
    CheckInFactory(user=user, date=day("2026-12-02"), freezes_used=1)

    with CaptureQueriesContext(connection) as queries:
        response = auth_client.get(URL, {"month": "2026-12"})

    assert response.status_code == 200
    # The throttle's counter lives in the database cache in tests; not the endpoint's.
    own = [q["sql"] for q in queries if "django_cache" not in q["sql"]]
    assert len(own) == 1, own


def test_the_read_is_a_range_on_the_user_date_index(user):
    from checkins.models import CheckIn

    rows = CheckIn.objects.filter(
        user_id=user.pk, date__gte=day("2026-12-01"), date__lte=day("2027-01-02")
    ).values_list("date", "freezes_used")
    if connection.vendor == "postgresql":
        # On a near-empty table the planner may prefer a scan; the question is
        # whether the index serves this read, as it does on a large one.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    plan = rows.explain()

    if connection.vendor == "postgresql":
        assert "checkins_checkin_user_date_unique" in plan or "Index" in plan, plan
    else:
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    assert month_calendar(user_id=user.pk, year=2026, month=12) == []


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-1", "2026-00", "0000-01", "0999-12", "abc", "", "2026-12-01"]
)
def test_invalid_months_are_a_400_problem(auth_client, month):
    response = auth_client.get(URL, {"month": month})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert response.json()["detail"] == "The query parameters are invalid."
    assert "month" in response.json()["errors"]


def test_the_month_is_required(auth_client):
    response = auth_client.get(URL)

    assert response.status_code == 400
    assert "month" in response.json()["errors"]


def test_it_needs_a_token(api_client):
    assert api_client.get(URL, {"month": "2026-12"}).status_code == 401
