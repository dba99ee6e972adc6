"""Services for ``Idempotency-Key``: remember a POST's outcome per user and key,
replay it on a retry, refuse the key for a different request.

The key row is locked for the whole request and the request's own work runs in
the same transaction, so a concurrent retry waits for the first attempt and
then replays its stored outcome: the work is done once, and a crash leaves
neither the work nor the key behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from dataclasses import dataclass

from django.utils import timezone

from base.errors import DomainError
from idempotency.models import IdempotencyKey

KEY_LIFETIME = dt.timedelta(hours=24)
_VALID_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


class InvalidIdempotencyKey(DomainError):
    status = 400
    code = "invalid_idempotency_key"
    default_detail = "Idempotency-Key must be 1 to 255 printable ASCII characters."


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used for a different request."


def idempotency_key_validate(key: str) -> None:
    if not _VALID_KEY.match(key):
        raise InvalidIdempotencyKey()


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: str
    content_type: str


def idempotency_key_claim(
    *, user_id: uuid.UUID, key: str, fingerprint: str, now: dt.datetime | None = None
) -> tuple[IdempotencyKey, StoredResponse | None]:
    """Take (and lock, until the caller's transaction ends) the user's key.

    Returns the stored response to replay, or None when the caller should do
    the work and then :func:`idempotency_key_store` its response. Must run in
    the transaction that also does the work.
    """
    now = now or timezone.now()
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent first attempt makes this
    # wait until that attempt commits or rolls back.
    IdempotencyKey.objects.bulk_create(
        [IdempotencyKey(user_id=user_id, key=key, fingerprint=fingerprint, created_at=now)],
        ignore_conflicts=True,
    )
    record = IdempotencyKey.objects.select_for_update().get(user_id=user_id, key=key)
    if record.created_at <= now - KEY_LIFETIME:
        # Expired and not yet pruned: the key starts a new life.
        record.fingerprint = fingerprint
        record.status_code = None
        record.response_body = ""
        record.content_type = ""
        record.created_at = now
        record.save()
        return record, None
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if record.status_code is None:
        return record, None
    return record, StoredResponse(record.status_code, record.response_body, record.content_type)


def idempotency_key_store(*, record: IdempotencyKey, response: StoredResponse) -> None:
    record.status_code = response.status_code
    record.response_body = response.body
    record.content_type = response.content_type
    record.save(update_fields=["status_code", "response_body", "content_type"])


def idempotency_keys_prune(*, now: dt.datetime | None = None, batch_size: int = 5000) -> int:
    """Delete keys older than their lifetime, in batches; returns how many."""
    cutoff = (now or timezone.now()) - KEY_LIFETIME
    deleted = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(created_at__lte=cutoff).values_list("id", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(id__in=ids).delete()[0]
