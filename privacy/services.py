"""A user's data: export every row about them; erase the account with all of it.

The export (``GET /me/export``, ``manage.py export_user``) has one section per
model that holds rows about a user (``privacy.sections``), read in one
consistent snapshot. The erasure (``DELETE /me``, the staff admin action)
takes the user's state lock first, like every write, then the user's row,
then deletes every row that points at the user, whatever the relation's
``on_delete``, then the user, and leaves an :class:`~privacy.models.Erasure`
row holding no personal data: all in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.hashers import check_password
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils.crypto import salted_hmac

from engagement.errors import AccountUnavailable
from engagement.services import state_lock
from events.models import EventType
from events.services import record_events
from leaderboards.services import leaderboards_leave
from privacy.errors import InvalidErasureReason, ReasonNamesTheAccount
from privacy.models import Erasure
from privacy.sections import installed_sections, user_relations
from users.authentication import check_token_version
from users.errors import WrongPassword
from users.models import User

FORMAT_VERSION = 1
REASON_MAX_LENGTH = Erasure._meta.get_field("reason").max_length or 500
_SUBJECT_SALT = "privacy.erasure.subject"


# --- Export ---------------------------------------------------------------------------
@contextmanager
def _one_snapshot() -> Iterator[None]:
    """Every read of the export sees the same moment: a REPEATABLE READ
    transaction on PostgreSQL (no locks taken), a transaction on SQLite. Inside
    a caller's transaction, the caller's isolation applies."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def user_export(
    *, user_id: uuid.UUID, now: dt.datetime, active_only: bool = False
) -> dict[str, Any]:
    """Every row about the user, as plain values: ``format_version``,
    ``exported_at``, then one key per section (an object or null for one-row
    sections, a list otherwise). No secrets: no password hash, no stored
    response bodies, no tokens. Raises :class:`AccountUnavailable` when the
    user does not exist (or, with ``active_only``, is deactivated; then the
    caller's token version is checked too, as wherever the user's row is read)."""
    document: dict[str, Any] = {"format_version": FORMAT_VERSION, "exported_at": now}
    with _one_snapshot():
        if active_only:  # the account holder's request: also a token revoked since is refused
            found = User._base_manager.filter(pk=user_id).values_list("is_active", "token_version")
            account = found.first()
            if account is None or not account[0]:
                raise AccountUnavailable()
            check_token_version(account[1])
        for section, model in installed_sections():
            rows = (
                model._base_manager.filter(**{section.user_field: user_id})
                .order_by(*section.order_by)
                .values(
                    *section.fields, **{name: F(path) for name, path in section.renamed.items()}
                )
            )
            document[section.name] = rows.first() if section.one else list(rows)
            if section.name == "user" and document["user"] is None:
                raise AccountUnavailable()
    return document


def export_document(data: dict[str, Any], *, indent: int | None = None) -> str:
    """The export as JSON text: the same for the API and ``export_user``."""
    return json.dumps(data, cls=DjangoJSONEncoder, indent=indent or None)


# --- Erasure --------------------------------------------------------------------------
def subject_hash(user_id: uuid.UUID, *, secret: str | bytes | None = None) -> str:
    """What an :class:`Erasure` keeps of the account: HMAC-SHA256 of its id,
    keyed from ``SECRET_KEY`` (Django's ``salted_hmac``). Whoever holds the key
    and an id can tell whether that account was erased (e.g. after restoring a
    backup); the table alone tells nothing, not even to someone with a list of
    ids."""
    return salted_hmac(
        _SUBJECT_SALT, str(user_id), secret=secret or settings.SECRET_KEY, algorithm="sha256"
    ).hexdigest()


