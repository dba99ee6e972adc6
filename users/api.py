"""HTTP for accounts: register, login, token lifecycle, passwords and /me."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from base.openapi import problem
from engagement.errors import AccountUnavailable
from engagement.examples import STATE_EXAMPLE
from engagement.serializers import state_data
from engagement.statements import ProfileWithState
from throttles.throttling import AnonymousRateThrottle, RegisterRateThrottle
from users import services
from users.authentication import BearerTokenAuthentication
from users.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidResetToken,
    TimezoneChangeTooSoon,
    TokenRevoked,
    WrongPassword,
)
from users.serializers import (
    AuthOutputSerializer,
    DetailOutputSerializer,
    LoginInputSerializer,
    LogoutInputSerializer,
    MeOutputSerializer,
    MeUpdateInputSerializer,
    NoInputSerializer,
    PasswordChangeInputSerializer,
    PasswordResetConfirmInputSerializer,
    PasswordResetInputSerializer,
    ProfileConflictSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    TokenPairOutputSerializer,
    user_data,
)
from users.throttling import (
    LoginRateThrottle,
    PasswordResetEmailRateThrottle,
    PasswordResetRateThrottle,
    failed_logins_per_ip,
)
from users.timezones import local_date
from users.tokens import token_logout, token_pair, token_pair_for, token_refresh


def _signed_in_action(**kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """An action of the (anonymous) auth viewset that needs an access token,
    with the API's usual authentication, permission and throttles."""
    return action(
        detail=False,
        methods=["post"],
        authentication_classes=[BearerTokenAuthentication],
        permission_classes=[IsAuthenticated],
        throttle_classes=api_settings.DEFAULT_THROTTLE_CLASSES,
        **kwargs,
    )


USER_EXAMPLE = {
    "id": "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
    "email": "ann@example.com",
    "display_name": "Ann",
    "timezone": "Europe/Warsaw",
    "date_joined": "2026-03-01T10:00:00.123456Z",
    "leaderboard_opt_in": True,
}
# Shortened: real tokens are JWTs of a few hundred characters.
PAIR_EXAMPLE = {
    "access": "eyJhbGciOiJIUzI1NiIs.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2ln",
    "refresh": "eyJhbGciOiJIUzI1NiIs.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2ln",
}


def _ok(serializer: Any, description: str, name: str, value: Any) -> OpenApiResponse:
    """A success response with its description and one example."""
    return OpenApiResponse(
        serializer,
        description=description,
        examples=[OpenApiExample(name, value=value, response_only=True)],
    )


def _body(name: str, value: dict) -> list[OpenApiExample]:
    """One request body example."""
    return [OpenApiExample(name, value=value, request_only=True)]


def _new_password_checked(call):
    """Run a password change or reset; Django's validators' refusal of the
    new password is a 400 on ``new_password``, like any invalid field."""
    try:
        return call()
    except DjangoValidationError as exc:
        raise serializers.ValidationError({"new_password": list(exc.messages)}) from None


def _auth_payload(user) -> dict:
    return {"user": user_data(user), **token_pair(user)}


