"""All of one user's data, as plain JSON-ready values (for ``export_user``):
profile, state, check-ins, rewards, inventory, ledger and idempotency keys.
Secrets (the password hash) and stored response bodies are left out."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from checkins.models import CheckIn
from engagement import rules
from engagement.models import LedgerEntry, UserState
from idempotency.models import IdempotencyKey
from rewards.models import InventoryItem, UserReward
from users.models import User

FORMAT_VERSION = 1
PROFILE_FIELDS = (
    "id",
    "email",
    "display_name",
    "timezone",
    "timezone_changed_at",
    "date_joined",
    "last_login",
    "is_active",
    "is_staff",
)


def user_export(*, user: User) -> dict[str, Any]:
    """Seven queries, each over one of the user's per-user indexes."""
    state = (
        UserState.objects.filter(user_id=user.pk)
        .values(*rules.STATE_FIELDS, "last_checkin_date", "updated_at")
        .first()
    )
    return {
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.now(),
        "user": {name: getattr(user, name) for name in PROFILE_FIELDS},
        "state": state,
        "checkins": list(
            CheckIn.objects.filter(user_id=user.pk)
            .order_by("date")
            .values("date", "streak", "freezes_used", "created_at")
        ),
        "rewards": list(
            UserReward.objects.filter(user_id=user.pk)
            .order_by("id")
            .values("reward_id", "reward__title", "unlocked_at", "claimed_at")
        ),
        "inventory": list(
            InventoryItem.objects.filter(user_id=user.pk)
            .order_by("id")
            .values("tool_id", "tool__name", "quantity", "updated_at")
        ),
        "ledger": list(
            LedgerEntry.objects.filter(user_id=user.pk)
            .order_by("id")
            .values("id", "created_at", "kind", "ref", "reason", *rules.STATE_FIELDS, "state_after")
        ),
        "idempotency_keys": list(
            IdempotencyKey.objects.filter(user_id=user.pk)
            .order_by("id")
            .values("key", "status_code", "created_at")
        ),
    }
