"""The written-out statements of the hot path read and write exactly what the
ORM would, and the hand-rendered response bodies equal their serializers'
output. Run on SQLite and on PostgreSQL like the rest of the suite."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.sql import UpdateQuery
from django.test.utils import CaptureQueriesContext

from base.compiled import prep_values
from checkins.api import checkin_payload
from checkins.models import CheckIn
from checkins.serializers import CheckinCreateOutputSerializer
from checkins.services import checkin_create
from engagement import rules, statements
from engagement.models import LedgerEntry, UserState
from engagement.serializers import StateOutputSerializer, state_data
from events.models import Event, EventType
from rewards.models import Reward
from rewards.tests.factories import RewardFactory
from users.serializers import UserOutputSerializer, user_data
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
STATE = rules.State(
    level=3,
    energy=42,
    fatigue=17,
    loyalty=1234,
    streak=5,
    longest_streak=9,
    total_checkins=30,
    streak_freezes=2,
    last_checkin_date=dt.date(2026, 6, 30),
    lost_streak=4,
    streak_lost_on=dt.date(2026, 6, 25),
)


@pytest.fixture
def user():
    user = UserFactory(timezone="Asia/Tokyo", display_name="Ada", token_version=7)
    UserState.objects.create(user=user, **{f: getattr(STATE, f) for f in statements.STATE_COLUMNS})
    return user


def test_the_lock_reads_what_the_orm_reads(user):
    with transaction.atomic():
        locked = statements.select_state_for_update(user_id=user.pk)
    row = UserState.objects.select_related("user").get(user_id=user.pk)

    assert locked == statements.LockedUser(
        user_id=user.pk,
        timezone=row.user.timezone,
        is_active=row.user.is_active,
        token_version=row.user.token_version,
        state=row.as_rules_state(),
        loss_reported_for=row.loss_reported_for,
        leaderboard_opt_in=row.leaderboard_opt_in,
    )
    assert locked.state == STATE
    assert locked.token_version == 7
    assert locked.loss_reported_for is None


def test_the_lock_reads_the_loss_marker(user):
    UserState.objects.filter(user_id=user.pk).update(loss_reported_for=dt.date(2026, 6, 30))

    with transaction.atomic():
        locked = statements.select_state_for_update(user_id=user.pk)

    assert locked is not None
    assert locked.loss_reported_for == dt.date(2026, 6, 30)


def test_the_lock_compiles_from_the_orm_and_locks_only_the_state_row():
    sql = statements._lock_sql(connection.vendor)

    assert UserState._meta.db_table in sql
    if connection.vendor == "postgresql":
        assert sql.endswith(f'FOR UPDATE OF "{UserState._meta.db_table}"')
    else:
        assert "FOR UPDATE" not in sql


def test_no_state_row_reads_as_none():
    with transaction.atomic():
        assert statements.select_state_for_update(user_id=UserFactory().pk) is None


def test_the_update_sends_the_orms_parameters_and_writes_what_it_would(user):
    after = rules.State(**{**STATE.__dict__, "loyalty": 99, "last_checkin_date": NOON.date()})
    values = {name: getattr(after, name) for name in statements.STATE_COLUMNS}
    orm = UpdateQuery(UserState)
    orm.add_update_values({**values, "updated_at": NOON})
    orm.add_q(Q(user_id=user.pk))
    orm_sql, orm_params = orm.get_compiler(connection=connection).as_sql()

    with transaction.atomic():
        statements.update_state(user_id=user.pk, state=after, now=NOON)

    assert orm_sql == statements._update_sql(connection.vendor)
    row = UserState.objects.get(user_id=user.pk)
    assert row.as_rules_state() == after
    assert row.updated_at == NOON
    fields = statements._fields(UserState, statements._UPDATE_COLUMNS)
    ours = [*prep_values(fields, [*values.values(), NOON]), statements.db_user_id(user.pk)]
    assert list(orm_params) == ours


def test_the_update_clears_a_kept_loss(user):
    # The compiled statement takes the loss date as a parameter, so None
    # (a restore forgets the loss) is written as NULL like any other value.
    after = rules.State(**{**STATE.__dict__, "lost_streak": 0, "streak_lost_on": None})

    with transaction.atomic():
        statements.update_state(user_id=user.pk, state=after, now=NOON)

    row = UserState.objects.get(user_id=user.pk)
    assert (row.lost_streak, row.streak_lost_on) == (0, None)
    assert row.as_rules_state() == after


def test_an_insert_writes_what_create_would(user):
    checkin_id = statements.insert_row(
        CheckIn,
        {"user": user.pk, "date": NOON.date(), "streak": 4, "freezes_used": 1, "created_at": NOON},
    )

    row = CheckIn.objects.get(pk=checkin_id)
    assert (row.user_id, row.date, row.streak, row.freezes_used, row.created_at) == (
        user.pk,
        NOON.date(),
        4,
        1,
        NOON,
    )


@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_ledger_insert_writes_every_row_as_the_orm_would(user, count):
    rows = [
        statements.LedgerRow(
            kind=LedgerEntry.Kind.ADMIN_GRANT,
            ref=f"ref-{i}",
            reason=f"why {i}",
            deltas=rules.Deltas(loyalty=i + 1, energy=-i),
            state_after={"loyalty": i, "note": "ünïcode"},
        )
        for i in range(count)
    ]

    ledger = statements.ledger_rows(user_id=user.pk, entries=rows, now=NOON)
    statements.insert_rows(ledger)

    written = list(LedgerEntry.objects.filter(user_id=user.pk).order_by("id"))
    assert [(e.kind, e.ref, e.reason, e.deltas, e.state_after, e.created_at) for e in written] == [
        (r.kind, r.ref, r.reason, r.deltas, dict(r.state_after), NOON) for r in rows
    ]


@pytest.mark.parametrize("prepared", [True, False])
def test_several_rows_insert_in_one_statement_compiled_once(user, prepared, monkeypatch):
    """With prepared statements, one placeholder per value (VALUES); without,
    PostgreSQL's UNNEST of one array per column. Either way the statement is
    compiled once per shape, not per call."""
    monkeypatch.setattr(statements, "_statements_prepared", lambda: prepared)
    statements._insert_sql.cache_clear()
    entry = statements.LedgerRow(
        kind=LedgerEntry.Kind.ADMIN_GRANT,
        ref="r",
        reason="",
        deltas=rules.Deltas(loyalty=1),
        state_after={},
    )
    ledger = statements.ledger_rows(user_id=user.pk, entries=[entry, entry], now=NOON)

    with CaptureQueriesContext(connection) as captured:
        statements.insert_rows(ledger)
        statements.insert_rows(ledger)

    assert statements._insert_sql.cache_info().misses == 1
    assert statements._insert_sql.cache_info().hits == 1
    (sql,) = {query["sql"] for query in captured.captured_queries}
    uses_unnest = "UNNEST" in sql
    assert uses_unnest is (connection.vendor == "postgresql" and not prepared)
    assert LedgerEntry.objects.filter(user_id=user.pk).count() == 4
    statements._insert_sql.cache_clear()


def test_me_reads_what_the_orm_reads_and_nothing_for_inactive_users(user):
    found = statements.select_profile_and_state(user_id=user.pk)
    user.refresh_from_db()

    assert found is not None
    assert found.profile == statements.Profile(
        id=user.pk,
        email=user.email,
        display_name=user.display_name,
        timezone=user.timezone,
        date_joined=user.date_joined,
        leaderboard_opt_in=user.leaderboard_opt_in,
    )
    assert found.state == STATE
    assert found.token_version == user.token_version == 7
    user.is_active = False
    user.save()
    assert statements.select_profile_and_state(user_id=user.pk) is None


def test_hand_rendered_state_and_user_equal_their_serializers(user):
    today = dt.date(2026, 7, 1)
    found = statements.select_profile_and_state(user_id=user.pk)
    expected_state = {
        **{name: getattr(STATE, name) for name in statements.STATE_COLUMNS},
        "streak_status": rules.streak_status(STATE, today),
    }

    assert found is not None
    assert state_data(found.state, today) == StateOutputSerializer(expected_state).data
    assert user_data(found.profile) == UserOutputSerializer(found.profile).data


def test_the_hand_rendered_checkin_equals_its_serializer(user):
    RewardFactory(id="five", rule=Reward.Rule.TOTAL_CHECKINS, threshold=31, auto_claim=True)
    result = checkin_create(user_id=user.pk, now=NOON)
    row = CheckIn.objects.get(pk=result.checkin.id)

    body = {
        "checkin": row,
        "state": {
            **result.state.__dict__,
            "streak_status": rules.streak_status(result.state, result.today),
        },
        "streak": {
            "current": result.state.streak,
            "longest": result.state.longest_streak,
            "status": rules.streak_status(result.state, result.today),
        },
        "freezes_used": result.freezes_used,
        "unlocked": result.unlocked,
        "meta": {
            "leveled_up": result.checkin_step.leveled_up,
            "loyalty_multiplier": result.checkin_step.loyalty_multiplier,
            "loyalty_applied": result.checkin_step.loyalty_applied,
            "applied": result.checkin_step.applied.as_dict(),
        },
    }

    assert [u.reward.pk for u in result.unlocked] == ["five"]
    assert checkin_payload(result) == CheckinCreateOutputSerializer(body).data


def test_the_compiled_candidates_read_equals_the_orm_read(user):
    from rewards.models import UserReward
    from rewards.services.unlock import Candidate, _unowned_active_rewards

    owned = RewardFactory(id="owned", effects={"loyalty": 2})
    RewardFactory(id="inactive", active=False)
    RewardFactory(id="open_b", effects={"energy": 5}, auto_claim=True)
    RewardFactory(id="open_a", rule=Reward.Rule.LEVEL, threshold=4)
    UserReward.objects.create(user=user, reward=owned, unlocked_at=NOON)
    expected = [
        Candidate(r.id, r.title, r.rule, r.threshold, r.effects, r.auto_claim)
        for r in Reward.objects.filter(active=True).exclude(owners__user=user).order_by("id")
    ]

    assert _unowned_active_rewards(user_id=user.pk) == expected
    assert [c.id for c in expected] == ["open_a", "open_b"]


@pytest.mark.parametrize("events", [0, 1, 3])
def test_the_whole_write_is_one_statement_on_postgresql_and_writes_what_the_parts_would(
    user, events
):
    after = rules.State(**{**STATE.__dict__, "loyalty": 7, "last_checkin_date": NOON.date()})
    ledger = statements.ledger_rows(
        user_id=user.pk,
        entries=[
            statements.LedgerRow(
                kind=LedgerEntry.Kind.ADMIN_GRANT,
                ref="r",
                reason="why",
                deltas=rules.Deltas(loyalty=-1227),
                state_after={"loyalty": 7},
            )
        ],
        now=NOON,
    )
    event_rows = statements.Rows(
        Event,
        ("id", "user", "type", "created_at", "data"),
        [
            [uuid.UUID(int=i + 1), user.pk, EventType.TOOL_USED, NOON, {"n": i}]
            for i in range(events)
        ],
    )

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        statements.write_change(
            user_id=user.pk, state=after, now=NOON, inserts=[ledger, event_rows]
        )

    writes = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    expected = 1 if connection.vendor == "postgresql" else 2 + bool(events)
    assert len(writes) == expected, writes
    assert UserState.objects.get(user_id=user.pk).as_rules_state() == after
    assert LedgerEntry.objects.filter(user_id=user.pk, ref="r").count() == 1
    assert sorted(
        Event.objects.filter(user_id=user.pk).values_list("data", flat=True), key=str
    ) == [{"n": i} for i in range(events)]


def test_the_whole_write_refuses_a_vanished_state_row(user):
    UserState.objects.filter(user_id=user.pk).delete()
    with pytest.raises(RuntimeError, match="vanished"), transaction.atomic():
        statements.write_change(user_id=user.pk, state=STATE, now=NOON, inserts=[])
