"""What the stress harness sends and which answers the contract allows.

Each operation kind has its success status and the 4xx problem codes that
docs/API.md and the OpenAPI descriptions document for it. Anything else --
a 5xx, an undocumented status or code, an error that is not a problem
document, no answer at all -- is a failure.
"""

from __future__ import annotations

import http.client
import json
import random
import secrets
import time
import uuid
from dataclasses import dataclass

PROBLEM = "application/problem+json"
# Documented for every authenticated operation (the limits are lifted for the
# run, so a 429 is allowed but not expected).
ANY = {429: {"throttled"}}


@dataclass(frozen=True)
class Kind:
    method: str
    success: int
    errors: dict[int, set[str]]
    writes: bool = True


KINDS = {
    "checkin": Kind("POST", 201, {409: {"already_checked_in"}}),
    "claim": Kind("POST", 200, {409: {"reward_locked", "already_claimed"}}),
    "buy": Kind("POST", 201, {409: {"insufficient_loyalty", "inventory_full"}}),
    "use": Kind("POST", 200, {409: {"not_in_inventory"}}),
    "timezone": Kind("PATCH", 200, {409: {"timezone_change_too_soon"}}),
    "me": Kind("GET", 200, {}, writes=False),
    "rewards": Kind("GET", 200, {}, writes=False),
    "inventory": Kind("GET", 200, {}, writes=False),
}
# Staff changes (services in a separate process, and `manage.py grant`):
# "ok" or the code of a documented refusal.
STAFF_ALLOWED = {
    "grant_loyalty": set(),
    "grant_coffee": {"inventory_full"},
    "grant_freeze": {"nothing_to_apply"},
    "adjust_energy": {"nothing_to_apply"},
    "cli_grant_loyalty": set(),
}

# Half the users move east (a new local date may come early: allowed, and
# then a second check-in succeeds), half west (dates never go back).
TIMEZONES = ("Pacific/Kiritimati", "America/Los_Angeles")


@dataclass(frozen=True)
class Op:
    email: str
    token: str
    kind: str
    target: str = ""  # reward or tool id
    keyed: bool = False  # sends an Idempotency-Key

    @property
    def path(self) -> str:
        return {
            "checkin": "/api/v1/checkins",
            "claim": f"/api/v1/rewards/{self.target}/claim",
            "buy": f"/api/v1/inventory/{self.target}/buy",
            "use": f"/api/v1/inventory/{self.target}/use",
            "timezone": "/api/v1/me",
            "me": "/api/v1/me",
            "rewards": "/api/v1/rewards",
            "inventory": "/api/v1/inventory",
        }[self.kind]


# Per user and round, all at once. Two of most writes so that each kind also
# races itself; the shop and the claims run into every documented refusal.
PLAN = [
    ("checkin", ""), ("checkin", ""),
    ("claim", "stress_second"), ("claim", "stress_second"),
    ("claim", "stress_level"), ("claim", "stress_level"), ("claim", "stress_level3"),
    ("claim", "stress_first"),
    ("buy", "coffee"), ("buy", "coffee"), ("buy", "coffee"),
    ("buy", "stress_a"), ("buy", "stress_b"),
    ("use", "coffee"), ("use", "coffee"), ("use", "focus"), ("use", "rest"), ("use", "stress_a"),
    ("timezone", ""), ("timezone", ""),
    ("me", ""), ("rewards", ""), ("inventory", ""),
]  # fmt: skip


def round_ops(users: list[dict]) -> list[Op]:
    """Every user's plan, shuffled within the user, users one after another:
    a client pool works on a few users at a time with all their operations
    in flight together. Half the POSTs carry an Idempotency-Key (they run in
    the key's transaction), half do not: both paths race."""
    ops = []
    for user in users:
        mine = [
            Op(user["email"], user["token"], kind, target, keyed=bool(secrets.randbits(1)))
            for kind, target in PLAN
        ]
        random.shuffle(mine)
        ops += mine
    return ops


def timezone_for(email: str) -> str:
    return TIMEZONES[sum(email.encode()) % len(TIMEZONES)]


@dataclass
class Answer:
    op: Op
    status: int  # 0: no HTTP answer
    code: str  # the problem code, "" on success
    seconds: float
    failure: str = ""  # why the answer breaks the contract


def send(host: str, port: int, op: Op, timeout: float = 30) -> Answer:
    kind = KINDS[op.kind]
    headers = {"Authorization": f"Bearer {op.token}"}
    body = None
    if op.kind == "timezone":
        body = json.dumps({"timezone": timezone_for(op.email)})
        headers["Content-Type"] = "application/json"
    if op.keyed and kind.method == "POST":
        headers["Idempotency-Key"] = uuid.uuid4().hex
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(kind.method, op.path, body=body, headers=headers)
        response = conn.getresponse()
        status, raw = response.status, response.read()
        ctype = response.getheader("Content-Type", "")
    except OSError as exc:
        return Answer(op, 0, "", time.monotonic() - started, f"no answer: {exc!r}")
    finally:
        conn.close()
    answer = Answer(op, status, "", time.monotonic() - started)
    if status == kind.success:
        return answer
    try:
        problem = json.loads(raw)
        answer.code = str(problem.get("code", ""))
    except (ValueError, AttributeError):
        problem = None
    allowed = kind.errors.get(status, set()) | ANY.get(status, set())
    if ctype != PROBLEM or problem is None:
        answer.failure = f"{status} is not a problem document: {raw[:200]!r}"
    elif answer.code not in allowed:
        answer.failure = f"undocumented {status} {answer.code}: {problem.get('detail')}"
        answer.failure += f" (request_id {problem.get('request_id')})"
    return answer
