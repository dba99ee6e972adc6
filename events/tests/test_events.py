"""Each operation writes exactly its events, in its own transaction; the feed
shows the caller's events, newest first, a page per statement."""

import datetime as dt
import io
import itertools

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkins.errors import AlreadyCheckedIn
from checkins.services import checkin_create
from engagement import services as envelope
from events.models import Event
from rewards.errors import InsufficientLoyalty
from rewards.services import reward_claim, streak_restore, tool_buy, tool_use
from rewards.tests.factories import (
    T0,
    InventoryItemFactory,
    RewardFactory,
    ToolFactory,
    checkin_days,
    state_grant,
    state_of,
)
from users.tests.factories import UserFactory, client_for

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def events_of(user, since=None) -> list[tuple[str, dict]]:
    """The user's events in the order they were written (oldest first)."""
    rows = Event.objects.filter(user_id=user.pk).order_by("created_at", "id")
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return [(e.type, {k: v for k, v in e.data.items() if k != "user_id"}) for e in rows]


def test_the_events_step_runs_after_the_unlock_step():
    steps = list(envelope._after_change_steps)
    assert steps.index("rewards.unlock") < steps.index("events.record")


def test_a_first_checkin_writes_checkin_created_only(user):
    checkin_create(user_id=user.pk, now=T0)

    assert events_of(user) == [("checkin.created", {"date": "2026-03-02", "streak": 1})]
    event = Event.objects.get(user_id=user.pk)
    assert event.data["user_id"] == str(user.pk)
    assert event.created_at == T0


def test_a_consecutive_checkin_extends_the_streak(user):
    checkin_days(user, 2)

    assert events_of(user, since=T0 + DAY) == [
        ("checkin.created", {"date": "2026-03-03", "streak": 2}),
        ("streak.extended", {"date": "2026-03-03", "streak": 2}),
    ]


def test_a_gap_bridged_by_freezes_consumes_them_and_extends(user):
    checkin_create(user_id=user.pk, now=T0)
    state_grant(user, freezes=2, now=T0)

    checkin_create(user_id=user.pk, now=T0 + 3 * DAY)

    assert events_of(user, since=T0 + DAY) == [
        ("streak.freeze_consumed", {"date": "2026-03-05", "freezes_used": 2, "freezes_left": 0}),
        ("checkin.created", {"date": "2026-03-05", "streak": 2}),
        ("streak.extended", {"date": "2026-03-05", "streak": 2}),
    ]


def test_a_gap_too_long_loses_the_streak(user):
    checkin_days(user, 2)

    checkin_create(user_id=user.pk, now=T0 + 5 * DAY)

    # Lost on the 4th, the first day without a check-in (no freezes), reported
    # by this check-in because no periodic job reported it first.
    assert events_of(user, since=T0 + 2 * DAY) == [
        ("checkin.created", {"date": "2026-03-07", "streak": 1}),
        (
            "streak.lost",
            {"date": "2026-03-04", "lost_streak": 2, "last_checkin_date": "2026-03-03"},
        ),
        ("level.up", {"level": 2, "previous_level": 1}),  # the third check-in's energy
    ]


def test_the_third_checkin_levels_up(user):
    checkin_days(user, 3)

    assert events_of(user, since=T0 + 2 * DAY) == [
        ("checkin.created", {"date": "2026-03-04", "streak": 3}),
        ("streak.extended", {"date": "2026-03-04", "streak": 3}),
        ("level.up", {"level": 2, "previous_level": 1}),
    ]


def test_unlocks_and_auto_claims_follow_the_change_that_caused_them(user):
    RewardFactory(id="first", title="First", rule="total_checkins", threshold=1)
    RewardFactory(
        id="gift",
        title="Gift",
        rule="total_checkins",
        threshold=1,
        auto_claim=True,
        effects={"energy": 80},
    )

    checkin_create(user_id=user.pk, now=T0)

    assert events_of(user) == [
        ("checkin.created", {"date": "2026-03-02", "streak": 1}),
        ("reward.unlocked", {"reward_id": "first", "title": "First", "auto_claimed": False}),
        ("reward.unlocked", {"reward_id": "gift", "title": "Gift", "auto_claimed": True}),
        ("reward.claimed", {"reward_id": "gift", "auto_claimed": True}),
        ("level.up", {"level": 2, "previous_level": 1}),
    ]

    reward_claim(user_id=user.pk, reward_id="first", now=T0 + DAY)

    assert events_of(user, since=T0 + DAY) == [
        ("reward.claimed", {"reward_id": "first", "auto_claimed": False}),
    ]


def test_buying_and_using_a_tool(user):
    ToolFactory(id="coffee", price=10, effects={"energy": 100})
    state_grant(user, loyalty=30, now=T0)

    tool_buy(user_id=user.pk, tool_id="coffee", now=T0 + DAY)
    tool_use(user_id=user.pk, tool_id="coffee", now=T0 + 2 * DAY)

    assert events_of(user) == [
        ("tool.purchased", {"tool_id": "coffee", "price": 10}),
        ("tool.used", {"tool_id": "coffee"}),
        ("level.up", {"level": 2, "previous_level": 1}),
    ]


