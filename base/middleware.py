"""Request-scoped plumbing that every response needs."""

import io
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import BinaryIO

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse

from base.db import recycle_connections_older_than_last_failure
from base.errors import problem_response
from base.request_context import request_id_var

access_logger = logging.getLogger("engagement.access")

# A client-sent id is echoed only when it is short and harmless in a log line.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Give every request an id (echoing a sane ``X-Request-ID``), return it,
    and write the access log line (method, path, status, duration, request id)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.log_access = settings.ACCESS_LOG

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # An attribute of our own (problem bodies read it); Django's request has no slot for it.
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs the response (django.request)
        # after the middleware chain has returned, and that line needs the id too.
        request_id_var.set(request_id)
        recycle_connections_older_than_last_failure()
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        if self.log_access:
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return response


class BodySizeLimitMiddleware:
    """Refuse oversized bodies with a 413 problem before anything reads them.

    A chunked body (``Transfer-Encoding: chunked``) comes without a
    Content-Length, and Django reads no further than Content-Length: the body
    would be dropped unseen. When the server has de-chunked it and ends the
    stream (``wsgi.input_terminated``; granian and gunicorn both do), up to
    limit + 1 bytes are read here and handed on with their length, so the
    request is size-limited and processed like any other. A server that cannot
    end the stream gets a 411: reading on could block, and guessing drops data.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.limit = settings.MAX_REQUEST_BODY_BYTES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw_length = request.META.get("CONTENT_LENGTH")
        if not raw_length and self._is_chunked(request):
            return self._buffer_chunked(request) or self.get_response(request)
        try:
            length = int(raw_length or 0)
        except ValueError:
            return problem_response(request, 400, "bad_request", "Content-Length is not a number.")
        if length > self.limit:
            return self._too_large(request)
        return self.get_response(request)

    def _too_large(self, request: HttpRequest) -> HttpResponse:
        return problem_response(
            request,
            413,
            "payload_too_large",
            f"Request bodies are limited to {self.limit} bytes.",
        )

    def _buffer_chunked(self, request: HttpRequest) -> HttpResponse | None:
        """Read a chunked body into memory; a response when it is refused."""
        if not request.META.get("wsgi.input_terminated"):
            return problem_response(
                request,
                411,
                "length_required",
                "This server cannot read chunked bodies; send a Content-Length.",
            )
        body = self._read_at_most(request.META["wsgi.input"], self.limit + 1)
        if len(body) > self.limit:
            return self._too_large(request)
        request.META["CONTENT_LENGTH"] = str(len(body))
        request.META["wsgi.input"] = io.BytesIO(body)
        # Django wrapped wsgi.input in a stream cut off at the (absent, so zero)
        # Content-Length when it built the request; hand it the body instead.
        # What WSGIRequest itself stores there; the stubs type the attribute as BinaryIO.
        request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[assignment]
        return None

    @staticmethod
    def _is_chunked(request: HttpRequest) -> bool:
        return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()

    @staticmethod
    def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
        """Up to ``limit`` bytes of ``stream``; a server may return short reads."""
        parts: list[bytes] = []
        size = 0
        while size < limit:
            part = stream.read(limit - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)
