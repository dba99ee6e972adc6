"""Operator commands that need check-ins: verify_invariants, simulate, export_user."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from checkins.models import CheckIn
from checkins.services import checkin_create
from checkins.tests.factories import CheckInFactory
from engagement.models import LedgerEntry, UserState
from events.models import Event
from idempotency.models import IdempotencyKey
from rewards.catalog import catalog_seed
from rewards.models import InventoryItem, UserReward
from rewards.services import streak_restore, tool_grant
from rewards.tests.factories import (
    T0,
    RewardFactory,
    ToolFactory,
    UserRewardFactory,
    checkin_days,
    state_grant,
)
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- verify_invariants ---------------------------------------------------------------
def test_verify_invariants_passes_on_clean_data():
    ann, bob = UserFactory(), UserFactory()
    checkin_days(ann, 9)
    state_grant(bob, loyalty=20, freezes=1)

    out, err = run("verify_invariants", "--batch-size", "1")

    assert out == "Checked 2 users: every invariant holds.\n"
    assert err == ""  # no progress bar when stderr is not a terminal (test_progress_bars.py)


def restored(user) -> None:
    """Three days, a missed one, a reset check-in, a staff restore: streak 4."""
    checkin_days(user, 3)
    checkin_create(user_id=user.pk, now=T0 + dt.timedelta(days=4))
    streak_restore(user_id=user.pk, reason="outage", now=T0 + dt.timedelta(days=4, hours=1))


def test_verify_invariants_counts_restores_since_the_latest_checkin():
    ann, bob = UserFactory(), UserFactory()
    restored(ann)
    restored(bob)
    checkin_create(user_id=bob.pk, now=T0 + dt.timedelta(days=5))  # extends the restored 4
    assert (UserState.objects.get(user=ann).streak, UserState.objects.get(user=bob).streak) == (
        4,
        5,
    )

    out, _ = run("verify_invariants", "--batch-size", "1")

    assert out == "Checked 2 users: every invariant holds.\n"


def test_verify_invariants_still_catches_a_streak_no_restore_explains():
    ann = UserFactory(email="ann@example.com")
    restored(ann)
    # A raised streak with a ledger entry that is no restore: the replay agrees,
    # the check-ins and restores do not.
    LedgerEntry.objects.filter(user=ann, kind="streak_restore").update(kind="admin_adjust")
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_invariants", stdout=out, stderr=StringIO())

    report = out.getvalue()
    assert "streak: state has 4, the latest check-in reached 1" in report
    assert "longest_streak: state has 4, the highest check-in streak is 3" in report


def test_verify_invariants_names_a_restore_without_its_event():
    ann = UserFactory(email="ann@example.com")
    restored(ann)
    Event.objects.filter(user=ann, type="streak.restored").delete()
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_invariants", stdout=out, stderr=StringIO())

    lost_on = (T0 + dt.timedelta(days=3)).date().isoformat()
    assert f"ledger entries without their event: streak.restored {lost_on}" in out.getvalue()


def test_verify_invariants_reports_a_corrupted_row_and_exits_1():
    ann, bob = UserFactory(email="ann@example.com"), UserFactory(email="bob@example.com")
    checkin_days(ann, 3)
    checkin_days(bob, 3)
    UserState.objects.filter(user=bob).update(loyalty=999)
    out = StringIO()

    with pytest.raises(CommandError) as failure:
        call_command("verify_invariants", stdout=out, stderr=StringIO())

    assert failure.value.returncode == 1
    assert str(failure.value) == "Checked 2 users: 1 invariant violation in 1 user."
    assert out.getvalue() == (
        f"bob@example.com ({bob.pk}) loyalty: ledger replays to 15, state has 999\n"
    )


def test_verify_invariants_checks_checkins_and_streaks_against_the_rows():
    user = UserFactory(email="ann@example.com")
    checkin_days(user, 4)
    latest = CheckIn.objects.filter(user=user).order_by("-date").first()
    assert latest is not None
    latest.delete()  # a lost row
    other = UserFactory(email="cid@example.com")
    checkin_days(other, 2)
    CheckIn.objects.filter(user=other).order_by("-date").update(streak=5)  # streaks rewritten
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_invariants", "--no-progress", stdout=out, stderr=StringIO())

    lines = out.getvalue().splitlines()
    assert sorted(line.split(") ")[1] for line in lines) == sorted(
        [
            "total_checkins: state has 4, check-in rows: 3",
            "last_checkin_date: state has 2026-03-05, the latest check-in is 2026-03-04",
            "streak: state has 4, the latest check-in reached 3",
            "longest_streak: state has 4, the highest check-in streak is 3",
            "streak: state has 2, the latest check-in reached 5",
            "longest_streak: state has 2, the highest check-in streak is 5",
        ]
    )


def test_verify_invariants_finds_rows_without_a_state():
    user = UserFactory(email="ghost@example.com")
    CheckInFactory(user=user)

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_invariants", stdout=out, stderr=StringIO())
    assert "ghost@example.com" in out.getvalue()
    assert "without a state row" in out.getvalue()


@pytest.mark.parametrize(
    ("users", "batch_size", "batches"), [(3, 100, 1), (12, 100, 1), (12, 5, 3)]
)
def test_verify_invariants_queries_per_batch_not_per_user(
    users, batch_size, batches, django_assert_num_queries
):
    for user in UserFactory.create_batch(users):
        checkin_days(user, 2)

    # a count for the progress bar; per batch: states, ledger sums, check-in
    # aggregates, last streaks, ledger entries by kind and ref, level-ups, events
    # by type and ref, streak restores; the empty batch that ends; users without a state
    with django_assert_num_queries(1 + 8 * batches + 1 + 1):
        run("verify_invariants", "--batch-size", str(batch_size))


def test_verify_invariants_caps_the_report():
    users = UserFactory.create_batch(3)
    for user in users:
        state_grant(user, loyalty=5)
    UserState.objects.update(loyalty=1)
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_invariants", "--max-report", "2", stdout=out, stderr=StringIO())

    assert out.getvalue().splitlines()[-1] == "... and 1 more."


# --- simulate ------------------------------------------------------------------------
def test_simulate_fills_the_data_through_the_services_and_the_invariants_hold():
    catalog_seed()

    out, err = run(
        "simulate", "--users", "6", "--days", "20", "--seed", "3", "--start", "2026-04-01"
    )

    assert out.startswith("Simulated 6 users x 20 days (6 users created, 0 reused): ")
    assert err == ""  # the bar is drawn on a terminal only (test_progress_bars.py)
    assert User.objects.filter(email__endswith="@simulated.invalid").count() == 6
    checkins = CheckIn.objects.count()
    assert 40 < checkins < 120
    assert f": {checkins} check-ins," in out
    assert CheckIn.objects.filter(date__lt=dt.date(2026, 4, 1)).count() == 0
    assert CheckIn.objects.filter(date__gt=dt.date(2026, 4, 20)).count() == 0
    assert UserReward.objects.exists()
    assert LedgerEntry.objects.filter(kind="tool_buy").exists()
    # Every row carries the simulated moment, passed to the services as `now`
    # (nothing patches the clock).
    entry = LedgerEntry.objects.filter(kind="checkin").earliest("id")
    assert entry.created_at.date().isoformat() == entry.ref
    for checkin in CheckIn.objects.all():
        assert checkin.created_at.date() == checkin.date
    assert all(
        owned.unlocked_at.date() <= dt.date(2026, 4, 20) for owned in UserReward.objects.all()
    )
    verify_out, _ = run("verify_invariants")
    assert verify_out == "Checked 6 users: every invariant holds.\n"


def simulated_world() -> list:
    return [
        (
            u.email,
            u.timezone,
            u.state.as_rules_state(),
            list(u.checkins.order_by("date").values_list("date", "streak")),
            list(u.ledger_entries.order_by("id").values_list("kind", "ref", "loyalty")),
        )
        for u in User.objects.filter(email__endswith="@simulated.invalid").order_by("email")
    ]


def test_simulate_is_deterministic_for_a_seed_and_a_rerun_adds_nothing():
    catalog_seed()
    args = ("simulate", "--users", "4", "--days", "12", "--seed", "9", "--start", "2026-04-01")
    run(*args)
    first = simulated_world()

    out, _ = run(*args)

    assert "(0 users created, 4 reused): 0 check-ins," in out
    assert simulated_world() == first
    User.objects.filter(email__endswith="@simulated.invalid").delete()
    run(*args)
    assert simulated_world() == first


def test_simulate_defaults_end_yesterday():
    run("simulate", "--users", "2", "--days", "3", "--no-progress")

    assert CheckIn.objects.filter(date__gte=dt.date.today()).count() == 0


def test_simulate_refuses_bad_arguments():
    with pytest.raises(CommandError):
        run("simulate", "--users", "0")
    with pytest.raises(CommandError):
        run("simulate", "--prefix", "a b")


# --- export_user ---------------------------------------------------------------------
def test_export_user_writes_all_of_one_users_data():
    user = UserFactory(email="ann@example.com", display_name="Ann", timezone="Europe/Warsaw")
    other = UserFactory()
    checkin_days(user, 3)
    checkin_days(other, 1)
    ToolFactory(id="coffee", name="Coffee")
    tool_grant(user_id=user.pk, tool_id="coffee", quantity=2, reason="apology", now=timezone.now())
    IdempotencyKey.objects.create(
        user=user, key="k1", fingerprint="f", status_code=201, created_at=dt.datetime.now(dt.UTC)
    )
    UserRewardFactory(user=user, reward=RewardFactory(id="streak_3"))

    out, err = run("export_user", "ANN@example.com")

    data = json.loads(out)
    optional = (
        {"refresh_tokens"}
        if apps.is_installed("rest_framework_simplejwt.token_blacklist")
        else set()
    )
    assert set(data) == {
        "format_version",
        "exported_at",
        "user",
        "state",
        "checkins",
        "rewards",
        "inventory",
        "ledger",
        "weekly_checkins",
        "events",
        "idempotency_keys",
        "groups",
        "permissions",
        "admin_log",
        *optional,
    }
    assert data["user"]["email"] == "ann@example.com"
    assert data["user"]["timezone"] == "Europe/Warsaw"
    assert "password" not in data["user"]
    assert data["state"]["total_checkins"] == 3
    assert [c["date"] for c in data["checkins"]] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert data["weekly_checkins"] == [{"week_start": "2026-03-02", "checkins": 3}]
    assert data["user"]["leaderboard_opt_in"] is True
    assert [(r["reward_id"], r["claimed_at"]) for r in data["rewards"]] == [("streak_3", None)]
    assert [(i["tool_id"], i["quantity"]) for i in data["inventory"]] == [("coffee", 2)]
    assert [e["kind"] for e in data["ledger"]] == ["checkin"] * 3 + ["admin_grant"]
    assert data["ledger"][-1]["reason"] == "apology"
    assert [e["type"] for e in data["events"]] == [
        "checkin.created",
        "checkin.created",
        "streak.extended",
        "checkin.created",
        "streak.extended",
        "level.up",
    ]
    assert data["idempotency_keys"] == [
        {"key": "k1", "status_code": 201, "created_at": data["idempotency_keys"][0]["created_at"]}
    ]
    assert err.strip() == (
        "Exported ann@example.com: 3 check-ins, 1 reward, 1 inventory item, 4 ledger entries."
    )
    assert InventoryItem.objects.filter(user=user).count() == 1  # read-only


def test_export_user_to_a_file(tmp_path):
    user = UserFactory(email="ann@example.com")
    checkin_days(user, 1)
    target = tmp_path / "ann.json"

    out, _ = run("export_user", "ann@example.com", "--output", str(target))

    assert out.strip().endswith(f"Written to {target}.")
    assert json.loads(target.read_text())["checkins"][0]["streak"] == 1


def test_export_user_of_an_unknown_email_fails():
    with pytest.raises(CommandError, match="No user"):
        run("export_user", "nobody@example.com")