def erasure_recorded(*, user_id: uuid.UUID) -> bool:
    """Whether an account with this id was erased (matched with ``SECRET_KEY``
    and every ``SECRET_KEY_FALLBACKS``, so a key rotation keeps old rows found)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    subjects = {subject_hash(user_id, secret=secret) for secret in secrets}
    return Erasure.objects.filter(subject__in=subjects).exists()


def erased_accounts_present(*, batch_size: int = 2000) -> list[uuid.UUID]:
    """Accounts whose id an :class:`Erasure` names: none, unless a backup taken
    before those erasures was restored. Walks every account in batches of
    ``batch_size``, one keyed hash per account and key."""
    subjects = set(Erasure.objects.values_list("subject", flat=True))
    if not subjects:
        return []
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    found: list[uuid.UUID] = []
    accounts = User._base_manager.order_by("pk").values_list("pk", flat=True)
    batch = list(accounts[:batch_size])
    while batch:
        found += [
            user_id
            for user_id in batch
            if any(subject_hash(user_id, secret=secret) in subjects for secret in secrets)
        ]
        batch = list(accounts.filter(pk__gt=batch[-1])[:batch_size])
    return found


def reason_names_account(reason: str, *, user_id: uuid.UUID, email: str) -> bool:
    text = reason.casefold()
    return any(
        mark.casefold() in text for mark in (email, str(user_id), user_id.hex) if mark.strip()
    )


@dataclass(frozen=True)
class ErasureResult:
    erasure_id: int
    rows: dict[str, int]  # rows deleted per model ("app_label.Model")

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _delete_rows_about(user_id: uuid.UUID) -> Counter[str]:
    """Every row that points at the user, then the user: a relation's
    ``on_delete`` (SET_NULL, PROTECT, DO_NOTHING) never keeps a row behind."""
    deleted: Counter[str] = Counter()
    for model, user_field in user_relations():
        _, per_model = model._base_manager.filter(**{user_field.attname: user_id}).delete()
        deleted.update(per_model)
    deleted.update(_delete_admin_log_about(user_id))
    _, per_model = User._base_manager.filter(pk=user_id).delete()
    deleted.update(per_model)
    return +deleted  # only the models that had rows


def _delete_admin_log_about(user_id: uuid.UUID) -> dict[str, int]:
    """Admin history entries about the account or its state row (both have
    the user's id as their primary key): their ``object_repr`` is the e-mail."""
    return LogEntry.objects.filter(object_id=str(user_id)).delete()[1]


def user_erase(*, user_id: uuid.UUID, now: dt.datetime, reason: str | None) -> ErasureResult:
    """Erase the account and every row about it, in one transaction.

    ``reason`` None: the account holder's own request; otherwise staff's
    reason (required, kept in the audit row, so it may not name the account).
    The user's state lock is taken first, as by every write, then the user's
    row: a concurrent check-in either committed before (and its rows are
    erased too) or finds the account gone (401 ``account_unavailable``). Raises
    :class:`AccountUnavailable` when the account no longer exists."""
    if reason is not None:
        reason = reason.strip()
        if not reason or len(reason) > REASON_MAX_LENGTH:
            raise InvalidErasureReason()
    with transaction.atomic():
        locked = state_lock(user_id=user_id, include_inactive=True)
        # Then the user's row: a request that inserts a row pointing at the
        # user without the state lock (a token, an idempotency key) checks its
        # foreign key when it commits, so it either committed before (and its
        # row is deleted below) or waits and finds the account gone.
        email = (
            User._base_manager.select_for_update()
            .filter(pk=user_id)
            .values_list("email", flat=True)
            .first()
        )
        if email is None:
            raise AccountUnavailable()
        if reason is not None and reason_names_account(reason, user_id=user_id, email=email):
            raise ReasonNamesTheAccount()
        # Its scores leave the boards' counts; its rows go with the rest.
        leaderboards_leave(locked=locked)
        deleted = _delete_rows_about(user_id)
        # The one row that names the account after it: the pseudonymous id, so
        # that systems subscribed to events can erase their copies too.
        record_events(now=now, events=[(user_id, EventType.USER_DELETED, {})], in_feed=False)
        erasure = Erasure.objects.create(
            subject=subject_hash(user_id),
            erased_at=now,
            source=Erasure.Source.SELF if reason is None else Erasure.Source.STAFF,
            reason=reason or "",
        )
    return ErasureResult(erasure_id=erasure.pk, rows=dict(deleted))


def me_erase(*, user_id: uuid.UUID, password: str, now: dt.datetime) -> ErasureResult:
    """``DELETE /me``: the account holder confirms with their password, checked
    before the transaction (hashing is slow) and without rehashing it (a wrong
    password writes nothing)."""
    found = User._base_manager.filter(pk=user_id).values_list("password", "is_active").first()
    if found is None or not found[1]:
        raise AccountUnavailable()
    if not check_password(password, found[0]):
        raise WrongPassword("The password is wrong.")
    return user_erase(user_id=user_id, now=now, reason=None)
