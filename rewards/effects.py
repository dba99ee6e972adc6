"""Effects: what a reward or tool does to a state, e.g. ``{"energy": 15}``."""

from typing import Any

from django.core.exceptions import ValidationError

EFFECT_KEYS = ("energy", "fatigue", "loyalty", "streak_freezes")
# A tool's only: using it restores the streak the last reset check-in lost
# (rewards.services.repair). Its value is always 1: one restore per use.
REPAIR_EFFECT = "streak_repair"
TOOL_EFFECT_KEYS = (*EFFECT_KEYS, REPAIR_EFFECT)
# Keep values in a range that a state can meaningfully absorb.
EFFECT_LIMIT = 1_000_000


def _validate(value: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Effects must be a JSON object.", code="invalid_effects")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ValidationError(
            "Unknown effect keys: %(keys)s. Allowed: %(allowed)s.",
            code="invalid_effects",
            params={"keys": ", ".join(map(str, unknown)), "allowed": ", ".join(keys)},
        )
    for key, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError(
                "Effect %(key)s must be an integer.", code="invalid_effects", params={"key": key}
            )
        if key == REPAIR_EFFECT and amount != 1:
            raise ValidationError(
                "Effect %(key)s must be 1 (one use restores one lost streak).",
                code="invalid_effects",
                params={"key": key},
            )
        if abs(amount) > EFFECT_LIMIT:
            raise ValidationError(
                "Effect %(key)s is out of range.", code="invalid_effects", params={"key": key}
            )


def validate_effects(value: Any) -> None:
    """A reward's effects: an object of integers under :data:`EFFECT_KEYS`."""
    _validate(value, EFFECT_KEYS)


def validate_tool_effects(value: Any) -> None:
    """A tool's effects: a reward's, and ``streak_repair: 1``."""
    _validate(value, TOOL_EFFECT_KEYS)


def effects_kwargs(effects: dict[str, int]) -> dict[str, int]:
    """Effects as keyword arguments of ``rules.apply`` (``streak_repair`` is
    no ``apply`` argument: the tool use records a restore step for it)."""
    return {
        "energy": effects.get("energy", 0),
        "fatigue": effects.get("fatigue", 0),
        "loyalty": effects.get("loyalty", 0),
        "freezes": effects.get("streak_freezes", 0),
    }
