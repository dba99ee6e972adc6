"""HTTP for the caller's data: ``GET /me/export`` and ``DELETE /me``.

``/me`` is one path with three operations: ``config.api`` composes this
viewset with users' ``MeViewSet`` (GET, PATCH) into one view, so that neither
app imports the other's views.
"""

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from base.openapi import problems
from privacy import services
from privacy.serializers import ExportOutputSerializer, MeEraseInputSerializer
from users.throttling import failed_logins_per_ip


class DeleteBodyAutoSchema(AutoSchema):
    """drf-spectacular documents no request body on DELETE (HTTP gives one no
    defined meaning); ``DELETE /me`` takes the password in its body, so its
    body is documented like a POST's."""

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


def documented_delete_body(view_method):
    """``extend_schema`` builds on the schema class it finds on the method:
    make that :class:`DeleteBodyAutoSchema` (apply below ``extend_schema``)."""
    view_method.schema = DeleteBodyAutoSchema
    return view_method


class MePrivacyViewSet(viewsets.ViewSet):
    """The caller's rights over their data: a copy of all of it, and erasure."""

    @extend_schema(
        tags=["me"],
        operation_id="me_export",
        responses={200: ExportOutputSerializer, **problems(401, 429)},
    )
    def export(self, request):
        """Every row about the caller as one JSON document, the same document
        ``manage.py export_user`` writes."""
        data = services.user_export(user_id=request.user.pk, now=timezone.now(), active_only=True)
        return HttpResponse(services.export_document(data), content_type="application/json")

    @extend_schema(
        tags=["me"],
        operation_id="me_delete",
        request=MeEraseInputSerializer,
        responses={
            204: OpenApiResponse(
                description="The account and every row about it are erased; its tokens "
                "answer 401 account_unavailable from now on."
            ),
            **problems(400, 401, 413, 415, 429),
        },
    )
    @documented_delete_body
    def destroy(self, request):
        """Erase the caller's account and all of its data, confirmed with the
        password (401 ``invalid_credentials`` when wrong: nothing is erased).
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
