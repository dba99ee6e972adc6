"""Service endpoints outside the versioned API: links, liveness, readiness."""

from collections.abc import Callable
from functools import wraps

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html, format_html_join
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


ROOT_TYPES = ("application/json", "text/html")

# (key in the JSON links, label on the HTML page)
ROOT_PAGE_LINKS = (
    ("docs", "API documentation (Swagger UI)"),
    ("redoc", "API reference (ReDoc)"),
    ("schema", "OpenAPI document"),
    ("api", "API root"),
    ("admin", "Admin, for staff"),
    ("health", "Health"),
    ("ready", "Readiness"),
)

ROOT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto;
  padding: 0 1rem; color: #222; background: #fff; }}
h1 {{ font-size: 1.4rem; }} li {{ margin: 0.3rem 0; }} code {{ color: #555; }}
@media (prefers-color-scheme: dark) {{ body {{ color: #ddd; background: #121212; }}
  a {{ color: #8ab4f8; }} code {{ color: #aaa; }} }}
</style></head>
<body><h1>{}</h1>
<p>The JSON API lives under <code>/api/v1/</code>. API clients asking for JSON get these
links as a JSON object from this address.</p>
<ul id="links">{}</ul>
</body></html>
"""


def root_links() -> dict[str, str]:
    return {
        "api": "/api/v1/",
        "schema": reverse("schema"),
        "docs": reverse("swagger-ui"),
        "redoc": reverse("redoc"),
        "health": reverse("healthz"),
        "ready": reverse("readyz"),
        "admin": reverse("admin:index"),
    }


@require_safe
def root(request: HttpRequest) -> HttpResponse:
    """The links, as JSON for API clients (no Accept, ``*/*`` or JSON first)
    and as a small HTML page for browsers (``text/html`` preferred)."""
    name = "Stateful Engagement Backend"
    links = root_links()
    if request.get_preferred_type(ROOT_TYPES) == "text/html":
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> <code>{}</code></li>',
            ((links[key], label, links[key]) for key, label in ROOT_PAGE_LINKS),
        )
        response: HttpResponse = HttpResponse(format_html(ROOT_PAGE, name, name, items))
    else:
        response = JsonResponse({"name": name, "links": links})
    patch_vary_headers(response, ("Accept",))
    return response


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


# The API documentation pages (Swagger UI, ReDoc) may load this server's files
# only. Inline scripts and styles start them; ReDoc's search runs in a worker
# made from a blob. Without it ReDoc would fetch its vendor's logo.
DOCS_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)


def local_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serves ``view`` with :data:`DOCS_CSP`: the browser refuses any other host."""

    @wraps(view)
    def with_policy(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response

    return with_policy


# Exempt: an unknown address is a 404 whatever the method, never a CSRF page.
@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    return page_not_found(request)
