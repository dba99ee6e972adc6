"""Check-ins (read-only) and the staff dashboard.

The dashboard is served by the admin site itself (``CheckInAdmin.get_urls``,
wrapped in ``admin_view``: staff only, login redirect) at
``/admin/checkins/checkin/dashboard/`` and linked from the admin index.
"""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from base.admin_mixins import (
    BigTableAdminMixin,
    NewestInline,
    ReadOnlyAdminMixin,
    UserEmailSearchMixin,
)
from checkins.charts import bar_chart, column_chart, funnel_chart
from checkins.dashboard import dashboard_data
from checkins.models import CheckIn

admin.site.site_header = "Engagement administration"
admin.site.site_title = "Engagement admin"
admin.site.index_template = "admin/engagement_index.html"


@admin.register(CheckIn)
class CheckInAdmin(UserEmailSearchMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "date", "user", "streak", "freezes_used", "created_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    ordering = ("-id",)  # the primary key; per user, the (user, date) unique index

    def get_urls(self):
        dashboard = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="engagement_dashboard",
        )
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request):
        data = dashboard_data(today=timezone.now().date())
        charts = {
            "checkins": column_chart(
                [(d.day.strftime("%b %d"), d.count) for d in data.checkins_per_day],
                title="Check-ins per day",
            ),
            "active_users": column_chart(
                [(d.day.strftime("%b %d"), d.count) for d in data.active_users_per_day],
                title="Daily active users",
            ),
            "streaks": bar_chart(data.streak_buckets, title="Current streaks"),
            "funnel": funnel_chart(
                [(row.reward_id, row.unlocked, row.claimed) for row in data.funnel],
                title="Reward funnel",
            ),
        }
        context = {
            **self.admin_site.each_context(request),
            "title": "Engagement dashboard",
            "subtitle": f"{data.start:%b %d} - {data.end:%b %d, %Y}",
            "data": data,
            "charts": charts,
        }
        return TemplateResponse(request, "admin/checkins/dashboard.html", context)


class CheckInInline(NewestInline):
    model = CheckIn
    verbose_name_plural = f"check-ins (newest {NewestInline.shown})"
    ordering = ("-date",)  # the (user, date) unique index
    fields = ("date", "streak", "freezes_used", "created_at")
