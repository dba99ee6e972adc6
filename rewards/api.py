"""HTTP for rewards, the tool shop and the caller's inventory."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from base.openapi import problem
from base.replica import ReplicaReadsMixin
from engagement.examples import STATE_EXAMPLE, meta_example
from engagement.serializers import state_data, step_meta
from rewards import selectors, services
from rewards.errors import (
    AlreadyClaimed,
    InsufficientLoyalty,
    InventoryFull,
    NothingToRepair,
    NotInInventory,
    RewardLocked,
    RewardNotFound,
    ToolNotFound,
)
from rewards.models import Reward, Tool
from rewards.serializers import (
    InventoryOutputSerializer,
    NoInputSerializer,
    RewardClaimOutputSerializer,
    RewardOutputSerializer,
    ToolBuyConflictSerializer,
    ToolBuyOutputSerializer,
    ToolOutputSerializer,
    ToolUseOutputSerializer,
)
from throttles.throttling import AnonymousRateThrottle

REWARD_ID = OpenApiParameter(
    "id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The reward's id (a slug).",
    examples=[OpenApiExample("Three in a row", value="streak_3")],
)
TOOL_ID = OpenApiParameter(
    "tool_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The tool's id (a slug).",
    examples=[OpenApiExample("Coffee", value="coffee")],
)
COFFEE = {
    "id": "coffee",
    "name": "Coffee",
    "description": "A quick lift: more energy, a little more fatigue.",
    "price": 10,
    "effects": {"energy": 15, "fatigue": 2},
}
STREAK_3 = {
    "id": "streak_3",
    "title": "Three in a row",
    "description": "Check in three days in a row.",
    "rule": "streak",
    "threshold": 3,
    "effects": {"loyalty": 10},
    "auto_claim": False,
}
_STREAK_3_STATE = {**STATE_EXAMPLE, "streak": 3, "longest_streak": 3, "total_checkins": 3}


def _example(name: str, value: object) -> list[OpenApiExample]:
    return [OpenApiExample(name, value=value, response_only=True)]


def _slug_id_regex(model: type[Reward | Tool]) -> str:
    """The URL pattern of a SlugField primary key: an id no row can have (a NUL
    byte, which PostgreSQL refuses in text, a space, an overlong one) is a 404
    from the router and never reaches the database."""
    return rf"[-a-zA-Z0-9_]{{1,{model._meta.get_field('id').max_length}}}"


def _no_input(request: Request) -> None:
    NoInputSerializer(data=request.data).is_valid(raise_exception=True)


@extend_schema(tags=["rewards"])
class RewardViewSet(ReplicaReadsMixin, viewsets.ViewSet):
    lookup_field = "id"
    lookup_value_regex = _slug_id_regex(Reward)

    @extend_schema(
        operation_id="rewards_list",
        summary="List rewards with my progress",
        description=(
            "Every active reward with the caller's status (locked, unlocked, claimed) "
            "and progress towards its threshold. Rewards the caller unlocked stay listed "
            "after staff deactivate them."
        ),
        responses={
            200: OpenApiResponse(
                RewardOutputSerializer(many=True),
                description="The rewards, each with the caller's status and progress.",
                examples=_example(
                    "One locked reward",
                    {
                        **STREAK_3,
                        "status": "locked",
                        "unlocked_at": None,
                        "claimed_at": None,
                        "progress": {"current": 1, "target": 3},
                    },
                ),
            )
        },
    )
    def list(self, request):
        def read():
            statuses = selectors.rewards_for_user(user_id=request.user.pk, using=self.read_alias)
            return Response(RewardOutputSerializer(statuses, many=True).data)

        return self.reading(request, read)

    @extend_schema(
        operation_id="rewards_claim",
        summary="Claim an unlocked reward",
        description=(
            "Claim an unlocked reward: its effects apply once (loyalty gains multiplied by "
            "level). 404 `reward_not_found` for an unknown or inactive id; 409 "
            "`reward_locked` before it is unlocked, `already_claimed` after."
        ),
        parameters=[REWARD_ID],
        request=None,
        responses={
            200: OpenApiResponse(
                RewardClaimOutputSerializer,
                description="The reward, the state after its effects, and what that unlocked.",
                examples=_example(
                    "Three in a row claimed",
                    {
                        "reward": {
                            **STREAK_3,
                            "status": "claimed",
                            "unlocked_at": "2026-03-04T08:15:00.123456Z",
                            "claimed_at": "2026-03-04T08:16:00.654321Z",
                            "progress": {"current": 3, "target": 3},
                        },
                        "state": {**_STREAK_3_STATE, "loyalty": 25},
                        "unlocked": [],
                        "meta": meta_example(10, loyalty=10),
                    },
                ),
            ),
            **problem(404, RewardNotFound),
            **problem(409, RewardLocked, AlreadyClaimed),
        },
    )
    @action(detail=True, methods=["post"])
    def claim(self, request, id: str):
        _no_input(request)
        result = services.reward_claim(user_id=request.user.pk, reward_id=id, now=timezone.now())
        return Response(
            RewardClaimOutputSerializer(
                {
                    "reward": result.reward,
                    "state": state_data(result.state, result.today),
                    "unlocked": result.unlocked,
                    "meta": step_meta(result.step),
                }
            ).data
        )


@extend_schema(tags=["shop"])
class ToolViewSet(ReplicaReadsMixin, viewsets.ViewSet):
    """The shop catalog is public."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonymousRateThrottle]

    @extend_schema(
        operation_id="tools_list",
        summary="List the tools on sale",
        description=(
            "The active tools on sale, cheapest first, with their price in loyalty and "
            "their effects. No authentication; limited per client IP."
        ),
        responses={
            200: OpenApiResponse(
                ToolOutputSerializer(many=True),
                description="The catalog, cheapest first.",
                examples=_example("Coffee", COFFEE),
            )
        },
    )
    def list(self, request):
        def read():
            tools = selectors.tools_for_sale(using=self.read_alias)
            return Response(ToolOutputSerializer(tools, many=True).data)

        return self.reading(request, read)


