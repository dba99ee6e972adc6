"""The v1 API: every resource mounted under /api/v1/, no trailing slashes."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_safe
from rest_framework.routers import SimpleRouter

from base.openapi import add_links
from checkins.api import CheckinViewSet
from engagement.api import LedgerViewSet
from events.api import EventViewSet
from leaderboards.api import LeaderboardViewSet
from privacy.api import MePrivacyViewSet
from rewards.api import InventoryViewSet, RewardViewSet, ToolViewSet
from users.api import AuthViewSet
from users.api import MeViewSet as ProfileViewSet

router = SimpleRouter(trailing_slash=False)
router.register("auth", AuthViewSet, basename="auth")
router.register("checkins", CheckinViewSet, basename="checkins")
router.register("ledger", LedgerViewSet, basename="ledger")
router.register("events", EventViewSet, basename="events")
router.register("leaderboards", LeaderboardViewSet, basename="leaderboards")
router.register("rewards", RewardViewSet, basename="rewards")
router.register("tools", ToolViewSet, basename="tools")
router.register("inventory", InventoryViewSet, basename="inventory")


class MeViewSet(ProfileViewSet, MePrivacyViewSet):
    """``/me``: the profile and state (``users``: GET, PATCH) and the caller's
    data (``privacy``: DELETE, and GET ``/me/export``) on one path."""


@require_safe
def api_root(request: HttpRequest) -> JsonResponse:
    prefix = request.path
    names = [
        "auth/register",
        "auth/login",
        "auth/refresh",
        "auth/logout",
        "auth/logout-all",
        "auth/password",
        "auth/password/reset",
        "auth/password/reset/confirm",
        "me",
        "me/export",
        "checkins",
        "ledger",
        "events",
        "leaderboards/streak",
        "leaderboards/weekly",
        "rewards",
        "tools",
        "inventory",
    ]
    return JsonResponse({"links": {name: prefix + name for name in names}})


urlpatterns = [
    path("", api_root, name="api-root"),
    path(
        "me",
        MeViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="me",
    ),
    path("me/export", MeViewSet.as_view({"get": "export"}), name="me-export"),
    # One object, not a list: mapped by hand like /me (buy/use come from the router).
    path("inventory", InventoryViewSet.as_view({"get": "summary"}), name="inventory"),
    *router.urls,
]


# Links between operations (OpenAPI 3 ``links``): how a client goes from one
# answer to the next call. Schemathesis' stateful phase follows them.
OPERATION_LINKS: dict[tuple[str, str], dict[str, dict]] = {
    ("tools_list", "200"): {
        "BuyTool": {
            "operationId": "inventory_buy",
            "parameters": {"tool_id": "$response.body#/0/id"},
        }
    },
    ("rewards_list", "200"): {
        "ClaimReward": {
            "operationId": "rewards_claim",
            "parameters": {"id": "$response.body#/0/id"},
        }
    },
    ("inventory_buy", "201"): {
        "UseTool": {
            "operationId": "inventory_use",
            "parameters": {"tool_id": "$response.body#/item/tool/id"},
        }
    },
    ("checkins_create", "201"): {
        "ListCheckins": {"operationId": "checkins_list"},
        "ListLedger": {"operationId": "ledger_list"},
        "ListRewards": {"operationId": "rewards_list"},
    },
}


def link_operations(result, generator, request, public):
    """drf-spectacular postprocessing hook: :data:`OPERATION_LINKS` into the schema."""
    return add_links(result, OPERATION_LINKS)
