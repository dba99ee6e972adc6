"""HTTP for accounts: register, login, token lifecycle, passwords and /me."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from base.openapi import problems
from base.serializers import ProblemSerializer
from engagement.serializers import state_data
from engagement.statements import ProfileWithState
from throttles.throttling import RegisterRateThrottle
from users import services
from users.authentication import BearerTokenAuthentication
from users.errors import InvalidRefreshToken
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


def _problem(http_status: int, description: str) -> dict:
    """A problem response with the codes this operation gives for ``http_status``."""
    return {
        (http_status, "application/problem+json"): OpenApiResponse(
            response=ProblemSerializer, description=description
        )
    }


_BEARER_401 = (
    "`not_authenticated`, `token_not_valid`: no valid access token; `token_revoked`: every "
    "token of the account was revoked since it was issued; `account_unavailable`: the "
    "account was deactivated or deleted."
)


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
        request=RegisterInputSerializer,
        responses={201: AuthOutputSerializer, **problems(400, 409, 413, 415, 429)},
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
        request=LoginInputSerializer,
        responses={200: AuthOutputSerializer, **problems(400, 401, 413, 415, 429)},
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
        request=RefreshInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            **problems(400, 413, 415),
            **_problem(
                401,
                "`token_revoked`: the refresh token was used or signed out before, or every "
                "token of the account was revoked; `token_invalid`: malformed, expired or "
                "not a refresh token; `account_unavailable`: the account was deactivated or "
                "deleted.",
            ),
        },
    )
    @action(detail=False, methods=["post"])
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
        request=LogoutInputSerializer,
        responses={
            204: None,
            **_problem(
                400,
                "`validation_error`: `refresh` is missing, or not a valid refresh token of the "
                "caller; `malformed_request`: not JSON.",
            ),
            **_problem(401, _BEARER_401),
            **problems(413, 415, 429),
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
        request=None,
        responses={
            204: None,
            **problems(400, 413, 415, 429),
            **_problem(401, _BEARER_401),
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
            "is revoked; the answer carries the new pair. 401 `invalid_credentials` for a "
            "wrong `old_password` (counted like a failed login), 400 for a new password "
            "the validators refuse."
        ),
        request=PasswordChangeInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            **_problem(
                400,
                "`validation_error`: a field is missing or invalid; `errors.new_password` "
                "lists what the password validators refuse.",
            ),
            **_problem(401, "`invalid_credentials`: `old_password` is wrong. " + _BEARER_401),
            **problems(413, 415),
            **_problem(429, "`throttled`: too many requests, or too many wrong passwords."),
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
        request=PasswordResetInputSerializer,
        responses={
            202: None,
            **problems(400, 413, 415),
            **_problem(
                429,
                "`throttled`: too many reset requests from this client IP "
                "(`THROTTLE_PASSWORD_RESET`) or for this address "
                "(`THROTTLE_PASSWORD_RESET_EMAIL`); see Retry-After.",
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
        request=PasswordResetConfirmInputSerializer,
        responses={
            200: DetailOutputSerializer,
            **_problem(
                400,
                "`invalid_reset_token`: the token is wrong, used or expired, or `uid` names "
                "no active account; `validation_error`: a field is missing or invalid, "
                "`errors.new_password` lists what the password validators refuse.",
            ),
            **problems(413, 415),
        },
    )
    @action(detail=False, methods=["post"], url_path="password/reset/confirm")
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

    @extend_schema(operation_id="me_retrieve", responses={200: MeOutputSerializer, **problems(401)})
    def retrieve(self, request):
        return Response(self._payload(services.me_load(user_id=request.user.pk)))

    @extend_schema(
        operation_id="me_update",
        request=MeUpdateInputSerializer,
        responses={200: MeOutputSerializer, **problems(400, 401, 409, 413, 415)},
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
