"""Services for ``Idempotency-Key``: remember a POST's outcome per user and key,
replay it on a retry, refuse the key for a different request.

The key row is locked for the whole request and the request's own work runs in
the same transaction, so a concurrent retry waits for the first attempt and
then replays its stored outcome: the work is done once, and a crash leaves
neither the work nor the key behind.

Registration is the one anonymous POST with a key (a client that timed out
retries it): its key row belongs to the account it created, written in the
same transaction, and a retry finds it through the e-mail (see
:class:`Registration`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass

from django.contrib.auth.hashers import check_password

from base.errors import DomainError
from base.parsers import nesting_exceeds
from idempotency.models import IdempotencyKey
from users.models import User, normalize_email

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


class KeyOwnerGone(DomainError):
    """The account the key belongs to was erased while the request ran."""

    status = 401
    code = "account_unavailable"
    default_detail = "This account is not active."


def key_owner_exists(*, user_id: uuid.UUID) -> bool:
    return User.objects.filter(pk=user_id).exists()


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
    *, user_id: uuid.UUID, key: str, fingerprint: str, now: dt.datetime
) -> tuple[IdempotencyKey, StoredResponse | None]:
    """Take (and lock, until the caller's transaction ends) the user's key.

    Returns the stored response to replay, or None when the caller should do
    the work and then :func:`idempotency_key_store` its response. Must run in
    the transaction that also does the work.
    """
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


def idempotency_keys_prune(*, now: dt.datetime, batch_size: int = 5000) -> int:
    """Delete keys older than their lifetime, in batches; returns how many."""
    cutoff = now - KEY_LIFETIME
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


# --- Registration: the one anonymous POST with a key -----------------------------------
@dataclass(frozen=True)
class Registration:
    """What a keyed ``POST auth/register`` is scoped by: the e-mail (as stored)
    and the fingerprint of its body *without* the password, which is checked
    against the account's password hash instead (so no fast hash of it is
    stored)."""

    email: str
    password: str
    fingerprint: str

    @classmethod
    def from_body(cls, *, path: str, body: bytes) -> Registration | None:
        """None for a body the view will refuse anyway (400): not a JSON object
        with string ``email`` and ``password``."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or nesting_exceeds(data, 8):
            return None
        email, password = data.get("email"), data.get("password")
        if not isinstance(email, str) or not isinstance(password, str):
            return None
        scope = {**data, "email": normalize_email(email)}
        del scope["password"]
        canonical = json.dumps(scope, sort_keys=True, separators=(",", ":")).encode()
        return cls(
            email=normalize_email(email),
            password=password,
            fingerprint=request_fingerprint(method="POST", path=path, body=canonical),
        )


def registration_replay(
    *, key: str, registration: Registration, now: dt.datetime
) -> StoredResponse | None:
    """The stored 201 of an earlier registration of this e-mail with this key,
    or None (no such account, or it was not registered with this key in the
    last 24 h: the view decides, e.g. 409 ``email_taken``). The same key with
    another body, or another password, is :class:`IdempotencyKeyReused`."""
    account = User.objects.filter(email=registration.email).values_list("pk", "password").first()
    if account is None:
        return None
    user_id, password_hash = account
    record = IdempotencyKey.objects.filter(
        user_id=user_id, key=key, created_at__gt=now - KEY_LIFETIME
    ).first()
    if record is None:
        return None
    if record.fingerprint != registration.fingerprint:
        raise IdempotencyKeyReused()
    if record.status_code is None:  # not a registration's: those are stored with their 201
        return None
    if not check_password(registration.password, password_hash):
        raise IdempotencyKeyReused()
    return StoredResponse(record.status_code, record.response_body, record.content_type)


def registration_store(
    *,
    key: str,
    registration: Registration,
    response: StoredResponse,
    now: dt.datetime,
) -> None:
    """Keep a registration's 201 under the new account and the key. Runs in the
    transaction that created the account: both commit, or neither."""
    user_id = User.objects.values_list("pk", flat=True).get(email=registration.email)
    IdempotencyKey.objects.create(
        user_id=user_id,
        key=key,
        fingerprint=registration.fingerprint,
        status_code=response.status_code,
        response_body=response.body,
        content_type=response.content_type,
        created_at=now,
    )
