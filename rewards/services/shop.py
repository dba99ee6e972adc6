"""The tool shop: buying and using tools, and the inventory rules they share
with staff tool grants."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from django.db.models import Count, F, FilteredRelation, Q, Subquery
from django.db.models.functions import Coalesce

from engagement import rules
from engagement.models import LedgerEntry
from engagement.services import limits, state_change
from rewards.effects import REPAIR_EFFECT, effects_kwargs
from rewards.errors import InsufficientLoyalty, InventoryFull, NotInInventory, ToolNotFound
from rewards.models import InventoryItem, Tool
from rewards.selectors import inventory_capacity
from rewards.services.repair import record_streak_restore, repair_check
from rewards.services.results import ChangeResult, Holding

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class HoldingAnnotations(TypedDict):
    """What :func:`tool_with_holding` annotates a tool with."""

    held_id: int | None
    held_quantity: int
    slots_used: int


ToolWithHolding: TypeAlias = "WithAnnotations[Tool, HoldingAnnotations]"


def tool_with_holding(*, user_id: uuid.UUID, tool_id: str, on_sale: bool) -> ToolWithHolding | None:
    """The tool, how many the user holds (``held_id``, ``held_quantity``) and how
    many inventory slots the user fills (``slots_used``), in one statement. Call
    it after the state lock: every inventory write holds that lock."""
    tools = Tool.objects.filter(pk=tool_id)
    if on_sale:
        tools = tools.filter(active=True)
    slots = (
        InventoryItem.objects.filter(user_id=user_id, quantity__gt=0)
        .order_by()
        .values("user_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return tools.annotate(
        mine=FilteredRelation("holders", condition=Q(holders__user_id=user_id)),
        held_id=F("mine__id"),
        held_quantity=Coalesce(F("mine__quantity"), 0),
        slots_used=Coalesce(Subquery(slots), 0),
    ).first()


def inventory_check_room(tool: ToolWithHolding) -> None:
    """A tool the user holds stacks in its slot; a new one needs a free slot.
    ``tool`` comes from :func:`tool_with_holding`."""
    if not tool.held_quantity and tool.slots_used >= inventory_capacity():
        raise InventoryFull()


def inventory_add(
    *, user_id: uuid.UUID, tool: ToolWithHolding, quantity: int, now: dt.datetime
) -> Holding:
    """Add ``quantity`` of a tool read by :func:`tool_with_holding`. Exact
    without re-reading: every inventory write holds the user's state lock."""
    if tool.held_id is None:
        InventoryItem.objects.create(user_id=user_id, tool=tool, quantity=quantity, updated_at=now)
    else:
        InventoryItem.objects.filter(pk=tool.held_id).update(
            quantity=F("quantity") + quantity, updated_at=now
        )
    return Holding(tool=tool, quantity=tool.held_quantity + quantity)


def tool_buy(*, user_id: uuid.UUID, tool_id: str, now: dt.datetime) -> ChangeResult:
    """Buy one of an active tool for its price in loyalty (no multiplier).

    A tool the user already holds stacks in its slot; a new one needs a free
    slot (``inventory_full`` beyond ``ENGAGEMENT["INVENTORY_CAPACITY"]``
    distinct tools). Then the price must be covered (``insufficient_loyalty``)."""
    with state_change(user_id=user_id, now=now) as change:
        tool = tool_with_holding(user_id=user_id, tool_id=tool_id, on_sale=True)
        if tool is None:
            raise ToolNotFound()
        inventory_check_room(tool)
        if change.current.loyalty < tool.price:
            raise InsufficientLoyalty.for_price(price=tool.price, loyalty=change.current.loyalty)
        # A negative loyalty delta is never multiplied; the check above keeps it whole.
        step = change.record(
            LedgerEntry.Kind.TOOL_BUY,
            tool.pk,
            rules.apply(change.current, loyalty=-tool.price, limits=limits()),
        )
        item = inventory_add(user_id=user_id, tool=tool, quantity=1, now=now)
    return ChangeResult.of(change, step, item=item)


def tool_use(*, user_id: uuid.UUID, tool_id: str, now: dt.datetime) -> ChangeResult:
    """Use one held tool: quantity - 1, then its effects through ``rules.apply``.

    A tool with the ``streak_repair`` effect also restores the streak the last
    reset check-in lost (a second step, ``streak_restore``), within
    ``REPAIR_WINDOW_DAYS`` local days of the loss; otherwise it is refused
    with ``nothing_to_repair`` and the item is kept.

    A tool taken off sale (inactive) can still be used by those who hold it.
    The decrement is a compare-and-set (``quantity > 0``), so even without the
    lock the quantity could never go negative or be spent twice."""
    with state_change(user_id=user_id, now=now) as change:
        tool = tool_with_holding(user_id=user_id, tool_id=tool_id, on_sale=False)
        if tool is None:
            raise ToolNotFound()
        if tool.held_id is None or not tool.held_quantity:
            raise NotInInventory()
        repairs = bool(tool.effects.get(REPAIR_EFFECT))
        if repairs:
            repair_check(change)  # refused before anything is written: the item is kept
        taken = InventoryItem.objects.filter(pk=tool.held_id, quantity__gt=0).update(
            quantity=F("quantity") - 1, updated_at=now
        )
        if not taken:
            raise NotInInventory()
        step = change.record(
            LedgerEntry.Kind.TOOL_USE,
            tool.pk,
            rules.apply(change.current, **effects_kwargs(tool.effects), limits=limits()),
        )
        if repairs:
            # Its own entry (streak_restore), after the use's; the response's
            # meta shows what the use did in all.
            restore = record_streak_restore(change)
            step = dataclasses.replace(step, after=restore.after)
    return ChangeResult.of(change, step, item=Holding(tool=tool, quantity=tool.held_quantity - 1))
