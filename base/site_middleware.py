"""Django's session, authentication and message middlewares, for the HTML
site only (the admin, the root page, the docs).

The JSON API under ``/api/v1/`` authenticates every request by its bearer
token and never reads a session, ``request.user`` as Django sets it, or a
message; yet the stock middlewares build a session store, a lazy user and a
message storage for every request, and look at them again on the way out.
Measured in-process, these three with the CSRF and clickjacking middlewares
(which stay: CSRF's check already stops at the API's exempt views, and the
header is one assignment) cost about 45 µs of the 510 µs of a ``GET /me``
(docs/PERFORMANCE.md, "The floor, lever by lever"). These subclasses pass API requests
straight through and behave exactly as Django's for everything else; being
subclasses, the admin's system checks still find them in ``MIDDLEWARE``.
"""

from collections.abc import Awaitable, Callable

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase

# What Django's middleware mixin returns (a coroutine in an async stack).
Response = HttpResponseBase | Awaitable[HttpResponseBase]

API_PREFIX = "/api/v1/"


class _SkipsTheApi:
    """Before a Django middleware in the MRO: API requests go straight on."""

    get_response: Callable[[HttpRequest], Response]

    def __call__(self, request: HttpRequest) -> Response:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SiteSessionMiddleware(_SkipsTheApi, SessionMiddleware):
    pass


class SiteAuthenticationMiddleware(_SkipsTheApi, AuthenticationMiddleware):
    pass


class SiteMessageMiddleware(_SkipsTheApi, MessageMiddleware):
    pass
