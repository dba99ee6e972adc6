"""Accounts: registration, login, profile changes, passwords and revocation.

Revoking every token of an account is one ``F() + 1`` UPDATE of its
``token_version`` (see ``users.authentication``): password change and reset,
sign-out everywhere and deactivation do it in the same statement as their own
change. Deleting an account needs nothing: its tokens name no user any more.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from base import mail
from engagement.errors import AccountUnavailable
from engagement.services import state_get_or_create, state_leaderboard_opt_in_set, state_lock
from engagement.statements import ProfileWithState, select_profile_and_state
from users.authentication import check_token_version
from users.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidResetToken,
    TimezoneChangeTooSoon,
    WrongPassword,
)
from users.models import User, normalize_email
from users.signals import leaderboard_opt_in_changed


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


def user_login(*, email: str, password: str, now: dt.datetime) -> User:
    """The active user with these credentials; records ``last_login`` (one
    UPDATE per login: requests with the tokens it hands out write nothing)."""
    user = authenticate(username=normalize_email(email), password=password)
    if user is None:
        raise InvalidCredentials()
    user.last_login = now
    User.objects.filter(pk=user.pk).update(last_login=user.last_login)
    return user


def user_update_profile(
    *,
    user_id: uuid.UUID,
    now: dt.datetime,
    timezone_name: str | None = None,
    display_name: str | None = None,
    leaderboard_opt_in: bool | None = None,
) -> None:
    """Change display name, time zone and/or the leaderboards' opt-in. A time
    zone change is allowed once per cool-down (24 h); the check and the write
    are one conditional UPDATE, so two concurrent changes cannot both pass.

    The opt-in has a copy on the state row (the check-in's lock reads it), so
    changing it takes the state lock first, like every write of the state,
    and writes the flag, its copy and (through :data:`leaderboard_opt_in_changed`)
    the boards' counts in this one transaction."""
    with transaction.atomic():
        locked = None
        if leaderboard_opt_in is not None:
            locked = state_lock(user_id=user_id)
        current = User.objects.filter(pk=user_id, is_active=True).values_list(
            "timezone", "display_name", "token_version", "leaderboard_opt_in"
        )
        found = current.first()
        if found is None:
            raise AccountUnavailable()
        current_timezone, current_display_name, current_token_version, current_opt_in = found
        check_token_version(current_token_version)
        if timezone_name is not None and timezone_name != current_timezone:
            cooldown = dt.timedelta(hours=settings.ENGAGEMENT["TIMEZONE_CHANGE_COOLDOWN_HOURS"])
            changed = User.objects.filter(
                Q(timezone_changed_at__isnull=True) | Q(timezone_changed_at__lte=now - cooldown),
                pk=user_id,
            ).update(timezone=timezone_name, timezone_changed_at=now)
            if not changed:
                raise TimezoneChangeTooSoon.until(
                    _timezone_change_allowed_at(user_id, cooldown, now)
                )
        if display_name is not None and display_name != current_display_name:
            User.objects.filter(pk=user_id).update(display_name=display_name)
        if locked is not None and leaderboard_opt_in != locked.leaderboard_opt_in:
            User.objects.filter(pk=user_id).update(leaderboard_opt_in=leaderboard_opt_in)
            state_leaderboard_opt_in_set(user_id=user_id, opt_in=bool(leaderboard_opt_in))
            leaderboard_opt_in_changed.send(
                sender=User, user_id=user_id, opt_in=leaderboard_opt_in, locked=locked
            )
        elif locked is not None and leaderboard_opt_in != current_opt_in:
            # The copy is the one the boards follow; a flag that disagrees
            # with it (set outside this use case) is brought back in line.
            User.objects.filter(pk=user_id).update(leaderboard_opt_in=leaderboard_opt_in)


def _timezone_change_allowed_at(
    user_id: uuid.UUID, cooldown: dt.timedelta, now: dt.datetime
) -> dt.datetime:
    """When the cool-down of the last time zone change ends (read after the
    refused UPDATE, so it is the change that refused it)."""
    changed_at = (
        User.objects.filter(pk=user_id).values_list("timezone_changed_at", flat=True).first()
    )
    return (changed_at or now) + cooldown


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
    check_token_version(found.token_version)
    return found


# --- Revocation ---------------------------------------------------------------------
def user_logout_all(*, user_id: uuid.UUID) -> None:
    """Revoke every access and refresh token of the user (sign out everywhere)."""
    User.objects.filter(pk=user_id).update(token_version=F("token_version") + 1)


def user_deactivate(*, user_id: uuid.UUID) -> None:
    """Deactivate the account and revoke every token of it, so that tokens
    issued before stay dead if the account is activated again."""
    User.objects.filter(pk=user_id).update(is_active=False, token_version=F("token_version") + 1)


def _password_set(*, user: User, new_password: str) -> int | None:
    """Store ``new_password`` and revoke every earlier token, if the stored
    password is still the one ``user`` was read with (compare-and-set: of two
    concurrent changes or resets, one wins); the new token version, or None.
    Hashes before the transaction opens."""
    password_hash = make_password(new_password)
    users = User.objects.filter(pk=user.pk)
    with transaction.atomic():
        changed = users.filter(is_active=True, password=user.password).update(
            password=password_hash, token_version=F("token_version") + 1
        )
        if not changed:
            return None
        # Read in the transaction that holds the row: no other bump in between.
        version: int = users.values_list("token_version", flat=True).get()
    return version


# --- Password change ----------------------------------------------------------------
def user_password_change(*, user_id: uuid.UUID, old_password: str, new_password: str) -> int:
    """Change the password (the current one proves it is the owner) and
    revoke every earlier token; returns the new token version, for the new
    pair the caller receives. 403 ``wrong_password`` for a wrong current
    password (or one changed meanwhile); Django's password validators refuse
    a weak new one (``django.core.exceptions.ValidationError``)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise AccountUnavailable()
    check_token_version(user.token_version)
    if not user.check_password(old_password):
        raise WrongPassword("The current password is wrong.")
    password_validation.validate_password(new_password, user=user)
    version = _password_set(user=user, new_password=new_password)
    if version is None:
        raise WrongPassword("The password was changed meanwhile.")
    return version


# --- Password reset -----------------------------------------------------------------
def _reset_message(*, user: User) -> EmailMultiAlternatives:
    """The reset e-mail (plain text and HTML) with a one-time link: Django's
    token generator, valid for ``PASSWORD_RESET_TIMEOUT`` seconds and until the
    password changes or the user logs in."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = settings.PASSWORD_RESET_URL.replace("{uid}", uid).replace("{token}", token)
    context = {
        "email": user.email,
        "uid": uid,
        "token": token,
        "link": link,
        "valid_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
    }
    message = EmailMultiAlternatives(
        subject=render_to_string("users/password_reset_subject.txt", context).strip(),
        body=render_to_string("users/password_reset_email.txt", context),
        to=[user.email],
    )
    message.attach_alternative(
        render_to_string("users/password_reset_email.html", context), "text/html"
    )
    return message


def password_reset_request(*, email: str) -> None:
    """Mail a reset link to the active account with this address, if there is
    one. The caller learns nothing either way: the same lookup, token and
    rendering happen for an unknown address, and the e-mail is handed to the
    mail queue (``base.mail``) after the transaction commits, so the answer
    never waits for the mail server."""
    address = normalize_email(email)
    user = User.objects.filter(email=address, is_active=True).first()
    # An unusable password ("!"), as Django gives accounts without one.
    stand_in = User(email=address, password="!")  # noqa: S106
    message = _reset_message(user=user or stand_in)
    if user is not None:
        transaction.on_commit(lambda: mail.send_later(message))


def _reset_user(uid: str) -> User | None:
    try:
        user_id = uuid.UUID(urlsafe_base64_decode(uid).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> None:
    """Set a new password with a reset link's ``uid`` and ``token`` and revoke
    every earlier token. 400 ``invalid_reset_token`` for an unknown or
    inactive account, a wrong, used or expired token; Django's password
    validators refuse a weak password (``ValidationError``) without using the
    token up."""
    user = _reset_user(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise InvalidResetToken()
    password_validation.validate_password(new_password, user=user)
    if _password_set(user=user, new_password=new_password) is None:
        raise InvalidResetToken()  # used by a concurrent confirm, or deactivated
