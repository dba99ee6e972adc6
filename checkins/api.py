"""HTTP for check-ins."""

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from base.openapi import problems
from base.pagination import NewestDateFirstPagination
from base.replica import ReplicaReadsMixin
from checkins.models import CheckIn
from checkins.selectors import checkins_for_user, month_calendar
from checkins.serializers import (
    CalendarOutputSerializer,
    CalendarQuerySerializer,
    CheckinCreateOutputSerializer,
    CheckinOutputSerializer,
)
from checkins.services import CheckinResult, checkin_create
from engagement.serializers import state_data, step_meta
from rewards.serializers import NoInputSerializer

_DATETIME = serializers.DateTimeField()


def checkin_payload(result: CheckinResult) -> dict:
    """The body of a successful check-in, as ``CheckinCreateOutputSerializer``
    documents it; built directly because this is the hottest path."""
    state = result.state
    state_out = state_data(state, result.today)
    checkin = result.checkin
    return {
        "checkin": {
            "id": checkin.id,
            "date": checkin.date.isoformat(),
            "streak": checkin.streak,
            "freezes_used": checkin.freezes_used,
            "created_at": _DATETIME.to_representation(checkin.created_at),
        },
        "state": state_out,
        "streak": {
            "current": state.streak,
            "longest": state.longest_streak,
            "status": state_out["streak_status"],
        },
        "freezes_used": result.freezes_used,
        "unlocked": [
            {"id": u.reward.id, "title": u.reward.title, "auto_claimed": u.auto_claimed}
            for u in result.unlocked
        ],
        "meta": step_meta(result.checkin_step),
    }


def _no_input(request: Request) -> None:
    """A check-in takes no body: nothing or ``{}``. Anything else (a date, a
    streak, malformed JSON, another media type) is refused before the check-in,
    like every other body. Parsing an absent body costs nothing, and the
    serializer only runs when there is something to refuse."""
    data = request.data
    if isinstance(data, dict) and not data:
        return
    NoInputSerializer(data=data).is_valid(raise_exception=True)


@extend_schema(tags=["checkins"])
class CheckinViewSet(ReplicaReadsMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = CheckinOutputSerializer
    pagination_class = NewestDateFirstPagination

    def get_queryset(self) -> QuerySet[CheckIn]:
        user_id = self.request.user.pk
        if user_id is None:  # no user: only the schema generator asks
            return CheckIn.objects.none()
        return checkins_for_user(user_id=user_id, using=self.read_alias)

    @extend_schema(
        operation_id="checkins_list",
        responses={200: CheckinOutputSerializer(many=True), **problems(400, 401, 404)},
    )
    def list(self, request, *args, **kwargs):
        parent = super().list
        return self.reading(request, lambda: parent(request, *args, **kwargs))

    @extend_schema(
        operation_id="checkins_create",
        description="Check in for today. The body is empty or `{}`; anything else is a 400.",
        request=None,
        responses={201: CheckinCreateOutputSerializer, **problems(400, 401, 409, 413, 415)},
    )
    def create(self, request):
        _no_input(request)
        result = checkin_create(user_id=request.user.pk, now=timezone.now())
        return Response(checkin_payload(result), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="checkins_calendar",
        description=(
            "The days of one month (the user's local dates) with a check-in "
            "(`checked_in`) or bridged by a streak freeze (`frozen`), oldest first. "
            "400 `validation_error` when `month` is missing or not YYYY-MM."
        ),
        parameters=[
            OpenApiParameter(
                "month",
                str,
                OpenApiParameter.QUERY,
                required=True,
                pattern=r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$",
                description="YYYY-MM (years 1000 to 9999)",
            )
        ],
        responses={200: CalendarOutputSerializer, **problems(400, 401)},
    )
    @action(detail=False, methods=["get"], url_path="calendar", pagination_class=None)
    def calendar(self, request):
        query = CalendarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        month = query.validated_data["month"]
        days = month_calendar(user_id=request.user.pk, year=int(month[:4]), month=int(month[5:]))
        return Response(CalendarOutputSerializer({"month": month, "days": days}).data)