@extend_schema(tags=["shop"])
class InventoryViewSet(viewsets.ViewSet):
    lookup_field = "tool_id"
    lookup_value_regex = _slug_id_regex(Tool)

    @extend_schema(
        operation_id="inventory_retrieve",
        summary="My inventory",
        description=(
            "The tools the caller holds (quantity > 0) and the capacity: at most "
            "`max` distinct tools."
        ),
        responses={
            200: OpenApiResponse(
                InventoryOutputSerializer,
                description="The held tools and the capacity used.",
                examples=_example(
                    "One coffee",
                    {"capacity": {"max": 5, "used": 1}, "items": [{"tool": COFFEE, "quantity": 1}]},
                ),
            )
        },
    )
    def summary(self, request):
        inventory = selectors.inventory_for_user(user_id=request.user.pk)
        return Response(
            InventoryOutputSerializer(
                {
                    "capacity": {"max": inventory.capacity_max, "used": inventory.capacity_used},
                    "items": inventory.items,
                }
            ).data
        )

    @extend_schema(
        operation_id="inventory_buy",
        summary="Buy a tool",
        description=(
            "Buy one of an active tool; loyalty drops by its price (no multiplier). "
            "404 `tool_not_found`; 409 `inventory_full` when a new tool needs a slot and "
            "none is free, `insufficient_loyalty` when the price is not covered (the problem "
            "carries the tool's `price` and the caller's `loyalty`)."
        ),
        parameters=[TOOL_ID],
        request=None,
        responses={
            201: OpenApiResponse(
                ToolBuyOutputSerializer,
                description="The inventory item after the purchase and the new state.",
                examples=_example(
                    "A coffee bought",
                    {
                        "item": {"tool": COFFEE, "quantity": 1},
                        "state": {**STATE_EXAMPLE, "loyalty": 15},
                        "unlocked": [],
                    },
                ),
            ),
            **problem(404, ToolNotFound),
            **problem(
                409,
                InventoryFull,
                InsufficientLoyalty,
                description="`price` and `loyalty` come with `insufficient_loyalty` only.",
                serializer=ToolBuyConflictSerializer,
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def buy(self, request, tool_id: str):
        _no_input(request)
        result = services.tool_buy(user_id=request.user.pk, tool_id=tool_id, now=timezone.now())
        return Response(
            ToolBuyOutputSerializer(
                {
                    "item": result.item,
                    "state": state_data(result.state, result.today),
                    "unlocked": result.unlocked,
                }
            ).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        operation_id="inventory_use",
        description=(
            "Use one held tool: quantity drops by one and its effects apply. A tool with "
            "`streak_repair` also restores the streak the last reset check-in lost "
            "(`state.lost_streak`, lost on `state.streak_lost_on`): `streak` becomes lost + "
            "current, `longest_streak` follows, within `REPAIR_WINDOW_DAYS` (2) local days of "
            "the loss, once per loss; `meta.applied` shows both. "
            "404 `tool_not_found`; 409 `not_in_inventory` when none is held, "
            "`nothing_to_repair` when a `streak_repair` tool finds no loss to restore (none "
            "kept, restored already, or past the window): the item is kept."
        ),
        summary="Use a held tool",
        parameters=[TOOL_ID],
        request=None,
        responses={
            200: OpenApiResponse(
                ToolUseOutputSerializer,
                description="The item after the use, the new state and the applied effects.",
                examples=_example(
                    "A coffee used",
                    {
                        "item": {"tool": COFFEE, "quantity": 0},
                        "state": {**STATE_EXAMPLE, "energy": 85, "fatigue": 12},
                        "meta": meta_example(energy=15, fatigue=2),
                        "unlocked": [],
                    },
                ),
            ),
            **problem(404, ToolNotFound),
            **problem(409, NotInInventory, NothingToRepair),
        },
    )
    @action(detail=True, methods=["post"])
    def use(self, request, tool_id: str):
        _no_input(request)
        result = services.tool_use(user_id=request.user.pk, tool_id=tool_id, now=timezone.now())
        return Response(
            ToolUseOutputSerializer(
                {
                    "item": result.item,
                    "state": state_data(result.state, result.today),
                    "meta": step_meta(result.step),
                    "unlocked": result.unlocked,
                }
            ).data
        )
