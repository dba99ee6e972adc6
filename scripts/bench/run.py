"""`make bench`: load-test the production server on PostgreSQL and compare it
with the database's own ceiling for the same work.

1. Recreates the bench database, migrates, seeds the catalog, and creates
   N users with their state rows and access tokens directly (no password hashing).
2. Starts the production server (granian or gunicorn, WEB_CONCURRENCY workers,
   DEBUG off, throttles lifted) against it.
3. Drives it with wrk: A successful check-ins (each user once), E the same
   over one connection, B GET /me, C GET /rewards, D duplicate check-ins (409);
   prints req/s, p50/p99, statuses, and the CPU each cost the server and PostgreSQL.
4. Checks that check-in rows equal the successes and runs verify_invariants.
5. Runs pgbench with the SQL statements one real check-in issues (captured from
   the service, not written by hand) at the same concurrency, and prints every
   scenario's ratio to that ceiling.

E runs fresh check-ins over one connection (latency without queueing).
--rounds N repeats every scenario N times, interleaved, and prints medians.
--floor runs the same scenarios against scripts/bench/floor_app.py (the same
statements with no framework) and --reference-url/-db/-secret against the
reference application (scripts/bench/reference.py), each beside the service in
the same rounds; docs/PERFORMANCE.md says how to build and start the reference.

With --pgbouncer [POOL] the server reaches PostgreSQL through a PgBouncer in
transaction pooling with POOL server connections (scripts/pgbouncer.py, started
and stopped here). The ceiling stays pgbench straight on PostgreSQL, so the
ratios compare with a run without it; a second pgbench line goes through the
same PgBouncer and shows what it costs on the same SQL.

Not part of CI: figures depend on the machine; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench.reference import Reference  # noqa: E402
from pgbouncer import PgBouncer  # noqa: E402

# Users who only read (B, C), after a check-in each in the warm-up; every
# check-in scenario takes fresh users. Two more users, never used by a
# scenario, check in through the service to capture its statements.
READERS = 1000
CAPTURED = 2


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: int
    exhausted: int
    # CPU seconds the scenario cost the server's processes and PostgreSQL's.
    app_cpu: float = 0.0
    db_cpu: float = 0.0
    target: str = "ours"
    round: int = 1

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def ok_rate(self, status: int) -> float:
        return self.statuses.get(status, 0) / self.seconds


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    method: str
    path: str  # under the target's prefix
    tokens: str  # which token file
    mode: str  # wrk.lua: "once" (fresh users) or "cycle"
    ok: int  # the status a success answers
    connections: int = 0  # 0: --connections


SCENARIOS = [
    Scenario("A", "check-in (201)", "POST", "/checkins", "checkin", "once", 201),
    Scenario("E", "check-in, 1 connection (201)", "POST", "/checkins", "checkin1", "once", 201, 1),
    Scenario("B", "GET /me", "GET", "/me", "read", "cycle", 200),
    Scenario("C", "GET /rewards", "GET", "/rewards", "read", "cycle", 200),
    Scenario("D", "duplicate check-in (409)", "POST", "/checkins", "dup", "cycle", 409),
]
SCENARIO_BY_KEY = {scenario.key: scenario for scenario in SCENARIOS}


@dataclass
class Target:
    """A server under test: this service, or the reference beside it."""

    label: str
    port: int
    pid: int
    prefix: str
    work: Path
    tokens: list[str]  # user n's token at index n - 1
    checked_in_since: Callable[[dt.datetime], list[int]]
    round_started: dt.datetime | None = None
    first_user: int = 0  # its check-in users start after this many
    skips: str = ""  # scenarios it does not serve

    def file(self, name: str) -> Path:
        return self.work / f"{name}.tokens"

    def write(self, name: str, tokens: list[str]) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.file(name).write_text("\n".join(tokens) + "\n")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def print_summary(results: list[Result], ceilings: dict, rounds: int) -> None:
    """The medians over the rounds: ours beside the floor's and the reference's
    (those that ran), and ours over each."""
    by: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        by.setdefault((r.target, r.name), []).append(r)
    labels = [x for x in ("ours", "floor", "reference") if any(r.target == x for r in results)]
    print(f"\nmedians of {rounds} round(s): ok/s, p99 ms, app CPU ms per ok")
    header = f"{'scenario':34}"
    for label in labels:
        header += f" {label + ' ok/s':>15} {'p99':>6} {'app ms':>6}"
    for label in labels[1:]:
        header += f" {'ours/' + label[:5]:>10}"
    print(header)
    for scenario in SCENARIOS:
        name = f"{scenario.key} {scenario.name}"
        if ("ours", name) not in by:
            continue
        line = f"{name:34}"
        rates = {}
        for label in labels:
            runs = by.get((label, name), [])
            rates[label] = median([r.ok_rate(scenario.ok) for r in runs])
            p99 = median([r.p99_ms for r in runs])
            app = median([per_ok(r.app_cpu, r.ok_rate(scenario.ok) * r.seconds) for r in runs])
            line += f" {rates[label]:15.0f} {p99:6.1f} {app:6.2f}"
        for label in labels[1:]:
            ratio = f"{rates['ours'] / rates[label]:.2f}" if rates[label] else "-"
            line += f" {ratio:>10}"
        print(line)
    ours_ceiling = median([tps for tps, _ in ceilings["ours"]])
    line = f"{'pgbench check-in ceiling':34} {ours_ceiling:15.0f}"
    if "reference" in labels:
        line += f" reference {median([tps for tps, _ in ceilings['reference']]):.0f}"
    print(line)
    prepared_ceiling = median([tps for tps, _ in ceilings["ours prepared"]])
    print(f"{'pgbench check-in ceiling -M prepared':34} {prepared_ceiling:15.0f}")
    checkins = [r.ok_rate(201) for r in results if r.target == "ours" and r.name[0] == "A"]
    if ours_ceiling and checkins:
        print(
            f"ours: check-ins / own pgbench ceiling: {median(checkins) / ours_ceiling:.2f} "
            f"(simple protocol), {median(checkins) / prepared_ceiling:.2f} (prepared)"
        )


def sh(*args: str, env: dict | None = None, capture: bool = False) -> str:
    result = subprocess.run(args, env=env, cwd=ROOT, check=False, text=True, capture_output=capture)
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
        raise subprocess.CalledProcessError(result.returncode, args)
    return result.stdout if capture else ""


def checked_in_since(since: dt.datetime) -> list[int]:
    """Bench user numbers with a check-in made since ``since``."""
    from checkins.models import CheckIn

    users = CheckIn.objects.filter(created_at__gte=since).values_list("user_id", flat=True)
    return [user.int for user in users]


def bench_user_id(index: int) -> uuid.UUID:
    """Deterministic ids, so pgbench can name user i as lpad(to_hex(i), 32, '0')::uuid."""
    return uuid.UUID(int=index)


def prepare_database(env: dict, admin_url: str, db_name: str) -> None:
    sh("psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
    sh("psql", admin_url, "-qc", f"CREATE DATABASE {db_name}")
    manage = [str(BIN / "python"), "manage.py"]
    sh(*manage, "migrate", "--noinput", "-v0", env=env)
    sh(*manage, "createcachetable", env=env)
    sh(*manage, "seed_catalog", env=env)


def create_users(count: int, history_days: int) -> None:
    """``count`` users with ``history_days`` days of check-ins each, ending
    ``history_days + 1`` days ago (so today's check-in starts a new streak).

    One template user checks in through the real service; its rows (user,
    state, check-ins, ledger, events, rewards) are then copied for every user with
    INSERT ... SELECT, so a million users take minutes, not hours, and every
    invariant holds for them as it does for the template.
    """
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from checkins.services import checkin_create
    from users.models import User

    template = User.objects.create(id=bench_user_id(0), email="template@example.com", password="!")
    start = timezone.now() - dt.timedelta(days=2 * history_days + 1)
    for day in range(history_days):
        checkin_create(user_id=template.pk, now=start + dt.timedelta(days=day))
    new_id = "lpad(to_hex(i), 32, '0')::uuid"
    copies = [
        # users
        f"""INSERT INTO users_user (id, email, password, display_name, timezone,
              is_active, is_staff, is_superuser, date_joined)
            SELECT {new_id}, 'bench' || i || '@example.com', '!', '', 'UTC',
                   true, false, false, now()
            FROM generate_series(%(lo)s::int, %(hi)s::int) i""",
        f"""INSERT INTO engagement_userstate (user_id, level, energy, fatigue, loyalty, streak,
              longest_streak, total_checkins, streak_freezes, last_checkin_date, updated_at)
            SELECT {new_id}, level, energy, fatigue, loyalty, streak, longest_streak,
                   total_checkins, streak_freezes, last_checkin_date, updated_at
            FROM engagement_userstate, generate_series(%(lo)s::int, %(hi)s::int) i
            WHERE user_id = %(template)s""",
        f"""INSERT INTO checkins_checkin (user_id, date, streak, freezes_used, created_at)
            SELECT {new_id}, date, streak, freezes_used, created_at
            FROM checkins_checkin, generate_series(%(lo)s::int, %(hi)s::int) i
            WHERE user_id = %(template)s""",
        f"""INSERT INTO engagement_ledgerentry (user_id, kind, ref, level, energy, fatigue,
              loyalty, streak, longest_streak, total_checkins, streak_freezes, state_after,
              reason, created_at)
            SELECT {new_id}, kind, ref, level, energy, fatigue, loyalty, streak,
                   longest_streak, total_checkins, streak_freezes, state_after, reason, created_at
            FROM engagement_ledgerentry, generate_series(%(lo)s::int, %(hi)s::int) i
            WHERE user_id = %(template)s ORDER BY i, id""",
        f"""INSERT INTO events_event (id, user_id, type, created_at, data)
            SELECT (left(id::text, 19) || substr(gen_random_uuid()::text, 20))::uuid,
                   {new_id}, type, created_at,
                   jsonb_set(data, '{{user_id}}', to_jsonb({new_id}::text))
            FROM events_event, generate_series(%(lo)s::int, %(hi)s::int) i
            WHERE user_id = %(template)s""",
        f"""INSERT INTO rewards_userreward (user_id, reward_id, unlocked_at, claimed_at)
            SELECT {new_id}, reward_id, unlocked_at, claimed_at
            FROM rewards_userreward, generate_series(%(lo)s::int, %(hi)s::int) i
            WHERE user_id = %(template)s""",
        f"""INSERT INTO leaderboards_weeklycheckins (user_id, week_start, checkins)
            SELECT {new_id}, week_start, checkins
            FROM leaderboards_weeklycheckins, generate_series(%(lo)s::int, %(hi)s::int) i
            WHERE user_id = %(template)s""",
    ]
    batch = 50_000
    for lo in range(1, count + 1, batch):
        hi = min(lo + batch - 1, count)
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in copies:
                cursor.execute(sql, {"lo": lo, "hi": hi, "template": template.pk})
        print(f"   users {hi}/{count}", end="\r", flush=True)
    print()
    from leaderboards.services import boards_rebuild

    boards_rebuild()  # the copies' ranks (the template's alone were counted)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def access_tokens(count: int) -> list[str]:
    """Access tokens of bench users 1..count (signing only, no query)."""
    from rest_framework_simplejwt.tokens import AccessToken

    from users.models import User

    return [str(AccessToken.for_user(User(id=bench_user_id(i)))) for i in range(1, count + 1)]


def require_free_port(port: int) -> None:
    """A server left over from an interrupted run may still listen on the port
    (with SO_REUSEPORT the new one would share it, and the old one, signing
    with another key, would answer part of the requests with 401s)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise SystemExit(f"port {port} is in use ({exc}); stop what listens there") from None


def start_server(kind: str, workers: int, threads: int, port: int, env: dict, log: Path):
    """The production server through bin/serve, as the container runs it."""
    cmd = [str(ROOT / "bin/serve")]
    env = {
        **env,
        "WEB_SERVER": kind,
        "WEB_CONCURRENCY": str(workers),
        "WEB_THREADS": str(threads),
        "PORT": str(port),
        "BIND": "127.0.0.1",
        "PY_BIN": str(BIN),
    }
    with log.open("w") as out:
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return answering(server, f"http://127.0.0.1:{port}/healthz", "server")


def answering(server: subprocess.Popen, url: str, name: str, *, status: int = 200):
    """``server`` once ``url`` answers ``status`` (within 30 s; else it is killed)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == status:
                    return server
        except urllib.error.HTTPError as answer:
            if answer.code == status:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the {name} did not start")


def start_floor(workers: int, threads: int, port: int, env: dict, spec: Path, log: Path):
    """scripts/bench/floor_app.py under granian, in the service's shape."""
    cmd = [
        str(BIN / "granian"),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "--log-level",
        "warning",
        "floor_app:application",
    ]
    with log.open("w") as out:
        server = subprocess.Popen(
            cmd,
            cwd=ROOT / "scripts" / "bench",
            env={**env, "FLOOR_SPEC": str(spec)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    # It answers /me without a token with a 401 once it is up.
    return answering(server, f"http://127.0.0.1:{port}/me", "floor server", status=401)


def floor_spec(user_index: int, db_url: str) -> dict:
    """What floor_app.py runs: the captured statements of a check-in and of
    ``GET /me``, and how to check a token as the service does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.settings import api_settings

    from engagement.statements import select_profile_and_state

    user_id = bench_user_id(user_index)
    with CaptureQueriesContext(connection) as captured:
        select_profile_and_state(user_id=user_id)
    (me,) = [query["sql"] for query in captured.captured_queries]
    me = user_as_variable(me, user_id)
    checkin = checkin_statements(user_index)
    (duplicate_at,) = [
        i for i, sql in enumerate(checkin) if sql.startswith('INSERT INTO "checkins_checkin"')
    ]
    return {
        "dsn": db_url,
        "key": api_settings.VERIFYING_KEY or api_settings.SIGNING_KEY,
        "algorithm": api_settings.ALGORITHM,
        "user_id_claim": api_settings.USER_ID_CLAIM,
        "checkin": checkin,
        "duplicate_at": duplicate_at,
        "me": me,
    }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, int, int]]:
    """Every process: pid -> (parent pid, owner uid, CPU ticks used). The ticks
    are its own (user + system) and those of its children that have exited
    and been reaped: PostgreSQL's backends and autovacuum workers come and go,
    and their time then counts in the postmaster's."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat_file:
                stat = stat_file.read()
            uid = os.stat(f"/proc/{entry}").st_uid
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
        found[int(entry)] = (int(fields[1]), uid, sum(int(tick) for tick in fields[11:15]))
    return found


def cpu_seconds(server_pid: int) -> tuple[float, float]:
    """CPU time used so far by the server's process tree and by PostgreSQL's
    processes (those of the local ``postgres`` user: the server is on this
    machine). A process that exits is counted in its parent's children's time
    once reaped (PostgreSQL's postmaster reaps its backends at once)."""
    import pwd

    try:
        postgres_uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        postgres_uid = -1
    processes = _processes()
    tree, app, db = {server_pid}, 0, 0
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in processes.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    for pid, (_, uid, ticks) in processes.items():
        if pid in tree:
            app += ticks
        elif uid == postgres_uid:
            db += ticks
    return app / CLOCK_TICKS, db / CLOCK_TICKS


def per_ok(cpu_seconds_used: float, ok_requests: float) -> float:
    """CPU milliseconds per successful request."""
    return 1000 * cpu_seconds_used / ok_requests if ok_requests else 0.0


def measured(server_pid: int, run) -> Result:
    """``run()``'s result with the CPU it cost the server and PostgreSQL."""
    app_before, db_before = cpu_seconds(server_pid)
    result = run()
    app_after, db_after = cpu_seconds(server_pid)
    result.app_cpu, result.db_cpu = app_after - app_before, db_after - db_before
    return result


def run_wrk(name, *, port, method, path, tokens_file, mode, seconds, connections, threads):
    env = {
        **os.environ,
        "BENCH_METHOD": method,
        "BENCH_PATH": path,
        "BENCH_TOKENS": str(tokens_file),
        "BENCH_MODE": mode,
        "BENCH_THREADS": str(threads),
    }
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "scripts/bench/wrk.lua"),
            f"http://127.0.0.1:{port}{path}",
        ],
        env=env,
        check=True,
        text=True,
        capture_output=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT"))
    fields = dict(item.split("=") for item in line.split()[1:])
    statuses = {int(k[7:]): int(v) for k, v in fields.items() if k.startswith("status_")}
    return Result(
        name=name,
        requests=int(fields["requests"]),
        seconds=int(fields["duration_us"]) / 1e6,
        p50_ms=int(fields["p50_us"]) / 1000,
        p99_ms=int(fields["p99_us"]) / 1000,
        statuses=statuses,
        socket_errors=int(fields["socket_errors"]),
        exhausted=int(fields["exhausted"]),
    )


# Bench user :uid as SQL (the variables cast, so that pgbench -M prepared can
# type its parameters).
USER_SQL = "lpad(to_hex(:uid::int), 32, '0')::uuid"


def user_as_variable(sql: str, user_id: uuid.UUID) -> str:
    """``sql`` with the user's id literal replaced by :uid (USER_SQL)."""
    return re.sub(rf"'({user_id}|{user_id.hex})'(::uuid)?", USER_SQL, sql)


def checkin_statements(user_index: int) -> list[str]:
    """The statements of one real check-in of user ``user_index``, captured,
    between its BEGIN and COMMIT, with the user as ``:uid`` and the day as
    ``:day`` (days after 2000-01-03). Every bench user is a copy of one
    template, so they are the statements any bench user's check-in sends."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from checkins.services import checkin_create
    from users.models import User

    user = User.objects.get(id=bench_user_id(user_index))
    with CaptureQueriesContext(connection) as captured:
        result = checkin_create(user_id=user.pk, now=timezone.now())
    user_id = bench_user_id(user_index)
    date_literal = re.compile(rf"'{result.today.isoformat()}'(::date)?")
    # The week of that date (the leaderboards' weekly counter and its board):
    # a random week too, or a user drawn eight times would pass the seven
    # check-ins a week can hold. 2000-01-03 is a Monday.
    monday = result.today - dt.timedelta(days=result.today.weekday())
    monday_sql = "('2000-01-03'::date + (:day::int / 7) * 7)"
    day_sql = "('2000-01-03'::date + :day::int)" if monday != result.today else monday_sql
    board_literal = re.compile(rf"'weekly:{monday.isoformat()}'(::(?:text|varchar))?")
    monday_literal = re.compile(rf"'{monday.isoformat()}'(::date)?")
    uuid_text = r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"
    uuid_array = re.compile(rf"'\{{((?:{uuid_text})(?:,(?:{uuid_text}))*)\}}'::uuid\[\]")
    uuid_literal = re.compile(rf"'(?:{uuid_text})'::uuid")

    def fresh_ids(match: re.Match) -> str:
        # The user's own id stays the user; every other id (events, the task
        # row) is made per call by the app: a fresh one per transaction.
        items = [
            USER_SQL if uuid.UUID(item) == user_id else "gen_random_uuid()"
            for item in match.group(1).split(",")
        ]
        return f"ARRAY[{', '.join(items)}]::uuid[]"

    statements = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if sql in ("BEGIN", "COMMIT"):
            continue  # the script's own BEGIN/COMMIT below
        if "webhooks_webhookendpoint" in sql:
            continue  # the subscriptions, read once every few seconds per process
        if "django_tasks_database_dbtaskresult" in sql:
            # A relay or fold task enqueued after the commit: at most one per
            # half second or two seconds per process (base/soon.py), not one
            # per check-in, so it is no part of the check-in's transaction.
            continue
        sql = user_as_variable(sql, user_id)
        sql = board_literal.sub(f"('weekly:' || {monday_sql}::text)", sql)
        sql = date_literal.sub(day_sql, sql)
        sql = monday_literal.sub(monday_sql, sql)
        sql = uuid_array.sub(fresh_ids, sql)
        sql = uuid_literal.sub("gen_random_uuid()", sql)
        if sql.startswith('INSERT INTO "checkins_checkin"'):
            sql = sql.replace(" RETURNING", " ON CONFLICT DO NOTHING RETURNING")
        statements.append(sql)
    if ":uid" not in " ".join(statements):
        raise SystemExit("could not find the user id in the captured SQL")
    return statements


def checkin_transaction_sql(user_index: int) -> str:
    """The statements of one real check-in, captured, as a pgbench script."""
    from users.models import User

    statements = checkin_statements(user_index)
    header = [
        "-- The statements of one check-in, captured from checkins.services.checkin_create.",
        f"\\set uid random(1, {User.objects.count() - 1})",
        "\\set day random(1, 2000000)",
        "BEGIN;",
    ]
    return "\n".join([*header, *(s.rstrip(";") + ";" for s in statements), "COMMIT;", ""])


def run_pgbench(
    db_url: str, script: Path, seconds: int, connections: int, threads: int, mode: str = "simple"
):
    out = sh(
        "pgbench",
        "-n",
        "-M",
        mode,
        "-c",
        str(connections),
        "-j",
        str(threads),
        "-T",
        str(seconds),
        "-f",
        str(script),
        db_url,
        capture=True,
    )
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    return tps, latency


def main() -> int:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--users",
        type=int,
        default=int(os.environ.get("BENCH_USERS", 30000)),
        help="users with access tokens: each checks in once in scenario A (env BENCH_USERS; "
        "the documented runs, docs/PERFORMANCE.md)",
    )
    parser.add_argument(
        "--seconds",
        type=int,
        default=int(os.environ.get("BENCH_SECONDS", 10)),
        help="seconds per scenario, and of the pgbench run (env BENCH_SECONDS)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="wrk connections, and pgbench clients",
    )
    parser.add_argument(
        "--wrk-threads", type=int, default=2, help="wrk threads, and pgbench threads"
    )
    parser.add_argument(
        "--server",
        choices=("granian", "gunicorn"),
        default=os.environ.get("BENCH_SERVER", "granian"),
        help="the production server bin/serve starts (env BENCH_SERVER)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", 2)),
        help="server worker processes (env WEB_CONCURRENCY)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("BENCH_THREADS", 4)),
        help="threads per worker (env BENCH_THREADS)",
    )
    parser.add_argument(
        "--port", type=int, default=8766, help="port the server listens on (127.0.0.1)"
    )
    parser.add_argument(
        "--with-throttle",
        action="store_true",
        help="keep the per-user throttle (a Redis round trip per request) in the measurement",
    )
    parser.add_argument(
        "--population",
        type=int,
        default=int(os.environ.get("BENCH_POPULATION", 0)),
        help="users in the database, 0 for --users; e.g. 1000000 for the scale figures "
        "(env BENCH_POPULATION)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=int(os.environ.get("BENCH_HISTORY_DAYS", 10)),
        help="past check-ins per user (env BENCH_HISTORY_DAYS)",
    )
    parser.add_argument(
        "--webhook-endpoint",
        action="store_true",
        help="subscribe one webhook endpoint to every event type, so each change also "
        "stages its fan-out in the outbox (no worker runs: only the hot path's cost is measured)",
    )
    parser.add_argument(
        "--pgbouncer",
        type=int,
        nargs="?",
        const=8,
        default=0,
        metavar="POOL",
        help="the server through a PgBouncer in transaction pooling with POOL server "
        "connections (8 when not given; 0: straight to PostgreSQL)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(os.environ.get("BENCH_ROUNDS", 1)),
        help="rounds of every scenario, interleaved (and with the reference, alternating "
        "which goes first); the summary gives medians (env BENCH_ROUNDS)",
    )
    parser.add_argument(
        "--one-connection",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scenario E: fresh check-ins over a single connection (latency without queueing)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="run scenarios A, B, D and E against scripts/bench/floor_app.py too: the same "
        "statements with no framework, no rules and no guarantees in Python (the floor)",
    )
    parser.add_argument(
        "--reference-url",
        default=os.environ.get("BENCH_REFERENCE_URL", ""),
        help="the reference app, already running (e.g. http://127.0.0.1:3000): every "
        "scenario runs against it too, interleaved (env BENCH_REFERENCE_URL)",
    )
    parser.add_argument(
        "--reference-db",
        default=os.environ.get("BENCH_REFERENCE_DB", ""),
        help="the reference's database URL: its bench users are written there "
        "(env BENCH_REFERENCE_DB)",
    )
    parser.add_argument(
        "--reference-secret",
        default=os.environ.get("BENCH_REFERENCE_SECRET", ""),
        help="the reference's JWT_SECRET, to sign its users' tokens (env BENCH_REFERENCE_SECRET)",
    )
    args = parser.parse_args()

    for tool in ("wrk", "pgbench", "psql"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is required (apt-get install wrk postgresql-client)")
    admin_url = os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db_name = os.environ.get("BENCH_DB", "engagement_bench")
    db_url = admin_url.rsplit("/", 1)[0] + "/" + db_name
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-" + uuid.uuid4().hex * 2),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        # Lifted: off by default (a gateway's job in such a deployment);
        # --with-throttle measures the per-user Redis counter too.
        "THROTTLE_USER": "100000000/min" if args.with_throttle else "off",
        "THROTTLE_LOGIN": "100000000/min",
        "THROTTLE_REGISTER": "100000000/min",
        "JWT_ACCESS_MINUTES": "240",
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(args.workers),
    }
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"

    print(f"== preparing {db_name} with {args.users} users", flush=True)
    prepare_database(env, admin_url, db_name)
    import django

    django.setup()
    from django.core.cache import cache

    from checkins.models import CheckIn

    cache.clear()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    started = time.monotonic()
    checkin_users = args.rounds * args.users * (2 if args.floor else 1)
    create_users(max(args.population, checkin_users + READERS + CAPTURED), args.history_days)
    print(f"   populated in {time.monotonic() - started:.0f} s")
    per_round = args.users
    total = checkin_users + READERS + CAPTURED
    tokens = access_tokens(total)
    if args.webhook_endpoint:
        from django.utils import timezone

        from webhooks.services import endpoint_create

        endpoint_create(
            url="https://hooks.example.invalid/bench", event_types=[], now=timezone.now()
        )
        print("   one webhook endpoint subscribed to every event type")
    ours = Target("ours", args.port, 0, "/api/v1", work / "ours", tokens, checked_in_since)
    targets = [ours]
    if args.floor:
        targets.append(
            Target(
                "floor",
                args.port + 1,
                0,
                "",
                work / "floor",
                tokens,
                checked_in_since,
                first_user=args.rounds * per_round,
                skips="C",
            )
        )
    reference = None
    if args.reference_url:
        if not (args.reference_db and args.reference_secret):
            raise SystemExit("--reference-url needs --reference-db and --reference-secret")
        reference = Reference(args.reference_url, args.reference_db, args.reference_secret)
        print(f"== preparing the reference's database with {total} users", flush=True)
        reference.create_users(total)
        targets.append(
            Target(
                "reference",
                reference.port,
                reference.server_pid(),
                "",  # its routes have no prefix
                work / "reference",
                reference.tokens(1, total),
                reference.checked_in_since,
            )
        )

    from django.utils import timezone

    bench_start = timezone.now()
    server_log = work / "server.log"
    require_free_port(args.port)
    server_env = env
    bouncer = None
    if args.pgbouncer:
        bouncer = PgBouncer(pool_size=args.pgbouncer).start()
        atexit.register(bouncer.stop)  # also when a scenario fails
        server_env = {
            **env,
            "DATABASE_URL": bouncer.rewrite(db_url),
            "DB_TRANSACTION_POOLING": "1",
        }
        print(f"== through PgBouncer: transaction pooling, {args.pgbouncer} server connections")
    server = start_server(
        args.server, args.workers, args.threads, args.port, server_env, server_log
    )
    ours.pid = server.pid
    floor = None
    if args.floor:
        require_free_port(args.port + 1)
        spec = work / "floor.json"
        spec.write_text(json.dumps(floor_spec(total - 1, db_url)))
        floor = start_floor(
            args.workers, args.threads, args.port + 1, env, spec, work / "floor.log"
        )
        targets[1].pid = floor.pid
        print(f"== the floor (scripts/bench/floor_app.py) on port {args.port + 1}")
    results: list[Result] = []
    try:
        print(f"== server: {args.server}, {args.workers} workers x {args.threads} threads")
        readers = tokens[checkin_users : checkin_users + READERS]
        for number, target in enumerate(targets):
            target.write("read", target.tokens[checkin_users : checkin_users + READERS])
            # Warm-up: the check-in path too (first executions compile and
            # prepare statements), each target with its own share of readers.
            share = len(readers) // len(targets)
            first_reader = checkin_users + number * share
            target.write("warm", target.tokens[first_reader : first_reader + share])
            for method, path, file, mode in (
                ("POST", "/checkins", "warm", "once"),
                ("GET", "/me", "read", "cycle"),
            ):
                run_wrk(
                    "warm-up",
                    port=target.port,
                    method=method,
                    path=target.prefix + path,
                    tokens_file=target.file(file),
                    mode=mode,
                    seconds=2,
                    connections=args.connections,
                    threads=args.wrk_threads,
                )
        bench_start = timezone.now()  # rows counted from here, not the warm-up's
        # The 1-connection check-ins take the last quarter of a round's users.
        one_share = per_round // 4 if args.one_connection else 0
        for round_number in range(args.rounds):
            order = targets if round_number % 2 == 0 else targets[::-1]
            for target in order:
                first = target.first_user + round_number * per_round
                split = first + per_round - one_share
                target.write("checkin", target.tokens[first:split])
                target.write("checkin1", target.tokens[split : first + per_round])
            for scenario in SCENARIOS:
                if scenario.key == "E" and not args.one_connection:
                    continue
                for target in order:
                    if scenario.key in target.skips:
                        continue
                    if scenario.key == "D":
                        since = target.round_started
                        numbers = target.checked_in_since(since)
                        target.write("dup", [target.tokens[n - 1] for n in numbers])
                    if scenario.key == "A":
                        target.round_started = timezone.now()
                    result = measured(
                        target.pid,
                        lambda scenario=scenario, target=target: run_wrk(
                            f"{scenario.key} {scenario.name}",
                            port=target.port,
                            method=scenario.method,
                            path=target.prefix + scenario.path,
                            tokens_file=target.file(scenario.tokens),
                            mode=scenario.mode,
                            seconds=args.seconds,
                            connections=scenario.connections or args.connections,
                            threads=1 if scenario.connections == 1 else args.wrk_threads,
                        ),
                    )
                    result.target, result.round = target.label, round_number + 1
                    results.append(result)
                    print(
                        f"   round {round_number + 1} {target.label:9} {result.name:34} "
                        f"{result.ok_rate(scenario.ok):7.0f} ok/s  p99 {result.p99_ms:6.1f} ms",
                        flush=True,
                    )
    finally:
        for process in (server, floor):
            if process:
                process.terminate()
                process.wait(timeout=30)

    # Correctness first, on the data the HTTP scenarios wrote.
    failed = False
    rows = {"ours": CheckIn.objects.filter(created_at__gte=bench_start).count()}
    if args.floor:
        # The floor's INSERT carries the captured check-in's created_at: its
        # rows are today's check-ins of its own users.
        first = args.rounds * per_round
        rows["floor"] = CheckIn.objects.filter(
            date=timezone.now().date(),
            user_id__gte=bench_user_id(first + 1),
            user_id__lte=bench_user_id(first + args.rounds * per_round),
        ).count()
    if reference:
        rows["reference"] = len(reference.checked_in_since(bench_start))
    verify = subprocess.run(
        [str(BIN / "python"), "manage.py", "verify_invariants"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    # Then the ceilings (pgbench writes rows the invariants know nothing about),
    # interleaved like the scenarios.
    script = work / "checkin.sql"
    script.write_text(checkin_transaction_sql(total))
    ceilings: dict[str, list[tuple[float, float]]] = {
        "ours": [],
        "ours prepared": [],
        "reference": [],
    }
    through: list[tuple[float, float]] = []
    reference_script = work / "reference-checkin.sql"
    if reference:
        reference_script.write_text(reference.checkin_script(total))
    for _ in range(args.rounds):
        ceilings["ours"].append(
            run_pgbench(db_url, script, args.seconds, args.connections, args.wrk_threads)
        )
        # The server prepares its statements (DB_PREPARED_STATEMENTS, on unless
        # behind PgBouncer): the same SQL prepared is the ceiling of that.
        ceilings["ours prepared"].append(
            run_pgbench(
                db_url, script, args.seconds, args.connections, args.wrk_threads, "prepared"
            )
        )
        if reference:
            ceilings["reference"].append(
                run_pgbench(
                    reference.db_url,
                    reference_script,
                    args.seconds,
                    args.connections,
                    args.wrk_threads,
                )
            )
        if bouncer:
            through.append(
                run_pgbench(
                    bouncer.rewrite(db_url),
                    script,
                    args.seconds,
                    args.connections,
                    args.wrk_threads,
                )
            )
    if bouncer:
        leftovers = bouncer.leftover_session_state(db_name)
        bouncer.stop()

    print()
    print(
        f"{'round':5} {'app':9} {'scenario':34} {'req/s':>7} {'ok/s':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'x ceil':>6} {'app cores':>9} {'db cores':>8} {'app ms/ok':>9} "
        f"{'db ms/ok':>8}  statuses"
    )
    for r in results:
        ok_status = SCENARIO_BY_KEY[r.name[0]].ok
        ok = r.ok_rate(ok_status)
        bad = {s: n for s, n in r.statuses.items() if s != ok_status}
        failed |= bool(bad) or r.socket_errors > 0 or r.exhausted > 0
        ceiling_of = "reference" if r.target == "reference" else "ours"
        own_ceiling = median([tps for tps, _ in ceilings[ceiling_of]] or [0]) or float("nan")
        print(
            f"{r.round:5} {r.target:9} {r.name:34} {r.rate:7.0f} {ok:7.0f} {r.p50_ms:7.1f} "
            f"{r.p99_ms:7.1f} {ok / own_ceiling:6.2f} {r.app_cpu / r.seconds:9.2f} "
            f"{r.db_cpu / r.seconds:8.2f} {per_ok(r.app_cpu, ok * r.seconds):9.2f} "
            f"{per_ok(r.db_cpu, ok * r.seconds):8.2f}"
            f"  {dict(sorted(r.statuses.items()))}"
            f"{f' socket errors: {r.socket_errors}' if r.socket_errors else ''}"
            f"{' TOKENS EXHAUSTED' if r.exhausted else ''}"
        )
    for label, runs in ceilings.items():
        for tps, latency in runs:
            name = "pgbench check-in ceiling" + (" -M prepared" if "prepared" in label else "")
            print(f"{'':5} {label.split()[0]:9} {name:34} {tps:7.0f} {latency:15.1f}")
    for tps, latency in through:
        print(f"{'':5} {'ours':9} {'pgbench through PgBouncer':34} {tps:7.0f} {latency:15.1f}")
    if bouncer and leftovers:
        print("SESSION STATE left on PgBouncer's server connections:", leftovers[:5])
        failed = True

    print_summary(results, ceilings, args.rounds)

    # wrk stops with up to one request in flight per connection: the server
    # completes those (rows written) but wrk never reads their 201.
    for label, row_count in rows.items():
        check_ins = [r for r in results if r.target == label and r.name[0] in "AE"]
        successes = sum(r.statuses.get(201, 0) for r in check_ins)
        most = sum(1 if r.name[0] == "E" else args.connections for r in check_ins)
        in_flight = row_count - successes
        print(
            f"{label}: check-in rows: {row_count}; 201s seen by clients: {successes}; "
            f"in flight when wrk stopped: {in_flight} (at most {most})"
        )
        if not 0 <= in_flight <= most:
            print("MISMATCH: check-in rows and successes disagree")
            failed = True
    if "Unknown command" in verify.stderr:
        print("verify_invariants: not available")
    else:
        print("verify_invariants:", (verify.stdout or verify.stderr).strip().splitlines()[-1:])
        failed |= verify.returncode != 0
    if failed:
        print("--- server log (last lines)")
        print("\n".join(server_log.read_text().splitlines()[-20:]))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
