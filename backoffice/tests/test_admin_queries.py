"""Admin pages cost the same number of queries whatever the number of rows, and
the big tables are never counted in full."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checkins.tests.factories import CheckInFactory
from engagement.tests.factories import LedgerEntryFactory, UserStateFactory
from rewards.tests.factories import (
    InventoryItemFactory,
    RewardFactory,
    ToolFactory,
    UserRewardFactory,
)
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SIZES = (0, 10, 100)


def make_rows(kind: str, count: int) -> None:
    """``count`` rows of one table, spread over users (with the related rows the
    changelist displays), built in bulk."""
    users = UserFactory.create_batch(max(1, count // 10)) if count else []
    tools = ToolFactory.create_batch(3) if count else []
    rewards = RewardFactory.create_batch(3) if count else []
    for i in range(count):
        user = users[i % len(users)]
        if kind == "users":
            # Most with a state (its columns are on the list), some without.
            UserStateFactory(loyalty=i, streak=i % 7, longest_streak=7) if i % 5 else UserFactory()
        elif kind == "states":
            UserStateFactory()
        elif kind == "ledger":
            LedgerEntryFactory(user=user)
        elif kind == "checkins":
            CheckInFactory(user=user, date=dt.date(2025, 1, 1) + dt.timedelta(days=i))
        elif kind == "rewards":
            UserRewardFactory(user=UserFactory(), reward=rewards[i % 3])
        elif kind == "inventory":
            InventoryItemFactory(user=UserFactory(), tool=tools[i % 3])
        elif kind == "reward_catalog":
            RewardFactory()
        elif kind == "tool_catalog":
            ToolFactory()


CHANGELISTS = {
    "users": "admin:users_user_changelist",
    "states": "admin:engagement_userstate_changelist",
    "ledger": "admin:engagement_ledgerentry_changelist",
    "checkins": "admin:checkins_checkin_changelist",
    "rewards": "admin:rewards_userreward_changelist",
    "inventory": "admin:rewards_inventoryitem_changelist",
    "reward_catalog": "admin:rewards_reward_changelist",
    "tool_catalog": "admin:rewards_tool_changelist",
}


def changelist_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("kind", CHANGELISTS)
def test_changelist_queries_do_not_grow_with_the_rows(kind, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse(CHANGELISTS[kind])
    counts, rows = {}, 0
    for size in SIZES:
        make_rows(kind, size - rows)
        rows = size
        queries = changelist_queries(client, url)
        counts[size] = len(queries)

    assert counts == dict.fromkeys(SIZES, EXPECTED_QUERIES[kind]), queries


# session, user, (capped) count, rows; + the list filter's choices where it has one;
# the small catalogs also count their whole table ("N total").
EXPECTED_QUERIES = {
    "users": 4,
    "states": 4,
    "ledger": 4,
    "checkins": 4,
    "rewards": 5,
    "inventory": 5,
    "reward_catalog": 5,
    "tool_catalog": 5,
}

COUNT_OF_WHOLE_TABLE = re.compile(r"SELECT COUNT\(\*\)(?!.*LIMIT)", re.IGNORECASE | re.DOTALL)


@pytest.mark.parametrize("kind", ["ledger", "checkins", "states", "users", "rewards", "inventory"])
def test_big_changelists_never_count_the_whole_table(kind, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    make_rows(kind, 10)

    for query in ("", "?q=user1%40example.com", "?p=1"):
        queries = changelist_queries(client, reverse(CHANGELISTS[kind]) + query)
        counts = [q for q in queries if "COUNT(" in q.upper()]
        assert counts, "the changelist counts its rows with a capped count"
        assert not [q for q in counts if COUNT_OF_WHOLE_TABLE.search(q)], counts


def test_the_user_list_shows_state_columns_from_its_one_query(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True, email="staff@example.com"))
    UserStateFactory(
        user=UserFactory(email="ann@example.com"),
        level=3,
        streak=12,
        longest_streak=12,
        loyalty=345,
        last_checkin_date=dt.date(2026, 5, 4),
    )

    queries = changelist_queries(client, reverse(CHANGELISTS["users"]) + "?q=ann")
    page = client.get(reverse(CHANGELISTS["users"]) + "?q=ann").content.decode()

    row = page.split('<th class="field-email">')[1].split("</tr>")[0]
    for column, value in (
        ("level", "3"),
        ("streak", "12"),
        ("loyalty", "345"),
        ("last_checkin", "2026-05-04"),
    ):
        assert f'<td class="field-{column}">{value}</td>' in row
    rows = [q for q in queries if "engagement_userstate" in q]
    assert len(rows) == 1
    assert "LEFT OUTER JOIN" in rows[0]
