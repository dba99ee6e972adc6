"""Leaderboard reads at 10 k and 1 M users: are the top and my-rank flat?

For each size: recreates its own database (``engagement_lb_bench_<size>``), migrates,
fills it with INSERT ... SELECT generate_series (users, state rows with a
spread of streaks, two weeks of weekly counts), recounts the histograms with
the service (``boards_rebuild``), ANALYZEs, then times in-process, as the
API runs them, the median of many runs of:

- top-100 of each board (the index),
- my-rank of each board (the histogram sum) for a user at the top, in the
  middle and at the bottom,
- the whole ``board_read`` (snapshot, caller, top-100, counts),

each again with ``--unfolded`` histogram rows appended (what check-ins leave
between two folds), in ``--rounds`` rounds that alternate the sizes, and
prints EXPLAIN (ANALYZE, BUFFERS) of the top and the rank at the largest
size. Drops the databases at the end.

    .venv/bin/python scripts/bench/leaderboards.py [--sizes 10000 1000000] [--runs 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DB_NAME = "engagement_lb_bench"
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def db_name(size: int) -> str:
    return f"{DB_NAME}_{size}"


def db_url(size: int) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + db_name(size)


def psql(sql: str) -> None:
    subprocess.run(["psql", ADMIN_URL, "-qc", sql], check=True)


def prepare(size: int) -> float:
    psql(f"DROP DATABASE IF EXISTS {db_name(size)} WITH (FORCE)")
    psql(f"CREATE DATABASE {db_name(size)}")
    env = {**os.environ, "DATABASE_URL": db_url(size), "DEBUG": "0", "SECRET_KEY": "bench"}
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    started = time.perf_counter()
    fill(size)
    return time.perf_counter() - started


def fill(size: int) -> None:
    from django.db import connection, transaction

    from leaderboards.boards import week_start
    from leaderboards.services import boards_rebuild

    today = dt.datetime.now(dt.UTC).date()
    monday = week_start(today)
    new_id = "lpad(to_hex(i), 32, '0')::uuid"
    # Streaks: about a quarter at 0, the rest spread like a long tail (1..~400);
    # 1 in 20 opted out; one in 10 with a reported loss (off the board).
    statements = [
        f"""INSERT INTO users_user (id, email, password, display_name, timezone, is_active,
              is_staff, is_superuser, date_joined, leaderboard_opt_in)
            SELECT {new_id}, 'lb' || i || '@example.com', '!',
                   CASE WHEN i %% 3 = 0 THEN '' ELSE 'Player ' || i END, 'UTC', true, false,
                   false, now(), i %% 20 <> 0
            FROM generate_series(1, %(n)s::int) i""",
        f"""INSERT INTO engagement_userstate (user_id, level, energy, fatigue, loyalty, streak,
              longest_streak, total_checkins, streak_freezes, last_checkin_date,
              loss_reported_for, leaderboard_opt_in, updated_at)
            SELECT {new_id}, 1, 50, 0, 0, s, s, s, 0, %(today)s - (i %% 2),
                   CASE WHEN i %% 10 = 3 THEN %(today)s - (i %% 2) END, i %% 20 <> 0, now()
            FROM (SELECT i, CASE WHEN i %% 4 = 0 THEN 0 ELSE 1 + floor(
                              -ln(((i::bigint * 7919) %% 100003 + 1) / 100004.0) * 40)::int
                         END AS s
                  FROM generate_series(1, %(n)s::int) i) AS spread""",
        f"""INSERT INTO leaderboards_weeklycheckins (user_id, week_start, checkins)
            SELECT {new_id}, %(monday)s, 1 + (i * 31) %% 7
            FROM generate_series(1, %(n)s::int) i WHERE i %% 10 < 7""",
        f"""INSERT INTO leaderboards_weeklycheckins (user_id, week_start, checkins)
            SELECT {new_id}, %(previous)s, 1 + (i * 17) %% 7
            FROM generate_series(1, %(n)s::int) i WHERE i %% 10 < 8""",
    ]
    params = {"n": size, "today": today, "monday": monday, "previous": monday - dt.timedelta(7)}
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, params)
    boards_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def median_ms(action, runs: int) -> float:
    for _ in range(10):
        action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def explain(queryset) -> str:
    return queryset.explain(analyze=True, buffers=True)


def _top_queryset(board: str, monday: dt.date):
    from engagement.models import STREAK_BOARD, UserState
    from leaderboards.models import WeeklyCheckins

    if board == "streak":
        return (
            UserState.objects.filter(STREAK_BOARD)
            .order_by("-streak", "user_id")
            .values_list("user_id", "user__display_name", "streak")[:100]
        )
    return (
        WeeklyCheckins.objects.filter(week_start=monday, user__leaderboard_opt_in=True)
        .order_by("-checkins", "user_id")
        .values_list("user_id", "user__display_name", "checkins")[:100]
    )


def buffers(queryset) -> float:
    """Shared buffers (hit or read) the query's plan touched."""
    plan = json.loads(queryset.explain(format="json", analyze=True, buffers=True))[0]["Plan"]
    return float(plan["Shared Hit Blocks"] + plan["Shared Read Blocks"])


