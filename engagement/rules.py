"""The state rules: pure functions on plain values, no I/O.

``apply`` is the one transition function every state change goes through;
``checkin`` and ``streak_status`` build on it; ``streak_restore`` gives back
the streak a check-in reset. Constants come from
``settings.ENGAGEMENT`` through :class:`Limits`, so the rules themselves can be
exercised (and property-tested) without Django.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, ROUND_HALF_UP, Decimal, localcontext
from typing import Literal, TypedDict

StreakStatus = Literal["active", "at_risk", "broken"]
STREAK_STATUSES: tuple[StreakStatus, ...] = ("active", "at_risk", "broken")

# The numeric fields of the state the ledger's deltas replay, in the order it
# stores them.
STATE_FIELDS = (
    "level",
    "energy",
    "fatigue",
    "loyalty",
    "streak",
    "longest_streak",
    "total_checkins",
    "streak_freezes",
)
# The streak a check-in reset, kept for a restore (staff, or a repair tool):
# its length (0: nothing to restore) and the local date it was lost. Not
# ledger deltas (a date is no delta, and summing lost lengths means nothing):
# like ``last_checkin_date`` they travel in the ledger's state snapshots.
LOSS_FIELDS = ("lost_streak", "streak_lost_on")


class LimitsSettings(TypedDict):
    """The keys of ``settings.ENGAGEMENT`` that :class:`Limits` reads."""

    MAX_FREEZES: int
    ENERGY_MAX: int
    FATIGUE_MAX: int
    LOYALTY_MULTIPLIER_STEP: str
    LOYALTY_MULTIPLIER_CAP: str
    CHECKIN_ENERGY: int
    CHECKIN_FATIGUE: int
    CHECKIN_LOYALTY: int


@dataclass(frozen=True)
class Limits:
    max_freezes: int = 2
    energy_max: int = 100
    fatigue_max: int = 100
    loyalty_multiplier_step: Decimal = Decimal("0.05")
    loyalty_multiplier_cap: Decimal = Decimal("1.5")
    checkin_energy: int = 20
    checkin_fatigue: int = 10
    checkin_loyalty: int = 5

    @classmethod
    def from_settings(cls, config: LimitsSettings) -> Limits:
        return cls(
            max_freezes=int(config["MAX_FREEZES"]),
            energy_max=int(config["ENERGY_MAX"]),
            fatigue_max=int(config["FATIGUE_MAX"]),
            loyalty_multiplier_step=Decimal(str(config["LOYALTY_MULTIPLIER_STEP"])),
            loyalty_multiplier_cap=Decimal(str(config["LOYALTY_MULTIPLIER_CAP"])),
            checkin_energy=int(config["CHECKIN_ENERGY"]),
            checkin_fatigue=int(config["CHECKIN_FATIGUE"]),
            checkin_loyalty=int(config["CHECKIN_LOYALTY"]),
        )


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class State:
    level: int = 1
    energy: int = 50
    fatigue: int = 0
    loyalty: int = 0
    streak: int = 0
    longest_streak: int = 0
    total_checkins: int = 0
    streak_freezes: int = 0
    last_checkin_date: dt.date | None = None
    lost_streak: int = 0
    streak_lost_on: dt.date | None = None


# The rules' own starting state, as ``DEFAULT_LIMITS`` are their own limits:
# for exercising the rules without Django. The service starts users from
# ``settings.ENGAGEMENT``'s ``START_*`` values (:func:`initial_state`;
# ``engagement.models.initial_state``), which default to these.
INITIAL_STATE = State()


class StartSettings(TypedDict):
    """The keys of ``settings.ENGAGEMENT`` that :func:`initial_state` reads:
    the meters a new user starts with. Streaks and the check-in count always
    start at 0 (the check-ins must account for them)."""

    START_LEVEL: int
    START_ENERGY: int
    START_FATIGUE: int
    START_LOYALTY: int
    START_STREAK_FREEZES: int


def initial_state(config: StartSettings, limits: Limits = DEFAULT_LIMITS) -> State:
    """The state a new user starts with; ``ValueError`` when a value is out of
    the bounds every state keeps (energy below ``energy_max``: reaching it
    raises the level)."""
    state = State(
        level=int(config["START_LEVEL"]),
        energy=int(config["START_ENERGY"]),
        fatigue=int(config["START_FATIGUE"]),
        loyalty=int(config["START_LOYALTY"]),
        streak_freezes=int(config["START_STREAK_FREEZES"]),
    )
    bounds = {
        "START_LEVEL": (state.level, 1, None),
        "START_ENERGY": (state.energy, 0, limits.energy_max - 1),
        "START_FATIGUE": (state.fatigue, 0, limits.fatigue_max),
        "START_LOYALTY": (state.loyalty, 0, None),
        "START_STREAK_FREEZES": (state.streak_freezes, 0, limits.max_freezes),
    }
    for key, (value, low, high) in bounds.items():
        if value < low or (high is not None and value > high):
            allowed = f"{low} to {high}" if high is not None else f"{low} or more"
            raise ValueError(f"{key} must be {allowed}, not {value}.")
    return state


@dataclass(frozen=True)
class Deltas:
    """Applied changes, field by field: ``after - before``."""

    level: int = 0
    energy: int = 0
    fatigue: int = 0
    loyalty: int = 0
    streak: int = 0
    longest_streak: int = 0
    total_checkins: int = 0
    streak_freezes: int = 0

    @classmethod
    def between(cls, before: State, after: State) -> Deltas:
        return cls(**{f: getattr(after, f) - getattr(before, f) for f in STATE_FIELDS})

    def __add__(self, other: Deltas) -> Deltas:
        return Deltas(**{f: getattr(self, f) + getattr(other, f) for f in STATE_FIELDS})

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Transition:
    before: State
    after: State
    leveled_up: bool = False
    loyalty_multiplier: Decimal = Decimal(1)
    loyalty_applied: int = 0

    @property
    def applied(self) -> Deltas:
        return Deltas.between(self.before, self.after)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def loyalty_multiplier(level: int, limits: Limits = DEFAULT_LIMITS) -> Decimal:
    raw = 1 + limits.loyalty_multiplier_step * (level - 1)
    return min(raw, limits.loyalty_multiplier_cap)


def multiply_loyalty(amount: int, level: int, limits: Limits = DEFAULT_LIMITS) -> int:
    """Gains grow with level (rounded half up: 5 x 1.1 = 5.5 -> 6); losses do not."""
    if amount <= 0:
        return amount
    # Exact at any size: the default 28-digit context would round huge gains
    # half to even first, or refuse to quantize them at all.
    with localcontext(prec=MAX_PREC, Emax=MAX_EMAX):
        scaled = Decimal(amount) * loyalty_multiplier(level, limits)
        return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apply(
    state: State,
    *,
    energy: int = 0,
    fatigue: int = 0,
    loyalty: int = 0,
    freezes: int = 0,
    limits: Limits = DEFAULT_LIMITS,
) -> Transition:
    """The one transition function for energy, fatigue, loyalty and freezes."""
    multiplier = loyalty_multiplier(state.level, limits) if loyalty > 0 else Decimal(1)
    loyalty_gain = multiply_loyalty(loyalty, state.level, limits)
    new_loyalty = max(0, state.loyalty + loyalty_gain)

    new_energy = _clamp(state.energy + energy, 0, limits.energy_max)
    new_level = state.level
    leveled_up = False
    if new_energy >= limits.energy_max:
        new_level += 1
        new_energy = 0
        leveled_up = True

    after = dataclasses.replace(
        state,
        level=new_level,
        energy=new_energy,
        fatigue=_clamp(state.fatigue + fatigue, 0, limits.fatigue_max),
        loyalty=new_loyalty,
        streak_freezes=_clamp(state.streak_freezes + freezes, 0, limits.max_freezes),
    )
    return Transition(
        before=state,
        after=after,
        leveled_up=leveled_up,
        loyalty_multiplier=multiplier,
        loyalty_applied=new_loyalty - state.loyalty,
    )


class AlreadyCheckedInRule(Exception):
    """The state already holds a check-in for this date or a later one."""


@dataclass(frozen=True)
class CheckinPlan:
    """A check-in as two ledger steps: freezes spent to bridge a gap (maybe none),
    then the check-in itself."""

    date: dt.date
    freezes_used: int
    freeze_step: Transition | None
    checkin_step: Transition

    @property
    def before(self) -> State:
        return (self.freeze_step or self.checkin_step).before

    @property
    def after(self) -> State:
        return self.checkin_step.after


def checkin(
    state: State, today: dt.date, limits: Limits = DEFAULT_LIMITS, *, loss_reported: bool = False
) -> CheckinPlan:
    """Check in on ``today`` (the user's local date). Raises
    :class:`AlreadyCheckedInRule` when ``today`` is not after the last check-in.

    ``loss_reported``: ``streak.lost`` was already announced for this streak
    (the periodic job found a local day that ended uncovered). That loss is
    final: freezes granted or bought since cannot bridge it back."""
    last = state.last_checkin_date
    if last is not None and last >= today:
        raise AlreadyCheckedInRule(today)

    freezes_used = 0
    reset = False
    if last is None:
        streak = 1
    else:
        gap = (today - last).days - 1
        if gap == 0:
            streak = state.streak + 1
        elif 1 <= gap <= state.streak_freezes and not loss_reported:
            freezes_used = gap
            streak = state.streak + 1
        else:
            streak = 1
            reset = True

    freeze_step = None
    current = state
    if freezes_used:
        freeze_step = apply(current, freezes=-freezes_used, limits=limits)
        current = freeze_step.after

    step = apply(
        current,
        energy=limits.checkin_energy,
        fatigue=limits.checkin_fatigue,
        loyalty=limits.checkin_loyalty,
        limits=limits,
    )
    after = dataclasses.replace(
        step.after,
        streak=streak,
        longest_streak=max(current.longest_streak, streak),
        total_checkins=current.total_checkins + 1,
        last_checkin_date=today,
    )
    lost_on = streak_lost_on(current)
    if reset and lost_on is not None:
        # Kept until a restore or the next reset. A loss the periodic job
        # reported before freezes arrived (``loss_reported``) may look covered
        # now; it was lost by yesterday at the latest.
        after = dataclasses.replace(
            after,
            lost_streak=current.streak,
            streak_lost_on=min(lost_on, today - dt.timedelta(days=1)),
        )
    checkin_step = dataclasses.replace(step, after=after)
    return CheckinPlan(
        date=today, freezes_used=freezes_used, freeze_step=freeze_step, checkin_step=checkin_step
    )


def streak_status(state: State, today: dt.date) -> StreakStatus:
    """What a check-in today would mean: ``active`` (already done), ``at_risk``
    (it would extend the streak: last one yesterday, or the gap is covered by
    freezes) or ``broken`` (it would start a new streak)."""
    last = state.last_checkin_date
    if last is None:
        return "broken"
    if last >= today:
        return "active"
    gap = (today - last).days - 1
    if state.streak > 0 and gap <= state.streak_freezes:
        return "at_risk"
    return "broken"


def streak_lost_on(state: State) -> dt.date | None:
    """The local date at whose end the streak is lost unless a check-in came:
    the first missed day the freezes held cannot cover (the last check-in,
    then one day per freeze, then this one). None without a streak."""
    last = state.last_checkin_date
    if last is None or state.streak == 0:
        return None
    return last + dt.timedelta(days=state.streak_freezes + 1)


def streak_lost(state: State, today: dt.date) -> bool:
    """Whether the streak was lost before ``today`` began: a local day ended
    without a check-in the freezes could cover, and no check-in came since."""
    lost_on = streak_lost_on(state)
    return lost_on is not None and lost_on < today


class NothingToRestoreRule(Exception):
    """The state keeps no lost streak (none was reset, or it was restored)."""


def streak_restore(state: State) -> Transition:
    """Give back the streak the last reset check-in lost: ``streak = lost +
    streak`` (the streak since, usually 1), ``longest_streak`` follows, and
    the loss is forgotten (once per loss). Raises :class:`NothingToRestoreRule`
    when no loss is kept."""
    if state.lost_streak <= 0:
        raise NothingToRestoreRule()
    streak = state.lost_streak + state.streak
    after = dataclasses.replace(
        state,
        streak=streak,
        longest_streak=max(state.longest_streak, streak),
        lost_streak=0,
        streak_lost_on=None,
    )
    return Transition(before=state, after=after)


def streak_repairable(state: State, today: dt.date, window_days: int) -> bool:
    """Whether a repair tool may restore the kept loss on ``today`` (the
    user's local date): a loss is kept and ``today`` is at most
    ``window_days`` local days after the day it was lost on."""
    lost_on = state.streak_lost_on
    return state.lost_streak > 0 and lost_on is not None and (today - lost_on).days <= window_days