@extend_schema(tags=["auth"])
class AuthViewSet(viewsets.ViewSet):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        operation_id="auth_register",
        summary="Create an account",
        description=(
            "Create an account and sign it in: the answer carries the user and a token pair. "
            "The e-mail is unique in any letter case (409 `email_taken`); the password must "
            "pass the password validators (400 `validation_error` on `password`: at least 8 "
            "characters, not too common, not all digits, not like the e-mail). Send an "
            "`Idempotency-Key` to retry a sign-up that timed out: the same key and body "
            "replay the 201. Limited per client IP."
        ),
        request=RegisterInputSerializer,
        examples=_body(
            "Ann",
            {
                "email": "ann@example.com",
                "password": "correct-horse-battery",
                "timezone": "Europe/Warsaw",
                "display_name": "Ann",
            },
        ),
        responses={
            201: _ok(
                AuthOutputSerializer,
                "The new account, signed in.",
                "Ann registered",
                {"user": USER_EXAMPLE, **PAIR_EXAMPLE},
            ),
            **problem(409, EmailTaken, description="Offer to sign in instead."),
        },
    )
    @action(detail=False, methods=["post"], throttle_classes=[RegisterRateThrottle])
    def register(self, request):
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            timezone_name=data.validated_data["timezone"],
            display_name=data.validated_data["display_name"],
        )
        return Response(_auth_payload(user), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="auth_login",
        summary="Sign in",
        description=(
            "Exchange an e-mail (any letter case) and password for the user and a token "
            "pair. A wrong e-mail or password, or an inactive account, is 401 "
            "`invalid_credentials`. Limited per client IP and e-mail, and failed attempts "
            "per client IP (429)."
        ),
        request=LoginInputSerializer,
        examples=_body("Ann", {"email": "ann@example.com", "password": "correct-horse-battery"}),
        responses={
            200: _ok(
                AuthOutputSerializer,
                "The user and a new token pair.",
                "Ann signed in",
                {"user": USER_EXAMPLE, **PAIR_EXAMPLE},
            ),
            **problem(401, InvalidCredentials),
        },
    )
    @action(detail=False, methods=["post"], throttle_classes=[LoginRateThrottle])
    def login(self, request):
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # A slot of the per-IP failure budget is held while the password is
        # checked (parallel guesses cannot overshoot it); a success gives it back.
        with failed_logins_per_ip(request):
            user = services.user_login(**data.validated_data, now=timezone.now())
        return Response(_auth_payload(user))

    @extend_schema(
        operation_id="auth_refresh",
        description=(
            "A new token pair for a refresh token, which is revoked: each refresh token "
            "is good for one refresh. 401 `token_revoked` when it was used or signed out "
            "before (then every token of the account is revoked: sign in again) or when "
            "every token of the account was revoked; `token_invalid` when it is "
            "malformed, expired or not a refresh token; `account_unavailable` when the "
            "account was deactivated or deleted."
        ),
        summary="Refresh the token pair",
        request=RefreshInputSerializer,
        examples=_body("A refresh token", {"refresh": PAIR_EXAMPLE["refresh"]}),
        responses={
            200: _ok(
                TokenPairOutputSerializer,
                "A new pair; the refresh token sent is revoked.",
                "A new pair",
                PAIR_EXAMPLE,
            ),
            **problem(401, TokenRevoked, InvalidRefreshToken, AccountUnavailable),
        },
    )
    @action(detail=False, methods=["post"], throttle_classes=[AnonymousRateThrottle])
    def refresh(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(token_refresh(refresh=data.validated_data["refresh"]))

    @extend_schema(
        operation_id="auth_logout",
        description=(
            "Sign out one session: its refresh token is revoked. The access token of the "
            "session stays valid until it expires; the client forgets it. Signing out a "
            "revoked token again answers 204 too. 400 when `refresh` is not a valid "
            "refresh token of the caller."
        ),
        summary="Sign out one session",
        request=LogoutInputSerializer,
        examples=_body("The session's refresh token", {"refresh": PAIR_EXAMPLE["refresh"]}),
        responses={
            204: OpenApiResponse(description="The refresh token is revoked."),
        },
    )
    @_signed_in_action()
    def logout(self, request):
        data = LogoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token_logout(user_id=request.user.pk, refresh=data.validated_data["refresh"])
        except InvalidRefreshToken as exc:
            raise serializers.ValidationError({"refresh": [exc.detail]}) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="auth_logout_all",
        description=(
            "Sign out everywhere: every access and refresh token of the account, this "
            "request's included, is revoked at once. The body is empty or `{}`."
        ),
        summary="Sign out everywhere",
        request=None,
        responses={
            204: OpenApiResponse(description="Every token of the account is revoked."),
        },
    )
    @_signed_in_action(url_path="logout-all")
    def logout_all(self, request):
        _no_input(request)
        services.user_logout_all(user_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="auth_password_change",
        description=(
            "Change the password. Every earlier access and refresh token of the account "
            "is revoked; the answer carries the new pair. 403 `wrong_password` for a "
            "wrong `old_password` (counted like a failed login), 400 for a new password "
            "the validators refuse."
        ),
        summary="Change the password",
        request=PasswordChangeInputSerializer,
        examples=_body(
            "A new password",
            {"old_password": "correct-horse-battery", "new_password": "staple-lantern-meadow"},
        ),
        responses={
            200: _ok(
                TokenPairOutputSerializer,
                "The only token pair that works from now on.",
                "A new pair",
                PAIR_EXAMPLE,
            ),
            **problem(
                403,
                WrongPassword,
                description="(`old_password` is wrong; counted like a failed login.)",
            ),
        },
    )
    @_signed_in_action()
    def password(self, request):
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with failed_logins_per_ip(request):
            version = _new_password_checked(
                lambda: services.user_password_change(
                    user_id=request.user.pk,
                    old_password=data.validated_data["old_password"],
                    new_password=data.validated_data["new_password"],
                )
            )
        return Response(token_pair_for(user_id=request.user.pk, token_version=version))

    @extend_schema(
        operation_id="auth_password_reset",
        description=(
            "Ask for a password reset e-mail. The answer is 202 whether or not an "
            "account has the address (it tells nothing about accounts); an active "
            "account gets an e-mail with a one-time link (`uid` and `token` for "
            "`auth/password/reset/confirm`), valid for `PASSWORD_RESET_TIMEOUT` "
            "seconds. Limited per client IP and per address (429)."
        ),
        summary="Ask for a password reset e-mail",
        request=PasswordResetInputSerializer,
        examples=_body("Ann", {"email": "ann@example.com"}),
        responses={
            202: OpenApiResponse(
                description="Accepted, whether or not an account has the address."
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="password/reset",
        throttle_classes=[PasswordResetRateThrottle, PasswordResetEmailRateThrottle],
    )
    def password_reset(self, request):
        data = PasswordResetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="auth_password_reset_confirm",
        description=(
            "Set a new password with the `uid` and `token` of a reset e-mail. Every "
            "earlier access and refresh token of the account is revoked; sign in with "
            "the new password. 400 `invalid_reset_token` for a wrong, used or expired "
            "token or an unknown `uid`; 400 `validation_error` for a new password the "
            "validators refuse (the token stays usable)."
        ),
        summary="Set a new password from a reset e-mail",
        request=PasswordResetConfirmInputSerializer,
        examples=_body(
            "From the e-mail",
            {
                "uid": "NmYxYzJhOGU",
                "token": "c2b1x4-0f1e2d3c4b5a69788796a5b4",
                "new_password": "staple-lantern-meadow",
            },
        ),
        responses={
            200: _ok(
                DetailOutputSerializer,
                "The password was reset; every earlier token is revoked.",
                "Reset",
                {"detail": "The password was reset; sign in with the new one."},
            ),
            **problem(400, InvalidResetToken),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="password/reset/confirm",
        throttle_classes=[AnonymousRateThrottle],
    )
    def password_reset_confirm(self, request):
        data = PasswordResetConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _new_password_checked(
            lambda: services.password_reset_confirm(
                uid=data.validated_data["uid"],
                token=data.validated_data["token"],
                new_password=data.validated_data["new_password"],
            )
        )
        return Response({"detail": "The password was reset; sign in with the new one."})


def _no_input(request: Request) -> None:
    """Nothing or ``{}``; any field is refused, like every other body."""
    data = request.data
    if isinstance(data, dict) and not data:
        return
    NoInputSerializer(data=data).is_valid(raise_exception=True)


@extend_schema(tags=["me"])
class MeViewSet(viewsets.ViewSet):
    """The caller's profile and state."""

    def _payload(self, me: ProfileWithState) -> dict:
        today = local_date(timezone.now(), me.profile.timezone)
        return {"user": user_data(me.profile), "state": state_data(me.state, today)}

    @extend_schema(
        operation_id="me_retrieve",
        summary="My profile and state",
        description=(
            "The caller's profile and engagement state (created on the first call for "
            "accounts made outside the API). `state.streak_status` is `active` (checked in "
            "today), `at_risk` (a check-in today keeps the streak) or `broken`."
        ),
        responses={
            200: _ok(
                MeOutputSerializer,
                "The profile and the state.",
                "Ann",
                {"user": USER_EXAMPLE, "state": STATE_EXAMPLE},
            )
        },
    )
    def retrieve(self, request):
        return Response(self._payload(services.me_load(user_id=request.user.pk)))

    @extend_schema(
        operation_id="me_update",
        summary="Change my time zone or display name",
        description=(
            "Change the display name and/or the time zone (an IANA name). The time zone can "
            "change once per 24 hours: 409 `timezone_change_too_soon` with `allowed_at`, "
            "when the next change is allowed. Setting the current zone again is no change. "
            "Dates never go backwards: moving west cannot buy a second check-in for a day "
            "already used."
        ),
        request=MeUpdateInputSerializer,
        examples=_body("Moving to Tokyo", {"timezone": "Asia/Tokyo"}),
        responses={
            200: _ok(
                MeOutputSerializer,
                "The profile and the state after the change.",
                "In Tokyo",
                {"user": {**USER_EXAMPLE, "timezone": "Asia/Tokyo"}, "state": STATE_EXAMPLE},
            ),
            **problem(
                409,
                TimezoneChangeTooSoon,
                description="`allowed_at`: when the next change is allowed.",
                serializer=ProfileConflictSerializer,
            ),
        },
    )
    def partial_update(self, request):
        data = MeUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_update_profile(
            user_id=request.user.pk,
            now=timezone.now(),
            timezone_name=data.validated_data.get("timezone"),
            display_name=data.validated_data.get("display_name"),
            leaderboard_opt_in=data.validated_data.get("leaderboard_opt_in"),
        )
        return Response(self._payload(services.me_load(user_id=request.user.pk)))
