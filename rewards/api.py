"""HTTP for rewards, the tool shop and the caller's inventory."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from base.openapi import problems
from base.replica import ReplicaReadsMixin
from engagement.serializers import state_data, step_meta
from rewards import selectors, services
from rewards.models import Reward, Tool
from rewards.serializers import (
    InventoryOutputSerializer,
    NoInputSerializer,
    RewardClaimOutputSerializer,
    RewardOutputSerializer,
    ToolBuyOutputSerializer,
    ToolOutputSerializer,
    ToolUseOutputSerializer,
)

REWARD_ID = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The reward's id (a slug)."
)
TOOL_ID = OpenApiParameter(
    "tool_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The tool's id (a slug)."
)


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
        description=(
            "Every active reward with the caller's status (locked, unlocked, claimed) "
            "and progress towards its threshold."
        ),
        responses={200: RewardOutputSerializer(many=True), **problems(401, 429)},
    )
    def list(self, request):
        def read():
            statuses = selectors.rewards_for_user(user_id=request.user.pk, using=self.read_alias)
            return Response(RewardOutputSerializer(statuses, many=True).data)

        return self.reading(request, read)

    @extend_schema(
        operation_id="rewards_claim",
        description=(
            "Claim an unlocked reward: its effects apply once (loyalty gains multiplied by "
            "level). 404 `reward_not_found` for an unknown or inactive id; 409 "
            "`reward_locked` before it is unlocked, `already_claimed` after."
        ),
        parameters=[REWARD_ID],
        request=None,
        responses={
            200: RewardClaimOutputSerializer,
            **problems(400, 401, 404, 409, 413, 415, 422, 429),
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

    @extend_schema(
        operation_id="tools_list",
        description="The active tools on sale, cheapest first. No authentication.",
        responses={200: ToolOutputSerializer(many=True), **problems(429)},
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
        description=(
            "The tools the caller holds (quantity > 0) and the capacity: at most "
            "`max` distinct tools."
        ),
        responses={200: InventoryOutputSerializer, **problems(401, 429)},
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
        description=(
            "Buy one of an active tool; loyalty drops by its price (no multiplier). "
            "404 `tool_not_found`; 409 `inventory_full` when a new tool needs a slot and "
            "none is free, `insufficient_loyalty` when the price is not covered."
        ),
        parameters=[TOOL_ID],
        request=None,
        responses={
            201: ToolBuyOutputSerializer,
            **problems(400, 401, 404, 409, 413, 415, 422, 429),
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
        parameters=[TOOL_ID],
        request=None,
        responses={
            200: ToolUseOutputSerializer,
            **problems(400, 401, 404, 409, 413, 415, 422, 429),
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
