"""The state rules, without a database: exact examples, then properties."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from engagement.rules import (
    DEFAULT_LIMITS,
    INITIAL_STATE,
    STATE_FIELDS,
    AlreadyCheckedInRule,
    CheckinPlan,
    Deltas,
    Limits,
    NothingToRestoreRule,
    State,
    Transition,
    apply,
    checkin,
    loyalty_multiplier,
    multiply_loyalty,
    streak_lost,
    streak_lost_on,
    streak_repairable,
    streak_restore,
    streak_status,
)

MAX_FREEZES = DEFAULT_LIMITS.max_freezes
D = dt.date(2025, 3, 10)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def fields(state: State) -> dict[str, int]:
    return {f: getattr(state, f) for f in STATE_FIELDS}


# --- Limits ---------------------------------------------------------------------


def test_limits_from_settings_equal_the_defaults_the_design_names():
    limits = Limits.from_settings(settings.ENGAGEMENT)

    assert limits == DEFAULT_LIMITS
    assert dataclasses.asdict(limits) == {
        "max_freezes": 2,
        "energy_max": 100,
        "fatigue_max": 100,
        "loyalty_multiplier_step": Decimal("0.05"),
        "loyalty_multiplier_cap": Decimal("1.5"),
        "checkin_energy": 20,
        "checkin_fatigue": 10,
        "checkin_loyalty": 5,
    }


def test_initial_state_is_the_documented_one():
    assert dataclasses.asdict(INITIAL_STATE) == {
        "level": 1,
        "energy": 50,
        "fatigue": 0,
        "loyalty": 0,
        "streak": 0,
        "longest_streak": 0,
        "total_checkins": 0,
        "streak_freezes": 0,
        "last_checkin_date": None,
        "lost_streak": 0,
        "streak_lost_on": None,
    }


# --- apply: energy and levels ---------------------------------------------------


def test_apply_with_no_deltas_changes_nothing():
    transition = apply(INITIAL_STATE)

    assert transition.after == INITIAL_STATE
    assert transition.applied == Deltas()
    assert transition.leveled_up is False
    assert transition.loyalty_multiplier == Decimal(1)
    assert transition.loyalty_applied == 0


def test_apply_adds_energy_below_the_maximum():
    transition = apply(INITIAL_STATE, energy=20)

    assert transition.after.energy == 70
    assert transition.after.level == 1
    assert transition.applied == Deltas(energy=20)
    assert transition.leveled_up is False


def test_energy_reaching_100_levels_up_and_resets_energy_to_zero():
    given_state = State(level=4, energy=80)

    transition = apply(given_state, energy=20)

    assert transition.after.level == 5
    assert transition.after.energy == 0
    assert transition.leveled_up is True
    assert transition.applied == Deltas(level=1, energy=-80)


def test_huge_energy_levels_up_exactly_once():
    transition = apply(State(level=1, energy=50), energy=10**12)

    assert transition.after.level == 2
    assert transition.after.energy == 0
    assert transition.leveled_up is True


def test_energy_one_short_of_100_does_not_level_up():
    transition = apply(State(energy=80), energy=19)

    assert transition.after.energy == 99
    assert transition.after.level == 1
    assert transition.leveled_up is False


def test_negative_energy_is_clamped_at_zero_and_the_applied_delta_says_so():
    transition = apply(State(energy=10), energy=-50)

    assert transition.after.energy == 0
    assert transition.applied.energy == -10


# --- apply: fatigue and freezes -------------------------------------------------


def test_fatigue_is_clamped_at_100():
    transition = apply(State(fatigue=95), fatigue=10)

    assert transition.after.fatigue == 100
    assert transition.applied.fatigue == 5


def test_fatigue_is_clamped_at_zero():
    transition = apply(State(fatigue=5), fatigue=-20)

    assert transition.after.fatigue == 0
    assert transition.applied.fatigue == -5


def test_freezes_are_clamped_at_the_maximum():
    transition = apply(State(streak_freezes=1), freezes=5)

    assert transition.after.streak_freezes == 2
    assert transition.applied.streak_freezes == 1


def test_freezes_are_clamped_at_zero():
    transition = apply(State(streak_freezes=1), freezes=-3)

    assert transition.after.streak_freezes == 0
    assert transition.applied.streak_freezes == -1


def test_apply_leaves_streak_counters_and_date_alone():
    given_state = State(streak=3, longest_streak=7, total_checkins=9, last_checkin_date=D)

    after = apply(given_state, energy=60, fatigue=5, loyalty=4, freezes=1).after

    assert (after.streak, after.longest_streak, after.total_checkins) == (3, 7, 9)
    assert after.last_checkin_date == D


# --- apply: loyalty ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (1, Decimal("1")),
        (2, Decimal("1.05")),
        (3, Decimal("1.10")),
        (10, Decimal("1.45")),
        (11, Decimal("1.5")),
        (12, Decimal("1.5")),
        (1000, Decimal("1.5")),
    ],
)
def test_loyalty_multiplier_grows_5_percent_a_level_capped_at_1_5(level, expected):
    assert loyalty_multiplier(level) == expected


def test_level_1_loyalty_is_not_multiplied():
    transition = apply(State(level=1, loyalty=10), loyalty=5)

    assert transition.after.loyalty == 15
    assert transition.loyalty_multiplier == Decimal(1)
    assert transition.loyalty_applied == 5


def test_level_3_multiplies_5_loyalty_to_6_rounding_half_up():
    transition = apply(State(level=3, loyalty=0), loyalty=5)

    assert transition.after.loyalty == 6
    assert transition.loyalty_multiplier == Decimal("1.1")
    assert transition.loyalty_applied == 6


@pytest.mark.parametrize(
    ("amount", "level", "expected"),
    [
        (5, 2, 5),  # 5.25 -> 5
        (10, 2, 11),  # 10.5 -> 11 (half up, not half to even)
        (50, 2, 53),  # 52.5 -> 53 (half to even would give 52)
        (5, 3, 6),  # 5.5 -> 6
        (7, 5, 8),  # 8.4 -> 8
        (10, 11, 15),  # cap 1.5
        (10, 1000, 15),  # still the cap
        (1, 11, 2),  # 1.5 -> 2
    ],
)
def test_multiply_loyalty_rounds_half_up(amount, level, expected):
    assert multiply_loyalty(amount, level) == expected


@pytest.mark.parametrize(
    ("amount", "level", "expected"),
    [
        # 1.05 * (10**27 + 10) = ...010.5 has 29 digits: rounds half up to ...011.
        (10**27 + 10, 2, 1_050_000_000_000_000_000_000_000_011),
        # 29 digits no longer fit the default 28-digit decimal context at all.
        (10**28, 1, 10**28),
        (10**40 + 1, 11, 15 * 10**39 + 2),
    ],
)
def test_multiply_loyalty_is_exact_beyond_the_default_decimal_precision(amount, level, expected):
    assert multiply_loyalty(amount, level) == expected


@pytest.mark.parametrize("amount", [0, -1, -10, -(10**12)])
def test_losses_and_zero_are_not_multiplied(amount):
    assert multiply_loyalty(amount, 11) == amount


def test_loyalty_loss_is_not_multiplied():
    transition = apply(State(level=11, loyalty=20), loyalty=-10)

    assert transition.after.loyalty == 10
    assert transition.loyalty_multiplier == Decimal(1)
    assert transition.loyalty_applied == -10


def test_loyalty_loss_is_clamped_at_zero():
    transition = apply(State(loyalty=3), loyalty=-10)

    assert transition.after.loyalty == 0
    assert transition.loyalty_applied == -3
    assert transition.applied.loyalty == -3


def test_the_multiplier_is_that_of_the_level_before_a_level_up():
    transition = apply(State(level=2, energy=80), energy=20, loyalty=10)

    assert transition.after.level == 3
    assert transition.loyalty_multiplier == Decimal("1.05")
    assert transition.after.loyalty == 11


# --- checkin ------------------------------------------------------------------------


def test_first_checkin_starts_a_streak_of_one_with_the_base_deltas():
    plan = checkin(INITIAL_STATE, D)

    assert plan.after == State(
        level=1,
        energy=70,
        fatigue=10,
        loyalty=5,
        streak=1,
        longest_streak=1,
        total_checkins=1,
        streak_freezes=0,
        last_checkin_date=D,
    )
    assert plan.date == D
    assert plan.freezes_used == 0
    assert plan.freeze_step is None
    assert plan.before == INITIAL_STATE
    assert plan.checkin_step.loyalty_applied == 5
    assert plan.checkin_step.applied == Deltas(
        energy=20, fatigue=10, loyalty=5, streak=1, longest_streak=1, total_checkins=1
    )


def test_first_checkin_ignores_freezes():
    plan = checkin(State(streak_freezes=2), D)

    assert plan.after.streak == 1
    assert plan.after.streak_freezes == 2
    assert plan.freezes_used == 0


def test_checkin_on_the_next_day_extends_the_streak():
    given_state = State(streak=3, longest_streak=5, total_checkins=8, last_checkin_date=D - days(1))

    after = checkin(given_state, D).after

    assert after.streak == 4
    assert after.longest_streak == 5
    assert after.total_checkins == 9
    assert after.last_checkin_date == D


def test_extending_the_longest_streak_raises_longest_streak():
    given_state = State(streak=5, longest_streak=5, total_checkins=5, last_checkin_date=D - days(1))

    after = checkin(given_state, D).after

    assert (after.streak, after.longest_streak) == (6, 6)


def test_one_day_gap_with_one_freeze_consumes_it_and_extends_the_streak():
    given_state = State(
        streak=4,
        longest_streak=4,
        total_checkins=4,
        streak_freezes=1,
        last_checkin_date=D - days(2),
    )

    plan = checkin(given_state, D)

    assert plan.freezes_used == 1
    assert plan.after.streak == 5
    assert plan.after.longest_streak == 5
    assert plan.after.streak_freezes == 0
    assert plan.freeze_step is not None
    assert plan.freeze_step.before == given_state
    assert plan.freeze_step.applied == Deltas(streak_freezes=-1)
    assert plan.checkin_step.before == plan.freeze_step.after


def test_one_day_gap_with_two_freezes_consumes_exactly_one():
    given_state = State(
        streak=4,
        longest_streak=4,
        total_checkins=4,
        streak_freezes=2,
        last_checkin_date=D - days(2),
    )

    plan = checkin(given_state, D)

    assert plan.freezes_used == 1
    assert plan.after.streak == 5
    assert plan.after.streak_freezes == 1


def test_two_day_gap_with_two_freezes_consumes_both_and_extends_the_streak():
    given_state = State(
        streak=4,
        longest_streak=9,
        total_checkins=9,
        streak_freezes=2,
        last_checkin_date=D - days(3),
    )

    plan = checkin(given_state, D)

    assert plan.freezes_used == 2
    assert plan.after.streak == 5
    assert plan.after.longest_streak == 9
    assert plan.after.streak_freezes == 0
    assert plan.freeze_step is not None
    assert plan.freeze_step.applied == Deltas(streak_freezes=-2)


def test_gap_larger_than_the_freezes_resets_the_streak_and_keeps_the_freezes():
    given_state = State(
        streak=4,
        longest_streak=4,
        total_checkins=4,
        streak_freezes=1,
        last_checkin_date=D - days(3),
    )

    plan = checkin(given_state, D)

    assert plan.freezes_used == 0
    assert plan.freeze_step is None
    assert plan.after.streak == 1
    assert plan.after.longest_streak == 4
    assert plan.after.streak_freezes == 1
    assert plan.after.total_checkins == 5


def test_gap_without_freezes_resets_the_streak():
    given_state = State(streak=4, longest_streak=4, total_checkins=4, last_checkin_date=D - days(2))

    after = checkin(given_state, D).after

    assert after.streak == 1
    assert after.longest_streak == 4


@pytest.mark.parametrize("last", [D, D + days(1), D + days(30)])
def test_checkin_on_the_same_or_an_earlier_date_is_refused(last):
    given_state = State(streak=1, longest_streak=1, total_checkins=1, last_checkin_date=last)

    with pytest.raises(AlreadyCheckedInRule):
        checkin(given_state, D)


def test_checkin_loyalty_is_multiplied_by_the_level():
    given_state = State(level=3, loyalty=10)

    plan = checkin(given_state, D)

    assert plan.after.loyalty == 16
    assert plan.checkin_step.loyalty_applied == 6
    assert plan.checkin_step.loyalty_multiplier == Decimal("1.1")


def test_checkin_energy_reaching_100_levels_up():
    given_state = State(level=2, energy=85)

    plan = checkin(given_state, D)

    assert plan.after.level == 3
    assert plan.after.energy == 0
    assert plan.checkin_step.leveled_up is True


def test_checkin_fatigue_stays_at_100():
    assert checkin(State(fatigue=100), D).after.fatigue == 100


# --- streak_lost_on -------------------------------------------------------------------


def test_no_streak_is_never_lost():
    assert streak_lost_on(INITIAL_STATE) is None
    assert not streak_lost(INITIAL_STATE, D + days(30))


@pytest.mark.parametrize(("freezes", "lost_on"), [(0, D + days(1)), (2, D + days(3))])
def test_a_streak_is_lost_on_the_first_day_the_freezes_cannot_cover(freezes, lost_on):
    given_state = State(
        streak=4, longest_streak=4, total_checkins=4, streak_freezes=freezes, last_checkin_date=D
    )

    assert streak_lost_on(given_state) == lost_on
    assert not streak_lost(given_state, lost_on)  # that day is not over yet
    assert streak_lost(given_state, lost_on + days(1))


# --- the lost streak, its restore and the repair window --------------------------------


def test_a_reset_keeps_the_lost_streak_and_the_day_it_was_lost_on():
    given_state = State(streak=9, longest_streak=12, total_checkins=20, last_checkin_date=D)

    after = checkin(given_state, D + days(3)).after

    assert (after.streak, after.lost_streak, after.streak_lost_on) == (1, 9, D + days(1))


def test_the_loss_day_counts_the_freezes_held():
    given_state = State(
        streak=9, longest_streak=9, total_checkins=9, streak_freezes=1, last_checkin_date=D
    )

    after = checkin(given_state, D + days(5)).after

    # D+1 is covered by the freeze (which is kept: a reset spends none); D+2 is not.
    assert (after.lost_streak, after.streak_lost_on, after.streak_freezes) == (9, D + days(2), 1)


def test_a_reported_loss_is_dated_yesterday_at_the_latest():
    # Reported by the periodic job, then a freeze arrived that would cover the gap.
    given_state = State(
        streak=9, longest_streak=9, total_checkins=9, streak_freezes=2, last_checkin_date=D
    )

    after = checkin(given_state, D + days(2), loss_reported=True).after

    assert (after.streak, after.lost_streak, after.streak_lost_on) == (1, 9, D + days(1))


def test_extending_or_bridging_keeps_a_kept_loss():
    given_state = State(
        streak=2,
        longest_streak=9,
        total_checkins=11,
        streak_freezes=1,
        last_checkin_date=D,
        lost_streak=9,
        streak_lost_on=D - days(3),
    )

    for today in (D + days(1), D + days(2)):
        after = checkin(given_state, today).after
        assert after.streak == 3
        assert (after.lost_streak, after.streak_lost_on) == (9, D - days(3))


def test_a_new_reset_replaces_the_kept_loss():
    given_state = State(
        streak=2,
        longest_streak=9,
        total_checkins=11,
        last_checkin_date=D,
        lost_streak=9,
        streak_lost_on=D - days(3),
    )

    after = checkin(given_state, D + days(2)).after

    assert (after.lost_streak, after.streak_lost_on) == (2, D + days(1))


def test_the_first_checkin_loses_nothing():
    after = checkin(INITIAL_STATE, D).after

    assert (after.lost_streak, after.streak_lost_on) == (0, None)


def test_restore_adds_the_lost_streak_to_the_current_one_and_forgets_the_loss():
    given_state = State(
        streak=1,
        longest_streak=9,
        total_checkins=10,
        last_checkin_date=D,
        lost_streak=9,
        streak_lost_on=D - days(1),
    )

    step = streak_restore(given_state)

    assert step.before == given_state
    assert step.after == dataclasses.replace(
        given_state, streak=10, longest_streak=10, lost_streak=0, streak_lost_on=None
    )
    assert step.applied == Deltas(streak=9, longest_streak=1)
    assert step.leveled_up is False
    assert step.loyalty_applied == 0


def test_restore_keeps_a_longer_longest_streak():
    given_state = State(
        streak=1, longest_streak=40, last_checkin_date=D, lost_streak=5, streak_lost_on=D
    )

    assert (
        streak_restore(given_state).after.streak,
        streak_restore(given_state).after.longest_streak,
    ) == (6, 40)


def test_restore_without_a_kept_loss_is_refused():
    with pytest.raises(NothingToRestoreRule):
        streak_restore(State(streak=1, longest_streak=1, last_checkin_date=D))


@pytest.mark.parametrize(
    ("today", "repairable"),
    [(D, True), (D + days(1), True), (D + days(2), True), (D + days(3), False)],
)
def test_the_repair_window_is_two_local_days_after_the_loss_day(today, repairable):
    given_state = State(
        streak=1, longest_streak=9, last_checkin_date=D + days(1), lost_streak=9, streak_lost_on=D
    )

    assert streak_repairable(given_state, today, 2) is repairable


def test_nothing_kept_is_never_repairable():
    assert not streak_repairable(State(streak=1, longest_streak=1, last_checkin_date=D), D, 2)


@pytest.mark.parametrize(("window", "last_day"), [(0, D), (1, D + days(1)), (5, D + days(5))])
def test_the_window_is_a_setting(window, last_day):
    given_state = State(streak=1, longest_streak=3, lost_streak=3, streak_lost_on=D)

    assert streak_repairable(given_state, last_day, window)
    assert not streak_repairable(given_state, last_day + days(1), window)


# --- streak_status --------------------------------------------------------------------


def test_streak_status_is_broken_before_any_checkin():
    assert streak_status(INITIAL_STATE, D) == "broken"


@pytest.mark.parametrize("last", [D, D + days(1)])
def test_streak_status_is_active_when_the_last_checkin_is_today_or_later(last):
    given_state = State(streak=2, longest_streak=2, total_checkins=2, last_checkin_date=last)

    assert streak_status(given_state, D) == "active"


def test_streak_status_is_at_risk_when_the_last_checkin_was_yesterday():
    given_state = State(streak=2, longest_streak=2, total_checkins=2, last_checkin_date=D - days(1))

    assert streak_status(given_state, D) == "at_risk"


@pytest.mark.parametrize(("gap", "freezes"), [(1, 1), (1, 2), (2, 2)])
def test_streak_status_is_at_risk_when_freezes_cover_the_gap(gap, freezes):
    given_state = State(
        streak=2,
        longest_streak=2,
        total_checkins=2,
        streak_freezes=freezes,
        last_checkin_date=D - days(gap + 1),
    )

    assert streak_status(given_state, D) == "at_risk"


@pytest.mark.parametrize(("gap", "freezes"), [(1, 0), (2, 1), (3, 2), (400, 2)])
def test_streak_status_is_broken_when_the_gap_is_larger_than_the_freezes(gap, freezes):
    given_state = State(
        streak=2,
        longest_streak=2,
        total_checkins=2,
        streak_freezes=freezes,
        last_checkin_date=D - days(gap + 1),
    )

    assert streak_status(given_state, D) == "broken"


# --- properties -------------------------------------------------------------------------

# Pure arithmetic is fast, but a loaded machine must not turn that into a flaky deadline.
no_deadline = hypothesis_settings(deadline=None)

# Deltas: mostly around the ranges that matter, sometimes anything at all.
amounts = st.one_of(st.integers(-150, 150), st.integers())
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))


@st.composite
def states(draw) -> State:
    """Any state the database accepts."""
    streak = draw(st.integers(0, 10_000))
    longest = draw(st.integers(streak, streak + 10_000))
    return State(
        level=draw(st.integers(1, 10**9)),
        energy=draw(st.integers(0, DEFAULT_LIMITS.energy_max)),
        fatigue=draw(st.integers(0, DEFAULT_LIMITS.fatigue_max)),
        loyalty=draw(st.integers(0, 10**15)),
        streak=streak,
        longest_streak=longest,
        total_checkins=draw(st.integers(longest, longest + 10_000)),
        streak_freezes=draw(st.integers(0, MAX_FREEZES)),
        last_checkin_date=draw(st.none() | dates),
        **draw(
            st.just({})
            | st.builds(
                lambda n, on: {"lost_streak": n, "streak_lost_on": on},
                st.integers(1, 10_000),
                dates,
            )
        ),
    )


def assert_within_bounds(state: State) -> None:
    assert state.level >= 1
    assert 0 <= state.energy <= DEFAULT_LIMITS.energy_max
    assert 0 <= state.fatigue <= DEFAULT_LIMITS.fatigue_max
    assert state.loyalty >= 0
    assert 0 <= state.streak_freezes <= MAX_FREEZES
    assert state.streak >= 0
    assert state.longest_streak >= state.streak
    assert state.total_checkins >= 0


@no_deadline
@given(states(), amounts, amounts, amounts, amounts)
def test_apply_keeps_every_bound(state, energy, fatigue, loyalty, freezes):
    after = apply(state, energy=energy, fatigue=fatigue, loyalty=loyalty, freezes=freezes).after

    assert_within_bounds(after)


@no_deadline
@given(states(), amounts, amounts, amounts, amounts)
def test_apply_never_lowers_the_level_and_raises_it_by_at_most_one(
    state, energy, fatigue, loyalty, freezes
):
    transition = apply(state, energy=energy, fatigue=fatigue, loyalty=loyalty, freezes=freezes)

    assert transition.after.level in (state.level, state.level + 1)
    assert transition.leveled_up == (transition.after.level == state.level + 1)
    if transition.leveled_up:
        assert transition.after.energy == 0


@no_deadline
@given(states(), amounts, amounts, amounts, amounts)
def test_apply_reports_the_loyalty_it_applied(state, energy, fatigue, loyalty, freezes):
    transition = apply(state, energy=energy, fatigue=fatigue, loyalty=loyalty, freezes=freezes)

    assert transition.loyalty_applied == transition.applied.loyalty
    assert transition.loyalty_applied == transition.after.loyalty - state.loyalty
    if loyalty <= 0:
        assert transition.loyalty_multiplier == Decimal(1)
        assert transition.after.loyalty == max(0, state.loyalty + loyalty)
    else:
        assert transition.loyalty_multiplier == loyalty_multiplier(state.level)
        # Never less than the gain itself, never more than the capped gain rounded up.
        assert loyalty <= transition.loyalty_applied
        assert 2 * transition.loyalty_applied <= 3 * loyalty + 1


@no_deadline
@given(states(), amounts, amounts, amounts, amounts)
def test_apply_touches_only_energy_fatigue_loyalty_freezes_and_level(
    state, energy, fatigue, loyalty, freezes
):
    after = apply(state, energy=energy, fatigue=fatigue, loyalty=loyalty, freezes=freezes).after

    assert after.streak == state.streak
    assert after.longest_streak == state.longest_streak
    assert after.total_checkins == state.total_checkins
    assert after.last_checkin_date == state.last_checkin_date


@no_deadline
@given(st.integers(1, 10**9))
def test_multiplier_is_never_above_the_cap(level):
    assert Decimal(1) <= loyalty_multiplier(level) <= Decimal("1.5")


apply_ops = st.builds(
    lambda e, f, loyalty, z: (
        "apply",
        {"energy": e, "fatigue": f, "loyalty": loyalty, "freezes": z},
    ),
    amounts,
    amounts,
    amounts,
    amounts,
)
# Days after the previous check-in: 1 extends, 2..3 may be bridged by freezes, 4+ breaks.
checkin_ops = st.tuples(st.just("checkin"), st.integers(1, 5))
operations = st.lists(st.one_of(apply_ops, checkin_ops), max_size=40)


def run(ops, start: dt.date = D) -> tuple[State, list[Transition], list[CheckinPlan]]:
    """Fold the operations from the initial state; return the final state, every
    ledger step in order, and the check-in plans."""
    state = INITIAL_STATE
    steps: list[Transition] = []
    plans: list[CheckinPlan] = []
    for op, arg in ops:
        if op == "apply":
            new_steps = [apply(state, **arg)]
        else:
            plan = checkin(state, (state.last_checkin_date or start) + days(arg))
            plans.append(plan)
            new_steps = [s for s in (plan.freeze_step, plan.checkin_step) if s is not None]
        for step in new_steps:
            assert step.before == state, "every step starts where the previous one ended"
            state = step.after
        steps.extend(new_steps)
    return state, steps, plans


@no_deadline
@given(operations)
def test_initial_state_plus_the_applied_deltas_is_the_final_state(ops):
    final, steps, _ = run(ops)

    total = sum((step.applied for step in steps), Deltas())
    assert {f: getattr(INITIAL_STATE, f) + getattr(total, f) for f in STATE_FIELDS} == fields(final)
    for step in steps:
        assert step.loyalty_applied == step.applied.loyalty
    assert_within_bounds(final)


@no_deadline
@given(operations)
def test_checkins_keep_the_streak_counters_consistent(ops):
    final, _, plans = run(ops)

    previous = INITIAL_STATE
    for plan in plans:
        before, after = plan.before, plan.after
        assert before.last_checkin_date == previous.last_checkin_date
        assert after.streak <= after.longest_streak
        assert after.longest_streak == max(before.longest_streak, after.streak)
        assert after.streak in (1, before.streak + 1)
        assert after.total_checkins == before.total_checkins + 1
        assert after.last_checkin_date == plan.date
        assert previous.last_checkin_date is None or after.last_checkin_date > (
            previous.last_checkin_date
        )
        assert 0 <= plan.freezes_used <= before.streak_freezes
        assert after.streak_freezes == before.streak_freezes - plan.freezes_used
        previous = after
    assert final.total_checkins == len(plans)


@no_deadline
@given(states(), st.lists(st.integers(1, 5), min_size=1, max_size=30))
def test_strictly_increasing_dates_from_any_state(state, gaps):
    start = state.last_checkin_date or D
    current, today = state, start
    for gap in gaps:
        today += days(gap)
        after = checkin(current, today).after

        assert after.streak <= after.longest_streak
        assert after.last_checkin_date == today
        assert after.longest_streak >= current.longest_streak
        assert_within_bounds(after)
        current = after
    assert current.total_checkins == state.total_checkins + len(gaps)


@no_deadline
@given(states(), st.integers(0, 30))
def test_checkin_on_the_last_date_or_before_is_always_refused(state, back):
    last = state.last_checkin_date or D
    state = dataclasses.replace(state, last_checkin_date=last)

    with pytest.raises(AlreadyCheckedInRule):
        checkin(state, last - days(back))


@no_deadline
@given(operations, st.integers(1, 6))
def test_streak_status_predicts_what_a_checkin_would_do(ops, ahead):
    given_state, _, _ = run([*ops, ("checkin", 1)])
    last = given_state.last_checkin_date
    assert last is not None

    assert streak_status(given_state, last) == "active"
    today = last + days(ahead)
    status = streak_status(given_state, today)
    extends = checkin(given_state, today).after.streak == given_state.streak + 1
    assert status == ("at_risk" if extends else "broken")


@no_deadline
@given(operations, st.integers(1, 6))
def test_a_streak_is_lost_exactly_when_a_checkin_would_start_a_new_one(ops, ahead):
    given_state, _, _ = run([*ops, ("checkin", 1)])
    last = given_state.last_checkin_date
    assert last is not None
    today = last + days(ahead)

    resets = checkin(given_state, today).after.streak == 1
    assert streak_lost(given_state, today) == resets
    assert streak_lost(given_state, today) == (streak_status(given_state, today) == "broken")


@no_deadline
@given(states(), st.integers(1, 30))
def test_a_checkin_keeps_a_loss_exactly_when_it_resets_a_streak(state, gap):
    today = (state.last_checkin_date or D) + days(gap)

    after = checkin(state, today).after

    if after.streak == 1 and state.streak > 0 and state.last_checkin_date is not None:
        assert after.lost_streak == state.streak
        assert after.streak_lost_on is not None
        assert state.last_checkin_date < after.streak_lost_on < today
    else:
        assert (after.lost_streak, after.streak_lost_on) == (
            state.lost_streak,
            state.streak_lost_on,
        )


@no_deadline
@given(states())
def test_a_restore_gives_back_exactly_the_kept_loss_once(state):
    if state.lost_streak == 0:
        with pytest.raises(NothingToRestoreRule):
            streak_restore(state)
        return

    after = streak_restore(state).after

    assert after.streak == state.streak + state.lost_streak
    assert after.longest_streak == max(state.longest_streak, after.streak)
    assert (after.lost_streak, after.streak_lost_on) == (0, None)
    assert (
        dataclasses.replace(
            after,
            streak=state.streak,
            longest_streak=state.longest_streak,
            lost_streak=state.lost_streak,
            streak_lost_on=state.streak_lost_on,
        )
        == state
    )
    assert_within_bounds(after)
    with pytest.raises(NothingToRestoreRule):
        streak_restore(after)
