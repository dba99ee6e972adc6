"""``Idempotency-Key`` on authenticated POSTs, around the whole request."""

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from base.errors import problem_response
from idempotency import services
from users.authentication import token_user_id


class IdempotencyMiddleware:
    """``Idempotency-Key`` on authenticated POSTs (see ``idempotency.services``).

    The key is scoped to the user named by the bearer token. The request runs
    in one transaction with its key row: a retry with the same body replays the
    stored status and body (``Idempotent-Replayed: true``), a different body is
    422, and a concurrent retry waits for the first attempt. Responses that
    invite a retry (401, 403, 429, 5xx) are not stored; their transaction rolls
    back as a whole. Anonymous POSTs (register, login, refresh) are handled as
    if no key was sent: they are safe to repeat.
    """

    NOT_STORED = frozenset({401, 403, 408, 429})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def _stored(self, response: HttpResponse) -> bool:
        return (
            response.status_code < 500
            and response.status_code not in self.NOT_STORED
            and not response.streaming
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None:
            return self.get_response(request)
        try:
            services.idempotency_key_validate(key)
        except services.InvalidIdempotencyKey as exc:
            return problem_response(request, exc.status, exc.code, exc.detail)
        # The token is checked here, once: DRF's authentication reuses the outcome.
        user_id = token_user_id(request)
        if user_id is None:
            return self.get_response(request)
        fingerprint = services.request_fingerprint(
            method=request.method, path=request.get_full_path(), body=request.body
        )
        try:
            with transaction.atomic():
                record, stored = services.idempotency_key_claim(
                    user_id=user_id, key=key, fingerprint=fingerprint
                )
                if stored is not None:
                    replay = HttpResponse(
                        stored.body, status=stored.status_code, content_type=stored.content_type
                    )
                    replay["Idempotent-Replayed"] = "true"
                    return replay
                response = self.get_response(request)
                if not self._stored(response):
                    transaction.set_rollback(True)
                    return response
                services.idempotency_key_store(
                    record=record,
                    response=services.StoredResponse(
                        response.status_code,
                        response.content.decode(),
                        response.get("Content-Type", ""),
                    ),
                )
                return response
        except services.IdempotencyKeyReused as exc:
            return problem_response(request, exc.status, exc.code, exc.detail)