def test_refused_operations_write_no_event(user):
    ToolFactory(id="coffee", price=10)
    checkin_create(user_id=user.pk, now=T0)
    before = Event.objects.count()

    with pytest.raises(AlreadyCheckedIn):
        checkin_create(user_id=user.pk, now=T0)
    with pytest.raises(InsufficientLoyalty):
        tool_buy(user_id=user.pk, tool_id="coffee", now=T0)

    assert Event.objects.count() == before


def test_a_refused_checkin_over_http_is_409_and_writes_no_event(user, auth_client):
    assert auth_client.post("/api/v1/checkins").status_code == 201
    before = Event.objects.count()

    assert auth_client.post("/api/v1/checkins").status_code == 409

    assert Event.objects.count() == before == 1


def test_the_feed_is_newest_first_paginated_and_only_the_callers(user, settings):
    # The throttle's counters outside SQL, as in production (Redis): only the page is counted.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    other = UserFactory()
    RewardFactory(id="gift", rule="total_checkins", threshold=3, auto_claim=True)
    checkin_days(user, 4)
    checkin_days(other, 2)
    mine = list(Event.objects.filter(user_id=user.pk).order_by("-created_at", "-id"))
    assert len(mine) == 10  # created x4, extended x3; day 3: level up, unlocked, claimed

    client = client_for(user)
    seen, url = [], "/api/v1/events?page_size=3"
    while url:
        with CaptureQueriesContext(connection) as captured:
            body = client.get(url).json()
        assert len(captured) == 1, [q["sql"] for q in captured.captured_queries]
        seen += body["results"]
        url = body["next"]

    assert [e["id"] for e in seen] == [str(e.id) for e in mine]
    assert [e["type"] for e in seen[:2]] == ["streak.extended", "checkin.created"]
    assert [e["type"] for e in seen[2:7]] == [
        "reward.claimed",
        "reward.unlocked",
        "level.up",
        "streak.extended",
        "checkin.created",
    ]
    assert set(seen[0]) == {"id", "type", "created_at", "data"}
    assert {e["data"]["user_id"] for e in seen} == {str(user.pk)}


def test_the_feed_needs_a_token(api_client):
    assert api_client.get("/api/v1/events").status_code == 401


def test_verify_invariants_names_the_date_of_a_deleted_event(user):
    checkin_days(user, 2)
    call_command("verify_invariants", "--no-progress", stdout=io.StringIO())

    first = Event.objects.filter(user_id=user.pk, type="checkin.created").earliest("created_at")
    first.delete()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_invariants", "--no-progress", stdout=out)

    assert (
        f"events: ledger entries without their event: checkin.created {first.data['date']}"
        in out.getvalue()
    )


def test_verify_invariants_catches_an_event_moved_to_another_date(user):
    """Counts alone would agree: the check is date by date."""
    checkin_days(user, 2)
    event = Event.objects.filter(user_id=user.pk, type="checkin.created").latest("created_at")
    real = event.data["date"]
    event.data = {**event.data, "date": "1999-01-01"}
    event.save()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_invariants", "--no-progress", stdout=out)

    assert f"ledger entries without their event: checkin.created {real}" in out.getvalue()
    assert "events without their ledger entry: checkin.created 1999-01-01" in out.getvalue()


def test_verify_invariants_holds_for_every_kind_of_change(user):
    RewardFactory(id="streak_2", threshold=2)
    ToolFactory(id="tea", price=5)
    checkin_days(user, 2)
    later = T0 + dt.timedelta(days=4)
    checkin_create(user_id=user.pk, now=later)  # the streak is lost
    streak_restore(user_id=user.pk, reason="outage", now=later)  # and given back
    state_grant(user, loyalty=50, freezes=1, now=later)
    reward_claim(user_id=user.pk, reward_id="streak_2", now=later)
    tool_buy(user_id=user.pk, tool_id="tea", now=later)
    tool_use(user_id=user.pk, tool_id="tea", now=later)
    checkin_create(user_id=user.pk, now=later + dt.timedelta(days=2))  # a freeze bridges a day
    assert {t for t, _ in events_of(user)} >= {
        "reward.claimed",
        "tool.purchased",
        "tool.used",
        "streak.freeze_consumed",
        "streak.lost",
        "streak.restored",
    }
    assert state_of(user).streak == 4  # 2 lost + 1, then a bridged check-in

    out = io.StringIO()
    call_command("verify_invariants", "--no-progress", stdout=out)
    assert "every invariant holds" in out.getvalue()


def test_held_tool_use_over_http_writes_its_event(user):
    InventoryItemFactory(user=user, tool=ToolFactory(id="tea"), quantity=1)
    with time_machine.travel(T0, tick=False):
        assert client_for(user).post("/api/v1/inventory/tea/use").status_code == 200

    assert [t for t, _ in events_of(user)] == ["tool.used"]


def test_event_ids_grow_with_time_so_the_events_since_t_are_a_key_range():
    from events.ids import event_ids, first_id_at, new_event_id

    moments = [T0 + dt.timedelta(milliseconds=ms) for ms in (0, 1, 999, 1000, 86_400_000)]
    for earlier, later in itertools.pairwise(moments):
        assert max(event_ids(earlier, 5)) < min(event_ids(later, 5))
        assert first_id_at(later) <= min(event_ids(later, 5))
        assert first_id_at(later) > max(event_ids(earlier, 5))
    ids = event_ids(T0, 20)
    assert ids == sorted(ids)  # the events of one change keep their order
    assert new_event_id().version == 7
