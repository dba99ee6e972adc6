"""The session, authentication and message middlewares run for the HTML site
and are skipped for the JSON API (base/site_middleware.py)."""

import pytest
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory

from base.site_middleware import (
    SiteAuthenticationMiddleware,
    SiteMessageMiddleware,
    SiteSessionMiddleware,
)

SITE_CHAIN = [SiteSessionMiddleware, SiteAuthenticationMiddleware, SiteMessageMiddleware]


def attributes_seen_by_the_view(path: str) -> set[str]:
    seen: set[str] = set()

    def view(request):
        seen.update(name for name in ("session", "user", "_messages") if hasattr(request, name))
        return HttpResponse()

    handler = view
    for middleware in reversed(SITE_CHAIN):
        handler = middleware(handler)
    handler(RequestFactory().get(path))
    return seen


@pytest.mark.parametrize("path", ["/admin/", "/", "/api/docs/", "/api/schema/"])
def test_the_site_gets_a_session_a_user_and_messages(path):
    assert attributes_seen_by_the_view(path) == {"session", "user", "_messages"}


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/checkins"])
def test_the_api_gets_none_of_them(path):
    assert attributes_seen_by_the_view(path) == set()


def test_they_stand_where_djangos_stood_and_the_admin_checks_find_them():
    chain = settings.MIDDLEWARE
    assert chain.index("base.site_middleware.SiteSessionMiddleware") < chain.index(
        "base.site_middleware.SiteAuthenticationMiddleware"
    )
    assert issubclass(SiteSessionMiddleware, SessionMiddleware)
    assert issubclass(SiteAuthenticationMiddleware, AuthenticationMiddleware)
    assert issubclass(SiteMessageMiddleware, MessageMiddleware)
