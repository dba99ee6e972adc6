"""``Idempotency-Key`` on authenticated POSTs and on registration, around the
whole request."""

from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

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
    back as a whole.

    ``POST auth/register`` with a key is retry-safe too (:meth:`register`): a
    client that timed out gets its 201 again, tokens included, not 409
    ``email_taken``. Other anonymous POSTs (login, refresh) are handled as if
    no key was sent: they are safe to repeat.
    """

    REGISTER_URL_NAME = "auth-register"

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
        if request.path == reverse(self.REGISTER_URL_NAME):
            return self.register(request, key)
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
                    user_id=user_id, key=key, fingerprint=fingerprint, now=timezone.now()
                )
                if stored is not None:
                    return self._replay(stored)
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
        except IntegrityError:
            # The key row's foreign key is checked at commit: the account was
            # erased while this request ran (its erasure committed first).
            if services.key_owner_exists(user_id=user_id):
                raise
            gone = services.KeyOwnerGone()
            return problem_response(request, gone.status, gone.code, gone.detail)

    def register(self, request: HttpRequest, key: str) -> HttpResponse:
        """A keyed registration, scoped to the key and the e-mail.

        The registration runs in one transaction with its key row, which
        belongs to the new account. A retry with the same body (and password)
        replays the stored 201; the same key and e-mail with another body is
        422. Concurrent attempts: the database lets one create the account;
        the others' insert waits for it to commit, fails on the e-mail's unique
        index (409 ``email_taken`` from the view), and then finds and replays
        the first one's row. Only a 201 is stored (there is no account to
        keep another answer with); anything else passes through unchanged.
        """
        registration = services.Registration.from_body(path=request.path, body=request.body)
        if registration is None:  # not a registration the view accepts: it answers 400
            return self.get_response(request)
        try:
            with transaction.atomic():
                stored = services.registration_replay(
                    key=key, registration=registration, now=timezone.now()
                )
                if stored is None:
                    response = self.get_response(request)
                    if response.status_code == 201 and not response.streaming:
                        services.registration_store(
                            key=key,
                            registration=registration,
                            response=services.StoredResponse(
                                response.status_code,
                                response.content.decode(),
                                response.get("Content-Type", ""),
                            ),
                            now=timezone.now(),
                        )
                        return response
                    if response.status_code >= 500:
                        transaction.set_rollback(True)
                    if response.status_code != 409:
                        return response
                    # A concurrent first attempt may have committed meanwhile.
                    stored = services.registration_replay(
                        key=key, registration=registration, now=timezone.now()
                    )
                    if stored is None:
                        return response
                return self._replay(stored)
        except services.IdempotencyKeyReused as exc:
            return problem_response(request, exc.status, exc.code, exc.detail)

    @staticmethod
    def _replay(stored: services.StoredResponse) -> HttpResponse:
        replay = HttpResponse(
            stored.body, status=stored.status_code, content_type=stored.content_type
        )
        replay["Idempotent-Replayed"] = "true"
        return replay
