"""A deterministic simulation of users playing day by day, through the real
services, for demos, the dashboard and benchmarks.

Each simulated user gets a habit from the seeded random generator: how often
they check in, how keen they are to shop and to claim. Every day, in user
order, a user may check in (``checkin_create``); after a check-in they may
claim unlocked rewards (``reward_claim``), buy a tool (``tool_buy``) and use
one (``tool_use``). A day a user skips breaks their streak unless freezes
cover it. Refusals (``already_checked_in``, ``inventory_full``, ...) are
counted, never retried.

The clock is simulated: every service takes an explicit ``now`` and stamps
every row it writes (``created_at``, ``updated_at``, ``unlocked_at``) with
it, so nothing needs patching and the rows carry the simulated moments.

Users are ``<prefix><seed>-<n>@simulated.invalid`` with an unusable password,
created in bulk. Running the same simulation again changes nothing: their
check-ins for those days exist already, and a user does nothing else on a day
whose check-in is refused.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from django.contrib.auth.hashers import make_password

from base.errors import DomainError
from base.plurals import counted
from checkins.services import checkin_create
from engagement.models import UserState
from rewards.models import Tool
from rewards.services import reward_claim, tool_buy, tool_use
from users.models import User

EMAIL_DOMAIN = "simulated.invalid"
TIMEZONES = ("UTC", "Europe/Warsaw", "America/New_York", "Asia/Tokyo", "America/Los_Angeles")
# Between 10:00 and 14:00 UTC every zone above is on the same calendar date.
DAY_WINDOW = (10 * 3600, 14 * 3600)


@dataclass
class Habit:
    checkin: float  # probability of checking in on a day
    shop: float  # of buying a tool after a check-in
    use: float  # of using a held tool after a check-in
    claim: float  # of claiming each unlocked reward after a check-in


@dataclass(frozen=True)
class Decisions:
    """One user's choices for one day, drawn before anything happens, so the
    random sequence (and so the whole run) depends on the seed only."""

    checks_in: bool
    claims: tuple[bool, ...]  # for the oldest unclaimed rewards, in order
    buys: bool
    uses: bool
    pick: float  # which tool, as a fraction of the choices

    @classmethod
    def draw(cls, rng: random.Random, habit: Habit) -> Decisions:
        return cls(
            checks_in=rng.random() < habit.checkin,
            claims=tuple(rng.random() < habit.claim for _ in range(3)),
            buys=rng.random() < habit.shop,
            uses=rng.random() < habit.use,
            pick=rng.random(),
        )


@dataclass
class SimulationResult:
    users_created: int = 0
    users_existing: int = 0
    checkins: int = 0
    days_skipped: int = 0
    already_done: int = 0
    claims: int = 0
    buys: int = 0
    uses: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def refuse(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1

    def summary(self, *, users: int, days: int) -> str:
        refused = ", ".join(f"{code} {n}" for code, n in sorted(self.refused.items())) or "none"
        return (
            f"Simulated {counted(users, 'user')} x {counted(days, 'day')} "
            f"({counted(self.users_created, 'user')} created, {self.users_existing} reused): "
            f"{counted(self.checkins, 'check-in')}, {counted(self.days_skipped, 'day')} "
            f"skipped, {self.already_done} already done, {counted(self.claims, 'reward')} "
            f"claimed, {counted(self.buys, 'tool')} bought, {counted(self.uses, 'tool')} used; "
            f"refused: {refused}."
        )


def simulated_users(*, count: int, seed: int, prefix: str, start: dt.date) -> tuple[list, int]:
    """The simulation's users, created in bulk where missing (no password
    hashing: an unusable password). Returns (users in order, how many were new)."""
    rng = random.Random(f"{seed}-users")  # noqa: S311 -- a reproducible simulation
    emails = [f"{prefix}{seed}-{n:05d}@{EMAIL_DOMAIN}" for n in range(count)]
    existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    joined = dt.datetime.combine(start, dt.time(9), tzinfo=dt.UTC)
    new = [
        User(
            email=email,
            password=make_password(None),
            display_name=f"Sim {n}",
            timezone=rng.choice(TIMEZONES),
            date_joined=joined,
        )
        for n, email in enumerate(emails)
        if email not in existing
    ]
    User.objects.bulk_create(new, ignore_conflicts=True)
    by_email = {u.email: u for u in User.objects.filter(email__in=emails)}
    users = [by_email[email] for email in emails]
    UserState.objects.bulk_create(
        [UserState(user_id=u.pk, updated_at=joined) for u in users], ignore_conflicts=True
    )
    return users, len(new)


def _habit(rng: random.Random) -> Habit:
    return Habit(
        checkin=rng.uniform(0.45, 0.98),
        shop=rng.uniform(0.05, 0.4),
        use=rng.uniform(0.1, 0.6),
        claim=rng.uniform(0.3, 0.95),
    )


def _try(result: SimulationResult, action: Callable[[], object]) -> object | None:
    try:
        return action()
    except DomainError as exc:
        result.refuse(exc.code)
        return None


def simulate(
    *,
    users: int,
    days: int,
    seed: int,
    start: dt.date,
    prefix: str = "sim",
    on_user_day: Callable[[], None] | None = None,
) -> SimulationResult:
    """Run ``users`` x ``days`` from ``start`` through the real services."""
    result = SimulationResult()
    people, created = simulated_users(count=users, seed=seed, prefix=prefix, start=start)
    result.users_created, result.users_existing = created, len(people) - created
    rng = random.Random(seed)  # noqa: S311 -- a reproducible simulation
    habits = [_habit(rng) for _ in people]
    pending: list[list[str]] = [[] for _ in people]  # unlocked, not yet claimed
    held: list[dict[str, int]] = [{} for _ in people]  # tools bought in this run
    tools = list(Tool.objects.filter(active=True).order_by("price", "id"))
    for day in range(days):
        date = start + dt.timedelta(days=day)
        for index, user in enumerate(people):
            moment = dt.datetime.combine(date, dt.time.min, tzinfo=dt.UTC) + dt.timedelta(
                seconds=rng.randint(*DAY_WINDOW)
            )
            decisions = Decisions.draw(rng, habits[index])
            if decisions.checks_in:
                _user_day(result, user, moment, pending[index], held[index], tools, decisions)
            else:
                result.days_skipped += 1
            if on_user_day:
                on_user_day()
    return result


def _user_day(
    result: SimulationResult,
    user: User,
    now: dt.datetime,
    pending: list[str],
    held: dict[str, int],
    tools: list[Tool],
    decisions: Decisions,
) -> None:
    try:
        checkin = checkin_create(user_id=user.pk, now=now)
    except DomainError as exc:
        if exc.code == "already_checked_in":
            result.already_done += 1  # simulated before: do nothing else that day
        else:
            result.refuse(exc.code)
        return
    result.checkins += 1
    pending.extend(u.reward.pk for u in checkin.unlocked if not u.auto_claimed)
    loyalty: int | None = checkin.state.loyalty
    for reward_id, claim in zip(list(pending), decisions.claims, strict=False):
        if claim and _try(
            result, partial(reward_claim, user_id=user.pk, reward_id=reward_id, now=now)
        ):
            result.claims += 1
            pending.remove(reward_id)
            loyalty = None  # changed by the claim: ask the shop
    if decisions.buys and tools:
        affordable = [t for t in tools if loyalty is None or t.price <= loyalty]
        if affordable:
            tool = affordable[int(decisions.pick * len(affordable))]
            if _try(result, lambda: tool_buy(user_id=user.pk, tool_id=tool.pk, now=now)):
                result.buys += 1
                held[tool.pk] = held.get(tool.pk, 0) + 1
    if decisions.uses and held:
        tool_id = sorted(held)[int(decisions.pick * len(held))]
        if _try(result, lambda: tool_use(user_id=user.pk, tool_id=tool_id, now=now)):
            result.uses += 1
            held[tool_id] -= 1
            if not held[tool_id]:
                del held[tool_id]
