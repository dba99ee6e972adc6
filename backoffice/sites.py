"""The admin site: Django's, with the staff dashboard.

The dashboard (with the webhook queue's health) is served by the site itself
(wrapped in ``admin_view``: staff only, login redirect) at ``/admin/dashboard/``
and linked from the admin index.
"""

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from backoffice.charts import bar_chart, column_chart, funnel_chart
from backoffice.dashboard import dashboard_data
from backoffice.queue_health import queue_health


class EngagementAdminSite(admin.AdminSite):
    site_header = "Engagement administration"
    site_title = "Engagement admin"
    index_template = "admin/backoffice/index.html"

    def get_urls(self):
        dashboard = path(
            "dashboard/", self.admin_view(self.dashboard_view), name="engagement_dashboard"
        )
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> TemplateResponse:
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
            **self.each_context(request),
            "title": "Engagement dashboard",
            "subtitle": f"{data.start:%b %d} - {data.end:%b %d, %Y}",
            "data": data,
            "charts": charts,
            "queue": queue_health(now=timezone.now()),
        }
        return TemplateResponse(request, "admin/backoffice/dashboard.html", context)
