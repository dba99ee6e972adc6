"""HTTP for the caller's data: ``GET /me/export`` and ``DELETE /me``.

``/me`` is one path with three operations: ``config.api`` composes this
viewset with users' ``MeViewSet`` (GET, PATCH) into one view, so that neither
app imports the other's views.
"""

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from base.openapi import problem
from privacy import services
from privacy.serializers import ExportOutputSerializer, MeEraseInputSerializer
from users.errors import WrongPassword
from users.throttling import failed_logins_per_ip

EXPORT_EXAMPLE = {
    "format_version": 1,
    "exported_at": "2026-03-10T12:00:00.123Z",
    "user": {
        "id": "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        "email": "ann@example.com",
        "display_name": "Ann",
        "timezone": "Europe/Warsaw",
        "timezone_changed_at": None,
        "date_joined": "2026-03-01T10:00:00.123Z",
        "last_login": None,
        "is_active": True,
        "is_staff": False,
    },
    "state": None,
    "checkins": [],
    "rewards": [],
    "inventory": [],
    "ledger": [],
    "events": [],
    "idempotency_keys": [],
    "groups": [],
    "permissions": [],
    "admin_log": [],
    "refresh_tokens": [],
}


class MePrivacyViewSet(viewsets.ViewSet):
    """The caller's rights over their data: a copy of all of it, and erasure."""

    @extend_schema(
        tags=["me"],
        operation_id="me_export",
        summary="Export all my data",
        responses={
            200: OpenApiResponse(
                ExportOutputSerializer,
                description="Every row about the caller, one key per kind of row.",
                examples=[
                    OpenApiExample("A new account", value=EXPORT_EXAMPLE, response_only=True)
                ],
            )
        },
    )
    def export(self, request):
        """Every row about the caller as one JSON document, the same document
        ``manage.py export_user`` writes."""
        data = services.user_export(user_id=request.user.pk, now=timezone.now(), active_only=True)
        return HttpResponse(services.export_document(data), content_type="application/json")

    @extend_schema(
        tags=["me"],
        operation_id="me_delete",
        summary="Erase my account",
        request=MeEraseInputSerializer,
        examples=[
            OpenApiExample(
                "The password", value={"password": "correct-horse-battery"}, request_only=True
            )
        ],
        responses={
            204: OpenApiResponse(
                description="The account and every row about it are erased; its tokens "
                "answer 401 account_unavailable from now on."
            ),
            **problem(
                403,
                WrongPassword,
                description="(the password is wrong: nothing is erased; counted like a "
                "failed login)",
            ),
        },
    )
    def destroy(self, request):
        """Erase the caller's account and all of its data, confirmed with the
        password (403 ``wrong_password`` when wrong: nothing is erased).
        Wrong passwords count against the client's failed-login limit."""
        data = MeEraseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with failed_logins_per_ip(request):
            services.me_erase(
                user_id=request.user.pk,
                password=data.validated_data["password"],
                now=timezone.now(),
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
