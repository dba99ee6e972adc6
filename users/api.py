"""HTTP for accounts: register, login, refresh and /me."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from base.openapi import problems
from engagement.serializers import state_data
from engagement.statements import ProfileWithState
from throttles.throttling import RegisterRateThrottle
from users import services
from users.serializers import (
    AccessOutputSerializer,
    AuthOutputSerializer,
    LoginInputSerializer,
    MeOutputSerializer,
    MeUpdateInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    user_data,
)
from users.throttling import LoginRateThrottle, failed_logins_per_ip
from users.timezones import local_date
from users.tokens import token_pair, token_refresh


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
            user = services.user_login(**data.validated_data)
        return Response(_auth_payload(user))

    @extend_schema(
        operation_id="auth_refresh",
        request=RefreshInputSerializer,
        responses={200: AccessOutputSerializer, **problems(400, 401, 413, 415)},
    )
    @action(detail=False, methods=["post"])
    def refresh(self, request):
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"access": token_refresh(refresh=data.validated_data["refresh"])})


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
        )
        return Response(self._payload(services.me_load(user_id=request.user.pk)))
