from django.contrib import admin

from config.admin_mixins import ReadOnlyAdminMixin
from engagement.models import LedgerEntry, UserState


@admin.register(UserState)
class UserStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "user",
        "level",
        "energy",
        "fatigue",
        "loyalty",
        "streak",
        "longest_streak",
        "total_checkins",
        "streak_freezes",
        "last_checkin_date",
    )
    list_select_related = ("user",)
    search_fields = ("user__email",)
    show_full_result_count = False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "kind", "ref", "energy", "fatigue", "loyalty", "created_at")
    list_filter = ("kind",)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    ordering = ("-id",)
    show_full_result_count = False
