"""The stress harness's Django side, run as a subprocess inside the code of the
server under test (``--server-root``), so its models match that server's
database whatever the harness's own tree looks like.

    django_side.py setup   prefix rounds users    -> JSON: {round: [{email, token}]}
    django_side.py staff                          <- JSON lines of e-mails, -> outcomes
    django_side.py report  prefix                 -> JSON: what the database holds

Staff changes go through ``manage.py grant`` (in-process, ``call_command``):
the operators' interface, which calls the same services as the admin, and
one that stays put when the services move. The environment (DATABASE_URL,
SECRET_KEY, ...) is the server's.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.environ["STRESS_SERVER_ROOT"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.core.management import CommandError, call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Count  # noqa: E402

from checkins.models import CheckIn  # noqa: E402
from engagement.models import LedgerEntry, UserState  # noqa: E402
from rewards.models import InventoryItem, Reward, Tool, UserReward  # noqa: E402
from users.models import User  # noqa: E402
from users.tokens import token_pair  # noqa: E402

SETUP_REASON = "stress setup"
STAFF_REASON = "stress staff"

# On the edge: a first check-in unlocks the total_checkins and longest_streak
# rewards (two claimed in the same transaction); energy 85 means a check-in
# (+20), a coffee (+15) or a staff energy grant (+20) each level the user up to
# 2, which unlocks `stress_level`; enough of them together reach level 3.
REWARDS = [
    ("stress_first", "total_checkins", 1, {"loyalty": 3}, True),
    ("stress_second", "total_checkins", 1, {"energy": 10}, False),
    ("stress_longest", "longest_streak", 1, {"fatigue": -5}, True),
    ("stress_level", "level", 2, {"loyalty": 20}, False),
    ("stress_level3", "level", 3, {"loyalty": 5}, False),
]
# Two cheap tools for the fifth inventory slot: one fits, the other is
# inventory_full until a use empties a slot.
TOOLS = [("stress_a", 1, {"energy": 1}), ("stress_b", 1, {"fatigue": 1})]
# Loyalty 20 buys two coffees (10 each); a third needs a check-in, a claim or
# a staff grant to land first, else it is insufficient_loyalty.
START_ENERGY, START_LOYALTY = 85, 20
START_TOOLS = ("coffee", "rest", "focus", "streak_freeze")  # four of five slots


def setup(prefix: str, rounds: int, users: int) -> dict:
    for rid, rule, threshold, effects, auto in REWARDS:
        Reward.objects.update_or_create(
            id=rid,
            defaults={"title": rid, "rule": rule, "threshold": threshold, "effects": effects,
                      "auto_claim": auto, "active": True},
        )  # fmt: skip
    for tid, price, effects in TOOLS:
        Tool.objects.update_or_create(
            id=tid, defaults={"name": tid, "price": price, "effects": effects, "active": True}
        )

    def make(email: str) -> dict:
        user = User.objects.create(email=email, password="!")  # tokens only
        UserState.objects.create(user=user)
        steps = [("--adjust", f"energy={START_ENERGY - 50}"), ("--loyalty", str(START_LOYALTY))]
        steps += [("--tool", tool) for tool in START_TOOLS]
        for step in steps:
            if (outcome := grant(email, SETUP_REASON, *step)) != "ok":
                raise SystemExit(f"setup of {email}: grant {step} refused: {outcome}")
        connection.close()
        return {"email": email, "token": token_pair(user)["access"]}

    emails = [f"{prefix}-r{r}-u{i}@example.com" for r in range(rounds) for i in range(users)]
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(make, emails))
    cohorts: dict[int, list] = {r: [] for r in range(rounds)}
    for index, user in enumerate(made):
        cohorts[index // users].append(user)
    return {"cohorts": cohorts, "start_tools": list(START_TOOLS)}


def grant(email: str, reason: str, *what: str) -> str:
    """``manage.py grant``: "ok", or the code of its refusal ("Refused (code)")."""
    try:
        call_command("grant", email, "--reason", reason, *what, stdout=io.StringIO())
    except CommandError as exc:
        refused = re.match(r"Refused \((\w+)\)", str(exc))
        if refused is None:
            raise
        return refused.group(1)
    return "ok"


STAFF_OPS = {
    "grant_loyalty": ("--loyalty", "10"),
    "grant_coffee": ("--tool", "coffee"),
    "grant_freeze": ("--freezes", "1"),
    "adjust_energy": ("--adjust", "energy=20"),
}


def staff_one(email: str, op: str) -> dict:
    """One staff change. A refusal is an answer (its code is checked by the
    harness); any other exception is a failure."""
    try:
        outcome = grant(email, STAFF_REASON, *STAFF_OPS[op])
    except Exception as exc:  # reported, and fails the run
        outcome = f"error: {exc.__class__.__name__}: {exc}"
    finally:
        connection.close()
    return {"email": email, "op": op, "outcome": outcome}


def staff() -> None:
    """Read one JSON list of e-mails per line; for each, run every staff
    change once per user, in a shuffled order, on a few threads; write the
    outcomes as one JSON line."""
    threads = int(os.environ.get("STRESS_STAFF_THREADS", "4"))
    lock = threading.Lock()
    with ThreadPoolExecutor(threads) as pool:
        for line in sys.stdin:
            emails = json.loads(line)
            jobs = [(email, op) for email in emails for op in STAFF_OPS]
            random.shuffle(jobs)
            jobs.sort(key=lambda job: emails.index(job[0]) // 4)  # roughly in harness order
            outcomes = list(pool.map(lambda job: staff_one(*job), jobs))
            with lock:
                print(json.dumps(outcomes), flush=True)
    connections.close_all()


def report(prefix: str) -> dict:
    """Per user: state, check-ins, ledger entries per kind and reason, owned
    rewards, inventory, time zone."""
    users = {
        u.pk: u for u in User.objects.filter(email__startswith=prefix + "-").only(
            "email", "timezone")
    }  # fmt: skip
    out = {
        u.email: {"timezone": u.timezone, "checkins": 0, "ledger": {}, "rewards": {},
                  "inventory": {}}
        for u in users.values()
    }  # fmt: skip
    for state in UserState.objects.filter(user_id__in=users):
        out[users[state.user_id].email]["state"] = {
            f: getattr(state, f) for f in ("level", "energy", "loyalty", "streak",
                                           "longest_streak", "total_checkins")
        }  # fmt: skip
    for row in CheckIn.objects.filter(user_id__in=users).values("user_id").annotate(n=Count("id")):
        out[users[row["user_id"]].email]["checkins"] = row["n"]
    for row in (
        LedgerEntry.objects.filter(user_id__in=users)
        .values("user_id", "kind", "reason")
        .annotate(n=Count("id"))
    ):
        key = row["kind"] + ("/" + row["reason"] if row["reason"] else "")
        out[users[row["user_id"]].email]["ledger"][key] = row["n"]
    for owned in UserReward.objects.filter(user_id__in=users):
        out[users[owned.user_id].email]["rewards"][owned.reward_id] = owned.claimed_at is not None
    for item in InventoryItem.objects.filter(user_id__in=users):
        out[users[item.user_id].email]["inventory"][item.tool_id] = item.quantity
    catalog = {
        r.id: {"rule": r.rule, "threshold": r.threshold, "auto_claim": r.auto_claim}
        for r in Reward.objects.filter(active=True)
    }
    return {"users": out, "catalog": catalog}


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "setup":
        print(json.dumps(setup(args[0], int(args[1]), int(args[2]))))
    elif command == "staff":
        staff()
    elif command == "report":
        print(json.dumps(report(args[0])))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
