from django.contrib import admin

from checkins.models import CheckIn
from config.admin_mixins import ReadOnlyAdminMixin


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "date", "streak", "freezes_used", "created_at")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    ordering = ("-id",)
    show_full_result_count = False
