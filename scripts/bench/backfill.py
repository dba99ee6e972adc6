"""Time `manage.py backfill_rewards` on PostgreSQL with many users.

1. Recreates its own database (default engagement_backfill_bench), migrates,
   and inserts N users with their state rows in a few INSERT ... SELECT
   generate_series statements: user i has streak, longest streak and check-ins
   i % 100, so 10% of them have a longest streak of 90 or more. Four active
   rewards nobody meets stand for the catalog (the unlock step reads them),
   and two that every user owns already fill the ownership table (2 N rows).
2. Creates the reward `bench_backfill` (longest streak >= 90; --auto-claim
   makes it claimed at once, through the ledger) and prints the plan of a
   batch's candidate read half-way through the users (EXPLAIN ANALYZE).
3. Runs `manage.py backfill_rewards --reward bench_backfill --batch B` and
   times it; checks that exactly the users who meet the rule own it; runs it
   again (finds nobody) and times that.
4. With --per-user M: for comparison, unlocks a second reward for M of the
   users in one transaction per user (the single envelope's shape) and times it.
5. Drops the database (unless --keep).

Not part of CI: figures depend on the machine; see docs/PERFORMANCE.md,
"Reward backfill".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

REWARD = "bench_backfill"


def sh(*args: str, env: dict | None = None) -> None:
    subprocess.run(args, env=env, cwd=ROOT, check=True, text=True)


def create_users(count: int) -> None:
    from django.db import connection, transaction

    new_id = "lpad(to_hex(i), 32, '0')::uuid"
    copies = [
        f"""INSERT INTO users_user (id, email, password, display_name, timezone,
              is_active, is_staff, is_superuser, date_joined, token_version)
            SELECT {new_id}, 'bench' || i || '@example.com', '!', '', 'UTC',
                   true, false, false, now(), 0
            FROM generate_series(%(lo)s::int, %(hi)s::int) i""",
        f"""INSERT INTO engagement_userstate (user_id, level, energy, fatigue, loyalty, streak,
              longest_streak, total_checkins, streak_freezes, last_checkin_date, updated_at)
            SELECT {new_id}, 1, 50, 0, 0, i %% 100, i %% 100, i %% 100, 0,
                   current_date - 1, now()
            FROM generate_series(%(lo)s::int, %(hi)s::int) i""",
    ]
    batch = 100_000
    for lo in range(1, count + 1, batch):
        hi = min(lo + batch - 1, count)
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in copies:
                cursor.execute(sql, {"lo": lo, "hi": hi})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE users_user")
        cursor.execute("VACUUM ANALYZE engagement_userstate")


def create_rewards(auto_claim: bool) -> None:
    from django.db import connection

    from rewards.models import Reward

    for i, rule in enumerate(["streak", "total_checkins", "level", "longest_streak"]):
        Reward.objects.create(id=f"far_{i}", title=f"Far {i}", rule=rule, threshold=10_000)
    for owned in ("owned_a", "owned_b"):
        Reward.objects.create(id=owned, title=owned, rule="level", threshold=1)
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO rewards_userreward (user_id, reward_id, unlocked_at)
                   SELECT user_id, %s, now() FROM engagement_userstate""",
                [owned],
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE rewards_userreward")
    Reward.objects.create(
        id=REWARD,
        title="Ninety days, once",
        rule="longest_streak",
        threshold=90,
        effects={"loyalty": 10},
        auto_claim=auto_claim,
    )


def explain_batch(batch: int) -> None:
    """The plan of the candidate read of a batch half-way through the users."""
    from django.db import connection

    from engagement.models import UserState
    from rewards.models import Reward
    from rewards.services.backfill import backfill_candidates

    count = UserState.objects.count()
    middle = UserState.objects.order_by("user_id").values_list("user_id", flat=True)[count // 2]
    reward = Reward.objects.get(pk=REWARD)
    query = backfill_candidates(reward, after=middle).values_list("user_id", flat=True)
    sql, params = query[:batch].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        print("\n".join(row[0] for row in cursor.fetchall()))


def per_user(count: int) -> float:
    """Unlock a second reward for ``count`` users, one transaction per user."""
    from django.db import transaction
    from django.utils import timezone

    from engagement.services import StateChange, state_lock
    from rewards.models import Reward
    from rewards.services.backfill import backfill_candidates

    reward = Reward.objects.create(
        id="bench_per_user", title="Per user", rule="longest_streak", threshold=90
    )
    ids = list(backfill_candidates(reward).values_list("user_id", flat=True)[:count])
    now = timezone.now()
    started = time.perf_counter()
    for user_id in ids:
        with transaction.atomic():
            StateChange(locked=state_lock(user_id=user_id), now=now, backfill=True)._close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000, help="users in the database")
    parser.add_argument(
        "--batch", type=int, default=1000, help="users per transaction (backfill_rewards --batch)"
    )
    parser.add_argument(
        "--auto-claim", action="store_true", help="make the reward auto_claim (a ledger entry)"
    )
    parser.add_argument(
        "--per-user",
        type=int,
        default=0,
        metavar="M",
        help="also unlock a second reward for M users, one transaction each (0: skip)",
    )
    parser.add_argument("--db", default="engagement_backfill_bench", help="database to (re)create")
    parser.add_argument(
        "--admin-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to create it on (a superuser's URL)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = args.admin_url.rsplit("/", 1)[0] + "/" + args.db
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "SECRET_KEY": "bench-" + "x" * 50}
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sh("psql", args.admin_url, "-qc", f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    sh("psql", args.admin_url, "-qc", f"CREATE DATABASE {args.db}")
    try:
        sh(str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0", env=env)
        import django

        django.setup()
        started = time.perf_counter()
        create_users(args.users)
        print(f"created {args.users:,} users in {time.perf_counter() - started:.1f} s")
        create_rewards(args.auto_claim)
        explain_batch(args.batch)

        command = [str(BIN / "python"), "manage.py", "backfill_rewards", "--reward", REWARD]
        command += ["--batch", str(args.batch), "--no-progress"]
        started = time.perf_counter()
        sh(*command, env=env)
        first = time.perf_counter() - started
        print(f"first run: {first:.1f} s", flush=True)
        from engagement.models import UserState
        from rewards.models import UserReward

        expected = set(
            UserState.objects.filter(longest_streak__gte=90).values_list("user_id", flat=True)
        )
        owners = set(UserReward.objects.filter(reward_id=REWARD).values_list("user_id", flat=True))
        assert owners == expected, (len(owners), len(expected))
        started = time.perf_counter()
        sh(*command, env=env)
        again = time.perf_counter() - started
        print(
            f"backfill of {len(owners):,} of {args.users:,} users (batch {args.batch}, "
            f"auto_claim {args.auto_claim}): {first:.1f} s, {len(owners) / first:,.0f} users/s; "
            f"run again: {again:.1f} s"
        )
        if args.per_user:
            seconds = per_user(args.per_user)
            print(
                f"per-user transactions: {args.per_user:,} users in {seconds:.1f} s, "
                f"{args.per_user / seconds:,.0f} users/s"
            )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            sh("psql", args.admin_url, "-qc", f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
