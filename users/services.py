"""Accounts: registration, login and profile changes."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import Q

from engagement.errors import AccountUnavailable
from engagement.services import state_get_or_create
from engagement.statements import ProfileWithState, select_profile_and_state
from users.errors import EmailTaken, InvalidCredentials, TimezoneChangeTooSoon
from users.models import User, normalize_email


def user_register(
    *, email: str, password: str, timezone_name: str = "UTC", display_name: str = ""
) -> User:
    """Create a user and their state row together. The password is hashed before
    the transaction opens: hashing is deliberately slow."""
    password_hash = make_password(password)
    try:
        with transaction.atomic():
            user = User.objects.create(
                email=normalize_email(email),
                password=password_hash,
                timezone=timezone_name,
                display_name=display_name,
            )
            state_get_or_create(user_id=user.pk)
    except IntegrityError as exc:
        # The case-insensitive unique constraint on e-mail decides races.
        raise EmailTaken() from exc
    return user


def user_login(*, email: str, password: str) -> User:
    user = authenticate(username=normalize_email(email), password=password)
    if user is None:
        raise InvalidCredentials()
    return user


def user_update_profile(
    *,
    user_id: uuid.UUID,
    now: dt.datetime,
    timezone_name: str | None = None,
    display_name: str | None = None,
) -> None:
    """Change display name and/or time zone. A time zone change is allowed once
    per cool-down (24 h); the check and the write are one conditional UPDATE,
    so two concurrent changes cannot both pass."""
    with transaction.atomic():
        current = User.objects.filter(pk=user_id, is_active=True).values_list(
            "timezone", "display_name"
        )
        found = current.first()
        if found is None:
            raise AccountUnavailable()
        current_timezone, current_display_name = found
        if timezone_name is not None and timezone_name != current_timezone:
            cooldown = dt.timedelta(hours=settings.ENGAGEMENT["TIMEZONE_CHANGE_COOLDOWN_HOURS"])
            changed = User.objects.filter(
                Q(timezone_changed_at__isnull=True) | Q(timezone_changed_at__lte=now - cooldown),
                pk=user_id,
            ).update(timezone=timezone_name, timezone_changed_at=now)
            if not changed:
                raise TimezoneChangeTooSoon()
        if display_name is not None and display_name != current_display_name:
            User.objects.filter(pk=user_id).update(display_name=display_name)


def me_load(*, user_id: uuid.UUID) -> ProfileWithState:
    """The caller's profile and state: one query once the state exists; the
    first call creates it. A deactivated or deleted account is refused (its
    access token may still be unexpired)."""
    found = select_profile_and_state(user_id=user_id)
    if found is None:
        if not User.objects.filter(pk=user_id, is_active=True).exists():
            raise AccountUnavailable()
        state_get_or_create(user_id=user_id)
        found = select_profile_and_state(user_id=user_id)
        if found is None:  # deactivated in between
            raise AccountUnavailable()
    return found
