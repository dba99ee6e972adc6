"""Example bodies for the OpenAPI document: the state every state change answers."""

STATE_EXAMPLE = {
    "level": 1,
    "energy": 70,
    "fatigue": 10,
    "loyalty": 5,
    "streak": 1,
    "longest_streak": 1,
    "total_checkins": 1,
    "streak_freezes": 0,
    "last_checkin_date": "2026-03-04",
    "lost_streak": 0,
    "streak_lost_on": None,
    "streak_status": "active",
}


# What a user's first check-in changes (the deltas that lead to STATE_EXAMPLE).
FIRST_CHECKIN_DELTAS = {
    "energy": 20,
    "fatigue": 10,
    "loyalty": 5,
    "streak": 1,
    "longest_streak": 1,
    "total_checkins": 1,
}


def applied_example(**deltas: int) -> dict[str, int]:
    """The ``applied`` deltas of a step: every numeric state field, 0 unless given."""
    fields = ("level", "energy", "fatigue", "loyalty", "streak", "longest_streak")
    return {name: deltas.get(name, 0) for name in (*fields, "total_checkins", "streak_freezes")}


def meta_example(loyalty_applied: int = 0, **deltas: int) -> dict:
    return {
        "leveled_up": False,
        "loyalty_multiplier": 1.0,
        "loyalty_applied": loyalty_applied,
        "applied": applied_example(**deltas),
    }
