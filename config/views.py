"""Service endpoints outside the versioned API: links, liveness, readiness."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from config.errors import page_not_found, problem_response


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


def api_not_found(request: HttpRequest) -> JsonResponse:
    return page_not_found(request)
