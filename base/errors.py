"""One error vocabulary: RFC 9457 problem details with a stable ``code``.

Services raise :class:`DomainError` subclasses; the DRF exception handler and
Django's error handlers below turn every failure, the framework's own included,
into ``application/problem+json`` with the request id.
"""

import logging
import sys
from http import HTTPStatus
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, InterfaceError, InternalError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions

from base.db import note_database_failure

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:engagement:problem:"


class DomainError(Exception):
    """A business rule refused an operation. Subclasses set ``code`` and ``status``.

    ``members`` are extension members of the problem (RFC 9457 section 3.2): the
    values a client needs to act on it, such as a price and a balance. A
    subclass that sends some shows them in ``example_members`` (the OpenAPI
    examples) and declares them in a ``ProblemSerializer`` subclass."""

    status: int = 409
    code: str = "conflict"
    default_detail: str = "The request conflicts with the current state."
    example_members: ClassVar[dict[str, Any]] = {}

    def __init__(self, detail: str | None = None, **members: Any):
        self.detail = detail or self.default_detail
        self.members = members
        super().__init__(self.detail)


class QueryParameterError(exceptions.ValidationError):
    """Invalid query parameters: a validation problem that says so (``errors``
    names the parameters), where one about a body says the body is invalid."""


class NotFoundError(DomainError):
    status = 404
    code = "not_found"
    default_detail = "Not found."


def problem_response(
    request: HttpRequest | None,
    status: int,
    code: str,
    detail: str,
    *,
    errors: Any = None,
    headers: dict[str, str] | None = None,
    members: dict[str, Any] | None = None,
) -> JsonResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": getattr(request, "request_id", None),
    }
    if errors is not None:
        body["errors"] = errors
    for name, value in (members or {}).items():
        body.setdefault(name, value)
    response = JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# DRF exception class -> stable problem code (checked in order; subclasses first).
_API_EXCEPTION_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (exceptions.ParseError, "malformed_request"),
    (exceptions.ValidationError, "validation_error"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "authentication_failed"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "throttled"),
]


def _flatten_detail(detail: Any) -> str:
    if isinstance(detail, dict):
        detail = detail.get("detail", next(iter(detail.values()), ""))
    if isinstance(detail, list):
        detail = detail[0] if detail else ""
    return str(detail)


def _api_exception_problem(request: HttpRequest | None, exc: exceptions.APIException):
    code = next((c for cls, c in _API_EXCEPTION_CODES if isinstance(exc, cls)), "error")
    headers: dict[str, str] = {}
    errors = None
    if isinstance(exc, QueryParameterError):
        detail = "The query parameters are invalid."
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    elif isinstance(exc, exceptions.ValidationError):
        detail = "The request body is invalid."
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    else:
        detail = _flatten_detail(exc.detail)
    # simplejwt reports a bad token as {"detail": ..., "code": "token_not_valid", ...}.
    if isinstance(exc.detail, dict) and isinstance(exc.detail.get("code"), str):
        code = str(exc.detail["code"])
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    if isinstance(exc, exceptions.Throttled):
        # Throttled sets ``wait`` in __init__; the stubs do not declare it.
        wait: float | None = exc.wait  # type: ignore[attr-defined]
        if wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    return problem_response(request, exc.status_code, code, detail, errors=errors, headers=headers)


# The database went away (restart, failover, a terminated connection, an
# exhausted pool): the request was rolled back as a whole, and a retry is the
# right move. Django discards the broken connection when the request ends.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def database_failed(exc: BaseException | None) -> bool:
    """The database connection failed under the request (see DATABASE_UNAVAILABLE).

    Also an ``InternalError`` that psycopg raised itself, without a SQLSTATE
    from the server (e.g. "received 2 results from command 'BEGIN'"): the
    connection answered out of turn, as when PgBouncer passes on the FATAL of
    a server connection terminated under it, and is closed. An
    ``InternalError`` the server reported (it has a SQLSTATE, e.g. a statement
    in an aborted transaction) is a bug, and stays a 500."""
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return True
    cause = exc.__cause__ if isinstance(exc, InternalError) else None
    return cause is not None and getattr(cause, "sqlstate", "") is None


def database_unavailable(request: HttpRequest | None) -> JsonResponse:
    note_database_failure()
    return problem_response(
        request,
        503,
        "database_unavailable",
        "The database is not reachable right now; nothing was changed. Retry shortly.",
        headers={"Retry-After": "1"},
    )


def constraint_conflict(request: HttpRequest | None, exc: IntegrityError) -> JsonResponse:
    """A constraint refused a write that no service turned into a domain error.

    The database kept its invariant and the request's transaction rolled back,
    so the client gets a 409 it can act on; but every expected race is mapped
    to its own code by the service, so reaching this is a bug: logged as an
    error (and the test suite fails on it)."""
    logger.error("Unmapped constraint violation", exc_info=exc)
    return problem_response(
        request,
        409,
        "constraint_conflict",
        "The request conflicts with a concurrent change; nothing was changed. Retry it.",
    )


def problem_exception_handler(exc: Exception, context: dict[str, Any]):
    """DRF ``EXCEPTION_HANDLER``: every known failure becomes a problem response."""
    request = context.get("request")
    if database_failed(exc):
        logger.error("Database unavailable: %s", exc.__class__.__name__, exc_info=exc)
        return database_unavailable(request)
    if isinstance(exc, IntegrityError):
        return constraint_conflict(request, exc)
    if isinstance(exc, DomainError):
        return problem_response(request, exc.status, exc.code, exc.detail, members=exc.members)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException):
        authenticators = getattr(request, "authenticators", None)
        if authenticators and isinstance(
            exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)
        ):
            header = authenticators[0].authenticate_header(request)
            if header:
                # As DRF's APIView.handle_exception does; the stubs do not declare it.
                exc.auth_header = header  # type: ignore[union-attr]
        return _api_exception_problem(request, exc)
    # Anything else is a bug: Django logs it and handler500 answers.
    return None


# --- Django-level handlers (errors outside DRF views) ----------------------------------
def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(request, 400, "bad_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(request, 403, "permission_denied", "Permission denied.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(request, 404, "not_found", "No resource at this address.")


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """``CSRF_FAILURE_VIEW``: Django's own page is HTML. The API itself uses no
    cookies (DRF views are exempt); this answers for the admin and for forms."""
    return problem_response(
        request, 403, "csrf_failed", "CSRF verification failed; the request was not processed."
    )


def server_error(request: HttpRequest) -> JsonResponse:
    # Called while Django handles the exception, so it is still in sys.exc_info():
    # a database outage outside a DRF view (e.g. in a middleware) is a 503 too.
    escaped = sys.exc_info()[1]
    if database_failed(escaped):
        return database_unavailable(request)
    if isinstance(escaped, IntegrityError):
        return constraint_conflict(request, escaped)
    return problem_response(
        request, 500, "internal_error", "An unexpected error occurred; it has been logged."
    )