def measure(size: int, runs: int, explain_plans: bool) -> dict[str, float]:
    import uuid

    from django.db.models import Q, Sum

    from leaderboards.boards import STREAK_KEY, week_start, weekly_key
    from leaderboards.models import BoardScore
    from leaderboards.selectors import _top, board_read

    now = dt.datetime.now(dt.UTC)
    monday = week_start(now.date())
    results: dict[str, float] = {}
    callers = {"top": 1, "middle": size // 2 + 1, "bottom": size - 3}
    for board, key in (("streak", STREAK_KEY), ("weekly", weekly_key(monday))):
        results[f"{board} top-100"] = median_ms(lambda b=board: _top(b, monday, 100), runs)
        for label, score in (("top", 400), ("middle", 20 if board == "streak" else 4), ("low", 1)):

            def rank(key=key, score=score):
                return BoardScore.objects.filter(board=key).aggregate(
                    participants=Sum("users"), above=Sum("users", filter=Q(score__gt=score))
                )

            results[f"{board} my-rank ({label} score)"] = median_ms(rank, runs)
        # The work itself, which a busy machine does not disturb: the buffers
        # (8 kB pages) each query touches.
        results[f"{board} top-100: buffers"] = buffers(_top_queryset(board, monday))
        results[f"{board} my-rank: buffers"] = buffers(
            BoardScore.objects.filter(board=key)
            .values("board")
            .annotate(participants=Sum("users"), above=Sum("users", filter=Q(score__gt=1)))
        )
        for label, index in callers.items():
            user_id = uuid.UUID(int=index)
            results[f"{board} board_read, caller at {label}"] = median_ms(
                lambda b=board, u=user_id: board_read(
                    user_id=u, board=b, period="current", limit=100, now=now
                ),
                runs,
            )
        if explain_plans:
            from django.db.models import QuerySet

            from engagement.models import STREAK_BOARD, UserState
            from leaderboards.models import WeeklyCheckins

            top: QuerySet = (
                UserState.objects.filter(STREAK_BOARD)
                .order_by("-streak", "user_id")
                .values_list("user_id", "user__display_name", "streak")[:100]
                if board == "streak"
                else WeeklyCheckins.objects.filter(week_start=monday, user__leaderboard_opt_in=True)
                .order_by("-checkins", "user_id")
                .values_list("user_id", "user__display_name", "checkins")[:100]
            )
            print(f"\n-- {board} top-100 at {size:,} users\n{explain(top)}")
            ranks = BoardScore.objects.filter(board=key)
            print(f"\n-- {board} my-rank at {size:,} users")
            print(
                explain(
                    ranks.values("board").annotate(
                        participants=Sum("users"), above=Sum("users", filter=Q(score__gt=1))
                    )
                )
            )
            rows = BoardScore.objects.filter(board=key).count()
            print(f"   ({rows} histogram rows for this board)")
    return results


def one(size: int, phase: str, runs: int, unfolded: int, explain_plans: bool) -> None:
    """Fill, or measure, one size in this process (its own connection pool)."""
    import django

    os.environ["DATABASE_URL"] = db_url(size)
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    if phase == "fill":
        seconds = prepare(size)
        print(f"== {size:,} users: filled in {seconds:.0f} s", flush=True)
        return
    from leaderboards.services import fold

    results = measure(size, runs, explain_plans)
    if unfolded:
        append_unfolded(unfolded)
        more = measure(size, runs, False)
        results |= {f"{name}, {unfolded:,} rows unfolded": ms for name, ms in more.items()}
        fold()  # the +1/-1 pairs cancel out: the histogram as it was
    print("RESULT " + json.dumps(results), flush=True)


def append_unfolded(rows: int) -> None:
    """Histogram rows as check-ins leave them between two folds: +1/-1 pairs
    spread over the boards' scores (the sums do not change)."""
    import random

    from leaderboards.boards import STREAK_KEY, week_start, weekly_key
    from leaderboards.models import BoardScore

    weekly = weekly_key(week_start(dt.datetime.now(dt.UTC).date()))
    rng = random.Random(7)  # noqa: S311 (a spread of scores, not a secret)
    pairs = []
    for _ in range(rows // 2):
        board, score = (
            (STREAK_KEY, rng.randint(1, 60)) if rng.random() < 0.5 else (weekly, rng.randint(1, 7))
        )
        pairs += [
            BoardScore(board=board, score=score, users=1),
            BoardScore(board=board, score=score, users=-1),
        ]
    BoardScore.objects.bulk_create(pairs, batch_size=5000)
    print(f"   appended {len(pairs):,} unfolded histogram rows", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--unfolded",
        type=int,
        default=5000,
        help="measure again with this many histogram rows not folded yet (what check-ins "
        "append between two folds: ~600/s x 4 rows x 2 s); 0: skip",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measurements of each size, interleaved (A B A B ...): a shared machine drifts",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=("fill", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--explain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, args.phase, args.runs, args.unfolded, args.explain)
        return

    def run(size: int, phase: str, *more: str) -> dict[str, float]:
        done = subprocess.run(
            [
                *(sys.executable, __file__, "--one", str(size), "--phase", phase),
                *("--runs", str(args.runs), "--unfolded", str(args.unfolded), *more),
            ],
            check=True,
            text=True,
            capture_output=True,
        )
        found: dict[str, float] = {}
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                found = json.loads(line.removeprefix("RESULT "))
            else:
                print(line)
        return found

    rounds: dict[int, list[dict[str, float]]] = {size: [] for size in args.sizes}
    try:
        for size in args.sizes:
            run(size, "fill")
        for number in range(args.rounds):
            for size in args.sizes:
                first_of_largest = number == 0 and size == max(args.sizes)
                rounds[size].append(
                    run(size, "measure", *(("--explain",) if first_of_largest else ()))
                )
    finally:
        if not args.keep:
            for size in args.sizes:
                psql(f"DROP DATABASE IF EXISTS {db_name(size)} WITH (FORCE)")
    sizes = args.sizes
    table = {
        size: {name: statistics.median(r[name] for r in rounds[size]) for name in rounds[size][0]}
        for size in sizes
    }
    print(f"\nmedian of {args.rounds} interleaved rounds, each the median of {args.runs} runs")
    print("\n| median ms | " + " | ".join(f"{s:,} users" for s in sizes) + " | ratio |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    for name in table[sizes[0]]:
        values = [table[s][name] for s in sizes]
        ratio = values[-1] / values[0] if values[0] else 0
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {ratio:.2f} |")


if __name__ == "__main__":
    main()
