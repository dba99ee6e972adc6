from django.contrib import admin

from config.admin_mixins import ReadOnlyAdminMixin
from rewards.models import InventoryItem, Reward, Tool, UserReward


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "rule", "threshold", "effects", "auto_claim", "active")
    list_filter = ("rule", "auto_claim", "active")
    search_fields = ("id", "title")


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "price", "effects", "active")
    list_filter = ("active",)
    search_fields = ("id", "name")


@admin.register(UserReward)
class UserRewardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "reward", "unlocked_at", "claimed_at")
    list_select_related = ("user", "reward")
    list_filter = ("reward",)
    search_fields = ("user__email",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(InventoryItem)
class InventoryItemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "tool", "quantity", "updated_at")
    list_select_related = ("user", "tool")
    search_fields = ("user__email",)
    ordering = ("-id",)
    show_full_result_count = False
