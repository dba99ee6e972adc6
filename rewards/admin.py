"""The reward and tool catalogs (edited by staff, effects validated on save) and
the read-only ownership and inventory tables. A reward created active or
re-activated (its form or the list's action) enqueues its backfill: the users
who already meet its rule get it in the background."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse

from base.admin_mixins import (
    BigTableAdminMixin,
    NewestInline,
    ReadOnlyAdminMixin,
    UserEmailSearchMixin,
    short_time,
)
from base.plurals import counted
from rewards.effects import EFFECT_KEYS, REPAIR_EFFECT
from rewards.models import InventoryItem, Reward, Tool, UserReward
from rewards.services.backfill import reward_backfill_enqueue

EFFECTS_HELP = (
    "A JSON object of integers under "
    + ", ".join(EFFECT_KEYS)
    + ', e.g. {"loyalty": 10, "streak_freezes": 1}. {} for none. '
    "Positive loyalty is multiplied by the user's level bonus; everything is clamped to the "
    "state's bounds."
)
TOOL_EFFECTS_HELP = (
    EFFECTS_HELP
    + f' A tool may also have "{REPAIR_EFFECT}": 1: using it restores the streak the user\'s '
    "last reset check-in lost, within REPAIR_WINDOW_DAYS of the loss (refused otherwise, and "
    "the item is kept)."
)


def effects_text(effects: dict) -> str:
    return ", ".join(f"{key} {value:+d}" for key, value in sorted(effects.items())) or "—"


class RewardForm(forms.ModelForm):
    threshold = forms.IntegerField(min_value=1)

    class Meta:
        model = Reward
        fields = (
            "id",
            "title",
            "description",
            "rule",
            "threshold",
            "effects",
            "auto_claim",
            "active",
        )
        help_texts = {
            "id": "A permanent slug; it cannot be changed later.",
            "effects": EFFECTS_HELP,
            "auto_claim": "Claim it in the same transaction that unlocks it.",
            "active": "Inactive rewards neither unlock nor can be claimed; ownership stays.",
        }


class ToolForm(forms.ModelForm):
    price = forms.IntegerField(min_value=0, help_text="In loyalty points (no multiplier).")

    class Meta:
        model = Tool
        fields = ("id", "name", "description", "price", "effects", "active")
        help_texts = {
            "id": "A permanent slug; it cannot be changed later.",
            "effects": TOOL_EFFECTS_HELP,
            "active": "Inactive tools are off sale; users who hold them can still use them.",
        }


class CatalogAdmin(admin.ModelAdmin):
    """Rewards and tools. Entries that users own cannot be deleted (the
    ownership and inventory rows refer to them): deleting one, alone or from
    the list, says so and points to deactivation instead."""

    actions = ("make_active", "make_inactive", "delete_selected")
    owners_relation = ""  # the reverse relation of the rows that refer to an entry

    def owned(self, queryset):
        """The entries of ``queryset`` that some user owns (one query)."""
        return queryset.filter(**{f"{self.owners_relation}__isnull": False}).distinct()

    def refuse_owned(self, request, entries) -> None:
        names = ", ".join(str(entry.pk) for entry in entries)
        self.message_user(
            request,
            f"Not deleted: users own {names}, and what they own refers to it. Deactivate "
            'instead: untick Active on its page, or select it on the list and use "Take the '
            'selected entries off (inactive)". Users who own it keep it.',
            messages.ERROR,
        )

    def delete_view(self, request, object_id, extra_context=None):
        entry = self.get_object(request, unquote(object_id))
        if entry is not None and self.owned(self.model.objects.filter(pk=entry.pk)).exists():
            self.refuse_owned(request, [entry])
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[entry.pk])
            )
        return super().delete_view(request, object_id, extra_context)

    @admin.action(description="Delete selected %(verbose_name_plural)s", permissions=["delete"])
    def delete_selected(self, request, queryset):
        owned = list(self.owned(queryset))
        if owned:
            self.refuse_owned(request, owned)
            return None
        return django_delete_selected(self, request, queryset)

    def get_readonly_fields(self, request, obj=None):
        # The id is the primary key: "changing" it in a form would copy the row.
        return ("id", "created_at") if obj else ("created_at",)

    @admin.display(description="effects")
    def effects_summary(self, obj) -> str:
        return effects_text(obj.effects)

    @admin.action(description="Put the selected entries on (active)", permissions=["change"])
    def make_active(self, request, queryset):
        self._set_active(request, queryset, active=True)

    @admin.action(description="Take the selected entries off (inactive)", permissions=["change"])
    def make_inactive(self, request, queryset):
        self._set_active(request, queryset, active=False)

    def _set_active(self, request, queryset, *, active: bool) -> None:
        changed = list(queryset.exclude(active=active))
        queryset.filter(pk__in=[obj.pk for obj in changed]).update(active=active)
        for obj in changed:
            self.log_change(request, obj, f"Set active={active}.")
        state = "active" if active else "inactive"
        self.message_user(
            request, f"{counted(len(changed), 'entry', 'entries')} set {state}.", messages.SUCCESS
        )
        if active and changed:
            self.activated(request, changed)

    def activated(self, request, objs) -> None:
        """Entries that were just created active or re-activated (hook)."""


@admin.register(Reward)
class RewardAdmin(CatalogAdmin):
    form = RewardForm
    owners_relation = "owners"
    list_display = (
        "id",
        "title",
        "rule",
        "threshold",
        "effects_summary",
        "auto_claim",
        "active",
    )
    list_display_links = ("id", "title")
    list_filter = ("active", "rule", "auto_claim")
    search_fields = ("id", "title", "description")
    ordering = ("rule", "threshold", "id")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.active and (not change or "active" in form.changed_data):
            self.activated(request, [obj])

    def activated(self, request, objs) -> None:
        # In the admin's transaction: the task rows commit with the rewards.
        for obj in objs:
            reward_backfill_enqueue(reward_id=obj.pk)
        names = ", ".join(str(obj.pk) for obj in objs)
        self.message_user(
            request,
            f"Backfill enqueued for {names}: users who already meet the rule get it in the "
            "background (manage.py backfill_rewards does it by hand).",
            messages.INFO,
        )


@admin.register(Tool)
class ToolAdmin(CatalogAdmin):
    form = ToolForm
    owners_relation = "holders"
    list_display = ("id", "name", "price", "effects_summary", "active")
    list_display_links = ("id", "name")
    list_filter = ("active",)
    search_fields = ("id", "name", "description")
    ordering = ("price", "id")


@admin.register(UserReward)
class UserRewardAdmin(
    UserEmailSearchMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = ("id", "user", "reward", "unlocked_at", "claimed_at")
    list_select_related = ("user", "reward")
    list_filter = ("reward",)
    raw_id_fields = ("user",)
    ordering = ("-id",)


@admin.register(InventoryItem)
class InventoryItemAdmin(
    UserEmailSearchMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = ("id", "user", "tool", "quantity", "updated_at")
    list_select_related = ("user", "tool")
    list_filter = ("tool",)
    raw_id_fields = ("user",)
    ordering = ("-id",)


class UserRewardInline(NewestInline):
    model = UserReward
    verbose_name_plural = f"rewards (newest {NewestInline.shown})"
    ordering = ("-id",)
    fields = ("reward", "unlocked", "claimed")
    list_select_related = ("reward",)

    @admin.display(description="unlocked at")
    def unlocked(self, owned: UserReward) -> str:
        return short_time(owned.unlocked_at)

    @admin.display(description="claimed at")
    def claimed(self, owned: UserReward) -> str:
        return short_time(owned.claimed_at)


class InventoryInline(NewestInline):
    """What the user holds: rows used up to quantity 0 are left out, as the API does."""

    model = InventoryItem
    verbose_name_plural = "inventory (tools held)"
    ordering = ("-id",)
    fields = ("tool", "quantity", "updated")
    list_select_related = ("tool",)

    @admin.display(description="updated at")
    def updated(self, item: InventoryItem) -> str:
        return short_time(item.updated_at)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(quantity__gt=0)
