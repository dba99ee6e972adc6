"""The ledger list: ordered by time (created_at, then id), every row reachable
past the capped count by its keyset link, and the count, the pages and the
search box's count in agreement."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from base.admin_mixins import CappedCountPaginator
from engagement.admin import LedgerEntryAdmin
from engagement.models import LedgerEntry
from engagement.tests.factories import LedgerEntryFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LEDGER = "admin:engagement_ledgerentry_changelist"
TODAY = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def small_pages(monkeypatch):
    """A cap of 5 rows and 2 rows a page: 3 pages, then the keyset link."""
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    monkeypatch.setattr(LedgerEntryAdmin, "list_per_page", 2)


def make_ledger(user=None) -> list[int]:
    """Nine entries: today's activity, then back-dated ones written later (as a
    simulation writes them: higher ids, older times), two sharing a time.
    Returns the ids in the list's order: newest time first, then highest id."""
    user = user or UserFactory()
    times = [TODAY - dt.timedelta(hours=h) for h in (0, 1, 2, 3)]
    times += [TODAY - dt.timedelta(days=d) for d in (30, 30, 29, 40, 35)]  # back-dated
    entries = [LedgerEntryFactory(user=user, created_at=t) for t in times]
    ordered = sorted(entries, key=lambda e: (e.created_at, e.id), reverse=True)
    return [e.id for e in ordered]


def page_ids(response) -> list[int]:
    return [entry.id for entry in response.context["cl"].result_list]


def test_the_ledger_is_ordered_by_time_not_by_id(staff_client):
    expected = make_ledger()

    response = staff_client.get(reverse(LEDGER))

    assert page_ids(response) == expected
    # Today's activity first; the back-dated rows (the highest ids) after it.
    today = [e.id for e in LedgerEntry.objects.filter(created_at__gte=TODAY - dt.timedelta(1))]
    assert sorted(page_ids(response)[:4]) == sorted(today)
    assert max(page_ids(response)) not in page_ids(response)[:4]


@pytest.mark.usefixtures("small_pages")
def test_every_row_is_reached_through_the_pages_and_the_keyset_link(staff_client):
    expected = make_ledger()
    url = reverse(LEDGER)

    seen = []
    first = staff_client.get(url)
    cl = first.context["cl"]
    # Count, pages and words agree: 5 counted, 3 pages, "5+".
    assert (cl.result_count, cl.paginator.num_pages, cl.paginator.capped) == (5, 3, True)
    page = first.content.decode()
    assert "5+ ledger entries" in page
    assert "6 ledger entries" not in page
    for number in (1, 2, 3):
        response = staff_client.get(url, {"p": number})
        seen += page_ids(response)
    assert seen == expected[:5]
    # The last page links past the cap: after its last row.
    next_url = response.context["cl"].next_url
    assert next_url
    assert "continue after this page" in response.content.decode()
    assert "after=" in next_url
    assert "p=" not in next_url

    rest = staff_client.get(url + next_url)
    cl = rest.context["cl"]
    assert (cl.result_count, cl.paginator.capped) == (4, False)
    for number in (1, 2):
        seen += page_ids(staff_client.get(f"{url}{next_url}&p={number}"))
    assert seen == expected  # every row once, in order
    assert "back to the start" in rest.content.decode()
    assert cl.next_url is None  # nothing past the end


@pytest.mark.usefixtures("small_pages")
def test_a_search_past_the_cap_says_so_as_the_pages_do(staff_client):
    ann = UserFactory(email="ann@example.com")
    make_ledger(ann)

    page = staff_client.get(reverse(LEDGER), {"q": "ann@example.com"}).content.decode()

    assert "5+ results" in page
    assert "5+ ledger entries" in page
    assert not re.search(r"\b6 results", page)


def test_a_keyset_page_costs_the_same_queries_and_counts_no_whole_table(staff_client):
    ids = make_ledger()
    entry = LedgerEntry.objects.get(pk=ids[3])
    after = f"{entry.created_at.isoformat()}~{entry.id}"

    with CaptureQueriesContext(connection) as captured:
        response = staff_client.get(reverse(LEDGER), {"after": after})

    assert response.status_code == 200
    assert page_ids(response) == ids[4:]
    # session, user, the capped count, the rows
    assert len(captured) == 4
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert counts
    assert all("LIMIT" in q.upper() for q in counts)


@pytest.mark.parametrize("after", ["nonsense", "2026-06-30T12:00:00+00:00", "yesterday~5"])
def test_a_malformed_position_is_refused_without_an_error(staff_client, after):
    make_ledger()

    response = staff_client.get(reverse(LEDGER), {"after": after})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize("kind", ["users", "states", "ledger", "checkins", "rewards", "inventory"])
def test_every_big_list_continues_past_its_cap(staff_client, monkeypatch, kind):
    from backoffice.tests.test_admin_queries import CHANGELISTS, make_rows

    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    make_rows(kind, 10)
    url = reverse(CHANGELISTS[kind])

    seen, next_url = [], "?"
    while next_url:
        response = staff_client.get(url + next_url)
        assert response.status_code == 200
        seen += [row.pk for row in response.context["cl"].result_list]
        next_url = response.context["cl"].next_url

    model = response.context["cl"].model
    assert sorted(map(str, seen)) == sorted(map(str, model.objects.values_list("pk", flat=True)))
    assert len(seen) == len(set(seen))
