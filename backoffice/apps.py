from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class BackofficeConfig(AppConfig):
    """The top floor below the wiring: staff and operator tools that combine
    several apps (the admin site and the user page, the dashboard, simulate,
    export, verify_invariants, grant, release, wait_for_database). Nothing in
    the domain imports it."""

    name = "backoffice"
    default = True


class AdminSiteConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with this project's site as ``admin.site``
    (listed in INSTALLED_APPS in its place)."""

    default = False
    default_site = "backoffice.sites.EngagementAdminSite"
