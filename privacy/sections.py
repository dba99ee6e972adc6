"""Where a user's rows are: the sections of the export, and every relation to
the user model that an erasure empties.

Each :class:`Section` names a model and says which of its columns the export
shows; the relations are found by walking the models, so a model added later
(by any app, e.g. simplejwt's ``token_blacklist``) is erased without being
listed here. ``privacy/tests/test_completeness.py`` fails when a model that
points at the user has no section, so the export cannot silently miss it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Field, Model

from engagement.rules import LOSS_FIELDS, STATE_FIELDS

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
    "leaderboard_opt_in",
)


@dataclass(frozen=True)
class Section:
    """One key of the export document: the rows of ``model`` whose
    ``user_field`` is the user, with ``fields`` (columns or lookups across a
    relation) and ``renamed`` (output name -> lookup), ordered by ``order_by``.
    ``one``: at most one row, exported as an object or null instead of a list."""

    name: str
    model: str  # "app_label.ModelName"; left out when its app is not installed
    fields: tuple[str, ...] = ()
    renamed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    user_field: str = "user"
    order_by: tuple[str, ...] = ("pk",)
    one: bool = False

    def model_class(self) -> type[Model] | None:
        app_label, _, model_name = self.model.partition(".")
        if app_label not in apps.app_configs:
            return None
        return apps.get_model(app_label, model_name)


SECTIONS: tuple[Section, ...] = (
    Section("user", "users.User", PROFILE_FIELDS, user_field="pk", one=True),
    Section(
        "state",
        "engagement.UserState",
        (*STATE_FIELDS, "last_checkin_date", *LOSS_FIELDS, "updated_at"),
        one=True,
    ),
    Section(
        "checkins",
        "checkins.CheckIn",
        ("date", "streak", "freezes_used", "created_at"),
        order_by=("date",),
    ),
    Section(
        "rewards",
        "rewards.UserReward",
        ("reward_id", "reward__title", "unlocked_at", "claimed_at"),
        order_by=("id",),
    ),
    Section(
        "inventory",
        "rewards.InventoryItem",
        ("tool_id", "tool__name", "quantity", "updated_at"),
        order_by=("id",),
    ),
    Section(
        "ledger",
        "engagement.LedgerEntry",
        ("id", "created_at", "kind", "ref", "reason", *STATE_FIELDS, "state_after"),
        order_by=("id",),
    ),
    Section(
        "weekly_checkins",
        "leaderboards.WeeklyCheckins",
        ("week_start", "checkins"),
        order_by=("week_start",),
    ),
    Section(
        "events",
        "events.Event",
        ("id", "type", "created_at", "data"),
        order_by=("created_at", "id"),
    ),
    # The user's requests, not the stored response bodies.
    Section(
        "idempotency_keys",
        "idempotency.IdempotencyKey",
        ("key", "status_code", "created_at"),
        order_by=("id",),
    ),
    Section(
        "groups",
        "users.User_groups",
        renamed=MappingProxyType({"name": "group__name"}),
        order_by=("group__name",),
    ),
    Section(
        "permissions",
        "users.User_user_permissions",
        renamed=MappingProxyType(
            {
                "app_label": "permission__content_type__app_label",
                "codename": "permission__codename",
            }
        ),
        order_by=("permission__content_type__app_label", "permission__codename"),
    ),
    # A staff member's own actions in the admin: when and on what kind of row,
    # not which row nor its text (those describe other people).
    Section(
        "admin_log",
        "admin.LogEntry",
        ("action_time", "action_flag"),
        renamed=MappingProxyType(
            {"app_label": "content_type__app_label", "model": "content_type__model"}
        ),
        order_by=("id",),
    ),
    # simplejwt's issued refresh tokens, once its blacklist app is installed:
    # their ids and lifetimes, never the tokens themselves.
    Section(
        "refresh_tokens",
        "token_blacklist.OutstandingToken",
        ("jti", "created_at", "expires_at"),
        renamed=MappingProxyType({"blacklisted_at": "blacklistedtoken__blacklisted_at"}),
        order_by=("id",),
    ),
)


def installed_sections() -> Iterator[tuple[Section, type[Model]]]:
    for section in SECTIONS:
        model = section.model_class()
        if model is not None:
            yield section, model


def user_relations() -> Iterator[tuple[type[Model], Field]]:
    """Every column that points at a user: (model, foreign key or one-to-one
    field), over every installed model, the many-to-many tables included,
    whatever the relation's ``on_delete``."""
    user_model = get_user_model()
    for model in apps.get_models(include_auto_created=True):
        for model_field in model._meta.concrete_fields:
            if model_field.is_relation and model_field.related_model is user_model:
                yield model, model_field
