"""Check-ins in the admin: read-only, and the newest ones inline on a user's
page (composed by ``backoffice.admin``)."""

from django.contrib import admin

from base.admin_mixins import (
    BigTableAdminMixin,
    NewestInline,
    ReadOnlyAdminMixin,
    UserEmailSearchMixin,
    short_time,
)
from checkins.models import CheckIn


@admin.register(CheckIn)
class CheckInAdmin(UserEmailSearchMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "date", "user", "streak", "freezes_used", "created_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    ordering = ("-id",)  # the primary key; per user, the (user, date) unique index


class CheckInInline(NewestInline):
    model = CheckIn
    verbose_name_plural = f"check-ins (newest {NewestInline.shown})"
    ordering = ("-date",)  # the (user, date) unique index
    fields = ("date", "streak", "freezes_used", "created")

    @admin.display(description="created at")
    def created(self, checkin: CheckIn) -> str:
        return short_time(checkin.created_at)
