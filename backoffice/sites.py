"""The admin site: Django's, with the staff dashboard.

The dashboard (with the webhook queue's health) is served by the site itself
(wrapped in ``admin_view``: staff only, login redirect) at ``/admin/dashboard/``.
It is the one entry of an "Overview" section that the site puts first in its
app list, so the index and the navigation sidebar both link to it once.
"""

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from backoffice.charts import bar_chart, column_chart, funnel_chart
from backoffice.dashboard import dashboard_data
from backoffice.queue_health import queue_health


class EngagementAdminSite(admin.AdminSite):
    site_header = "Engagement administration"
    site_title = "Engagement admin"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        url = reverse("admin:engagement_dashboard", current_app=self.name)
        overview = {
            "name": "Overview",
            "app_label": "overview",
            "app_url": url,
            "has_module_perms": True,
            "models": [
                {
                    "name": "Engagement dashboard",
                    "object_name": "Dashboard",
                    "admin_url": url,
                    "add_url": None,
                    "view_only": True,
                    "perms": {"view": True},
                }
            ],
        }
        return [overview, *apps]

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
            "streaks": bar_chart(
                [*data.streak_buckets, ("none", data.without_live_streak)],
                title="Current streaks",
            ),
            "funnel": funnel_chart(
                [(row.title or row.reward_id, row.unlocked, row.claimed) for row in data.funnel],
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
