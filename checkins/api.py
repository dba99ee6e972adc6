"""HTTP for check-ins."""

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from base.errors import QueryParameterError
from base.openapi import problem
from base.pagination import NewestDateFirstPagination
from base.replica import ReplicaReadsMixin
from checkins.errors import AlreadyCheckedIn
from checkins.models import CheckIn
from checkins.selectors import checkins_for_user, month_calendar
from checkins.serializers import (
    CalendarOutputSerializer,
    CalendarQuerySerializer,
    CheckinCreateOutputSerializer,
    CheckinOutputSerializer,
)
from checkins.services import CheckinResult, checkin_create
from engagement.examples import FIRST_CHECKIN_DELTAS, STATE_EXAMPLE, meta_example
from engagement.serializers import state_data, step_meta
from rewards.serializers import NoInputSerializer

_DATETIME = serializers.DateTimeField()

CHECKIN_EXAMPLE = {
    "id": 1,
    "date": "2026-03-04",
    "streak": 1,
    "freezes_used": 0,
    "created_at": "2026-03-04T08:15:00.123456Z",
}


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
        summary="List my check-ins",
        description=(
            "The caller's check-ins, newest date first, cursor-paginated: follow `next`. "
            "`page_size` sets the page length (1-100, default 20)."
        ),
        responses={
            200: OpenApiResponse(
                CheckinOutputSerializer(many=True),
                description="One page of check-ins.",
                examples=[
                    OpenApiExample(
                        "One check-in",
                        value=CHECKIN_EXAMPLE,
                        response_only=True,
                    )
                ],
            )
        },
    )
    def list(self, request, *args, **kwargs):
        parent = super().list
        return self.reading(request, lambda: parent(request, *args, **kwargs))

    @extend_schema(
        operation_id="checkins_create",
        summary="Check in for today",
        description=(
            "Check in for today, in the caller's time zone: the streak grows (streak freezes "
            "bridge missed days when there are enough), energy, fatigue and loyalty change, "
            "and the rewards the new state meets unlock. The body is empty or `{}`; anything "
            "else is a 400. Send an `Idempotency-Key` to retry safely: a retry after a lost "
            "answer replays the 201 instead of answering 409 `already_checked_in`."
        ),
        request=None,
        responses={
            201: OpenApiResponse(
                CheckinCreateOutputSerializer,
                description="The check-in, the new state and what it unlocked.",
                examples=[
                    OpenApiExample(
                        "First check-in",
                        value={
                            "checkin": CHECKIN_EXAMPLE,
                            "state": STATE_EXAMPLE,
                            "streak": {"current": 1, "longest": 1, "status": "active"},
                            "freezes_used": 0,
                            "unlocked": [],
                            "meta": meta_example(5, **FIRST_CHECKIN_DELTAS),
                        },
                        response_only=True,
                    )
                ],
            ),
            **problem(409, AlreadyCheckedIn, description="Show today's state instead."),
        },
    )
    def create(self, request):
        _no_input(request)
        result = checkin_create(user_id=request.user.pk, now=timezone.now())
        return Response(checkin_payload(result), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="checkins_calendar",
        summary="My check-in calendar for a month",
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
                examples=[OpenApiExample("March 2026", value="2026-03")],
            )
        ],
        responses={
            200: OpenApiResponse(
                CalendarOutputSerializer,
                description="The month's days that count for the streak, oldest first.",
                examples=[
                    OpenApiExample(
                        "A freeze, then a check-in",
                        value={
                            "month": "2026-03",
                            "days": [
                                {"date": "2026-03-03", "status": "frozen"},
                                {"date": "2026-03-04", "status": "checked_in"},
                            ],
                        },
                        response_only=True,
                    )
                ],
            )
        },
    )
    @action(detail=False, methods=["get"], url_path="calendar", pagination_class=None)
    def calendar(self, request):
        query = CalendarQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise QueryParameterError(query.errors)
        month = query.validated_data["month"]
        days = month_calendar(user_id=request.user.pk, year=int(month[:4]), month=int(month[5:]))
        return Response(CalendarOutputSerializer({"month": month, "days": days}).data)
