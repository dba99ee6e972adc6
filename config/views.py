"""Service endpoints outside the versioned API: links, liveness, readiness."""

from collections.abc import Callable
from functools import wraps

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from base.errors import page_not_found, problem_response

SAFE_METHODS = ("GET", "HEAD")


def require_safe(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Django's ``require_safe``, but the 405 is a problem rather than an empty
    HTML page. CSRF-exempt: these views change nothing, and a POST should
    learn "405" rather than meet a CSRF refusal."""

    @wraps(view)
    def safe_only(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in SAFE_METHODS:
            return problem_response(
                request,
                405,
                "method_not_allowed",
                f'Method "{request.method}" not allowed.',
                headers={"Allow": ", ".join(SAFE_METHODS)},
            )
        return view(request, *args, **kwargs)

    return csrf_exempt(safe_only)


@require_safe
def root(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "name": "Stateful Engagement Backend",
            "links": {
                "api": "/api/v1/",
                "schema": reverse("schema"),
                "docs": reverse("swagger-ui"),
                "redoc": reverse("redoc"),
                "health": reverse("healthz"),
                "ready": reverse("readyz"),
                "admin": reverse("admin:index"),
            },
        }
    )


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering; says nothing about its dependencies."""
    return JsonResponse({"status": "ok"})


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers a query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        # Whatever the driver raised, the answer is the same: not ready.
        return problem_response(
            request, 503, "database_unavailable", "The database is not reachable."
        )
    return JsonResponse({"status": "ready", "database": "ok"})


# Exempt: an unknown address is a 404 whatever the method, never a CSRF page.
@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    return page_not_found(request)
