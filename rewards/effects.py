"""Effects: what a reward or tool does to a state, e.g. ``{"energy": 15}``."""

from typing import Any

from django.core.exceptions import ValidationError

EFFECT_KEYS = ("energy", "fatigue", "loyalty", "streak_freezes")
# Keep values in a range that a state can meaningfully absorb.
EFFECT_LIMIT = 1_000_000


def validate_effects(value: Any) -> None:
    """Refuse anything but an object of integers under the known keys."""
    if not isinstance(value, dict):
        raise ValidationError("Effects must be a JSON object.", code="invalid_effects")
    unknown = sorted(set(value) - set(EFFECT_KEYS))
    if unknown:
        raise ValidationError(
            "Unknown effect keys: %(keys)s. Allowed: %(allowed)s.",
            code="invalid_effects",
            params={"keys": ", ".join(map(str, unknown)), "allowed": ", ".join(EFFECT_KEYS)},
        )
    for key, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError(
                "Effect %(key)s must be an integer.", code="invalid_effects", params={"key": key}
            )
        if abs(amount) > EFFECT_LIMIT:
            raise ValidationError(
                "Effect %(key)s is out of range.", code="invalid_effects", params={"key": key}
            )


def effects_kwargs(effects: dict[str, int]) -> dict[str, int]:
    """Effects as keyword arguments of ``rules.apply``."""
    return {
        "energy": effects.get("energy", 0),
        "fatigue": effects.get("fatigue", 0),
        "loyalty": effects.get("loyalty", 0),
        "freezes": effects.get("streak_freezes", 0),
    }
