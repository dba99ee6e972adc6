"""The staff dashboard: exact numbers from four aggregate queries, rendered as
SVG charts beside their tables, for staff only."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.dashboard import DayCount, dashboard_data
from checkins.tests.factories import CheckInFactory
from engagement.models import LedgerEntry
from engagement.tests.factories import LedgerEntryFactory, UserStateFactory
from rewards.tests.factories import RewardFactory, UserRewardFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 30)
DAY = dt.timedelta(days=1)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def ledger(user, kind: str, day: dt.date) -> None:
    entry = LedgerEntryFactory(user=user, kind=kind)
    LedgerEntry.objects.filter(pk=entry.pk).update(created_at=at(day))


def build_history() -> None:
    ann, bob, cid = UserFactory.create_batch(3)
    for user, days in ((ann, 3), (bob, 1)):
        for back in range(days):
            CheckInFactory(user=user, date=TODAY - back * DAY)
    CheckInFactory(user=cid, date=TODAY - 40 * DAY)  # outside the window
    ledger(ann, "checkin", TODAY)
    ledger(ann, "tool_buy", TODAY)  # the same user: still one active user
    ledger(bob, "checkin", TODAY)
    ledger(cid, "tool_use", TODAY - DAY)  # active without checking in
    ledger(cid, "admin_grant", TODAY - 2 * DAY)  # staff grants are not activity
    ledger(cid, "checkin", TODAY - 30 * DAY)  # outside the window
    # Streaks: live ones by length, a broken one, one bridged by a freeze.
    UserStateFactory(streak=5, longest_streak=5, last_checkin_date=TODAY)
    UserStateFactory(streak=1, longest_streak=1, last_checkin_date=TODAY - DAY)
    UserStateFactory(streak=40, longest_streak=40, last_checkin_date=TODAY - 2 * DAY)
    UserStateFactory(
        streak=12, longest_streak=12, streak_freezes=1, last_checkin_date=TODAY - 2 * DAY
    )
    UserStateFactory()  # never checked in
    # Funnel: unlocked in the window (some claimed), and an old unlock.
    streak_3 = RewardFactory(id="streak_3", title="Three days in a row")
    RewardFactory(id="level_5", rule="level", threshold=5)
    RewardFactory(id="retired", active=False)
    UserRewardFactory(reward=streak_3, unlocked_at=at(TODAY), claimed_at=at(TODAY))
    UserRewardFactory(reward=streak_3, unlocked_at=at(TODAY - 3 * DAY))
    UserRewardFactory(reward=streak_3, unlocked_at=at(TODAY - 45 * DAY), claimed_at=at(TODAY))


def test_dashboard_numbers(django_assert_num_queries):
    build_history()

    with django_assert_num_queries(4):
        data = dashboard_data(today=TODAY)

    assert (data.start, data.end) == (TODAY - 29 * DAY, TODAY)
    assert len(data.checkins_per_day) == 30
    assert data.checkins_per_day[-3:] == [
        DayCount(TODAY - 2 * DAY, 1),
        DayCount(TODAY - DAY, 1),
        DayCount(TODAY, 2),
    ]
    assert data.checkins_total == 4
    assert data.active_users_per_day[-3:] == [
        DayCount(TODAY - 2 * DAY, 0),
        DayCount(TODAY - DAY, 1),
        DayCount(TODAY, 2),
    ]
    assert data.active_users_per_day[0] == DayCount(TODAY - 29 * DAY, 0)
    assert (data.users, data.live_streaks, data.without_live_streak) == (5, 3, 2)
    assert data.streak_buckets == [
        ("1", 1),
        ("2-3", 0),
        ("4-6", 1),
        ("7-13", 1),
        ("14-29", 0),
        ("30+", 0),
    ]
    assert [(r.reward_id, r.unlocked, r.claimed, r.claim_rate) for r in data.funnel] == [
        ("level_5", 0, 0, 0),
        ("streak_3", 2, 1, 50),
    ]


def test_dashboard_of_an_empty_database():
    data = dashboard_data(today=TODAY)

    assert data.checkins_total == 0
    assert data.active_users_average == 0
    assert (data.users, data.live_streaks, data.funnel) == (0, 0, [])


@pytest.fixture
def on_today():
    with time_machine.travel(at(TODAY, 15), tick=False):
        yield


@pytest.mark.usefixtures("on_today")
def test_the_dashboard_page_shows_charts_and_numbers(client):
    client.force_login(UserFactory(is_staff=True))
    build_history()

    response = client.get(reverse("admin:engagement_dashboard"))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<svg class="chart"') == 4
    for chart in ("chart-checkins", "chart-active-users", "chart-streaks", "chart-funnel"):
        assert f'id="{chart}"' in page
    assert "Jun 01 - Jun 30, 2026" in page
    assert "<title>Jun 30: 2</title>" in page  # a bar of the check-ins chart
    # The funnel names rewards by their titles (the id stays beside it in the table).
    assert "<title>Three days in a row: 2 unlocked</title>" in page
    assert "Three days in a row <span" in page
    # The streak chart has a bar for the users without a live streak.
    streaks = page.split('id="chart-streaks"')[1].split("</svg>")[0]
    assert "<title>none: 2</title>" in streaks  # the broken streak and the never-started one
    assert '<td class="num">50%</td>' in page
    assert "cdn" not in page.lower()
    assert "<script" not in page.split('id="content-main"')[1]


def test_the_dashboard_page_costs_the_same_queries_whatever_the_data(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:engagement_dashboard")
    with CaptureQueriesContext(connection) as empty:
        client.get(url)
    build_history()
    with CaptureQueriesContext(connection) as full:
        client.get(url)

    # session and user, the four aggregates, then the webhook queue's three
    assert len(empty) == len(full) == 2 + 4 + 3


def test_the_dashboard_is_for_staff_only(client):
    url = reverse("admin:engagement_dashboard")
    assert client.get(url).status_code == 302  # to the login page

    client.force_login(UserFactory(is_staff=False))
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_admin_index_and_sidebar_link_the_dashboard_once(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    dashboard = reverse("admin:engagement_dashboard")

    index = client.get(reverse("admin:index")).content.decode()
    # One section for it, first; no second "Engagement" section beside the app's own.
    assert index.count('class="app-overview module') == 1
    assert index.count('id="overview-dashboard"') == 1
    assert f'<a href="{dashboard}"' in index
    assert index.index("app-overview") < index.index("app-engagement")
    assert index.count(">Engagement</a>") == 1

    # Any other admin page has it once in the navigation sidebar.
    changelist = client.get(reverse("admin:rewards_reward_changelist")).content.decode()
    sidebar = changelist.split('id="nav-sidebar"')[1].split("</nav>")[0]
    assert sidebar.count('id="overview-dashboard"') == 1
    assert f'href="{dashboard}"' in sidebar
