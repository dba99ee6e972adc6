"""Refusals of the rewards economy and the shop, each with a stable code."""

from typing import Any, ClassVar

from base.errors import DomainError, NotFoundError


class RewardNotFound(NotFoundError):
    code = "reward_not_found"
    default_detail = "No active reward with this id."


class RewardLocked(DomainError):
    status = 409
    code = "reward_locked"
    default_detail = "This reward is not unlocked yet."


class AlreadyClaimed(DomainError):
    status = 409
    code = "already_claimed"
    default_detail = "This reward has already been claimed."


class ToolNotFound(NotFoundError):
    code = "tool_not_found"
    default_detail = "No tool with this id."


class InsufficientLoyalty(DomainError):
    """``price``: what the tool costs; ``loyalty``: what the user has."""

    status = 409
    code = "insufficient_loyalty"
    default_detail = "Not enough loyalty points to buy this tool."
    example_members: ClassVar[dict[str, Any]] = {"price": 40, "loyalty": 25}

    @classmethod
    def for_price(cls, *, price: int, loyalty: int) -> "InsufficientLoyalty":
        return cls(
            f"This tool costs {price} loyalty points; you have {loyalty}.",
            price=price,
            loyalty=loyalty,
        )


class InventoryFull(DomainError):
    status = 409
    code = "inventory_full"
    default_detail = "The inventory holds as many different tools as it can."


class NotInInventory(DomainError):
    status = 409
    code = "not_in_inventory"
    default_detail = "You do not hold this tool."


class NothingToRepair(DomainError):
    status = 409
    code = "nothing_to_repair"
    default_detail = (
        "No lost streak can be restored: none was lost, it was restored already, or the "
        "repair window has passed."
    )


# --- Staff grants and adjustments -------------------------------------------------------
class ReasonRequired(DomainError):
    status = 400
    code = "reason_required"
    default_detail = "A reason is required for every staff change of a user's state."


class InvalidStaffChange(DomainError):
    status = 400
    code = "invalid_staff_change"
    default_detail = "The amounts of this staff change are out of range."


class NothingToApply(DomainError):
    status = 409
    code = "nothing_to_apply"
    default_detail = "The state is already at its bounds: this change would change nothing."
