"""HTTP for the caller's events: their activity feed."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets

from base.pagination import NewestCreatedFirstPagination
from base.replica import ReplicaReadsMixin
from events.models import Event
from events.selectors import events_for_user
from events.serializers import EventOutputSerializer


@extend_schema(tags=["events"])
class EventViewSet(ReplicaReadsMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = EventOutputSerializer
    pagination_class = NewestCreatedFirstPagination

    def get_queryset(self) -> QuerySet[Event]:
        user_id = self.request.user.pk
        if user_id is None:  # no user: only the schema generator asks
            return Event.objects.none()
        return events_for_user(user_id=user_id, using=self.read_alias)

    @extend_schema(
        operation_id="events_list",
        summary="List my events (activity feed)",
        description=(
            "The caller's domain events, newest first, cursor-paginated: `checkin.created`, "
            "`streak.extended`, `streak.freeze_consumed`, `streak.lost`, `streak.at_risk`, "
            "`streak.restored`, `level.up`, `reward.unlocked`, `reward.claimed`, "
            "`tool.purchased`, `tool.used`. Each is `{id, type, created_at, data}`; `data` "
            "holds `user_id` and the type's fields (docs/API.md lists them). The same "
            "events are sent to webhook endpoints."
        ),
        responses={
            200: OpenApiResponse(
                EventOutputSerializer(many=True),
                description="One page of events.",
                examples=[
                    OpenApiExample(
                        "A check-in",
                        value={
                            "id": "019c0f6e-2a40-7001-9b3e-5f0c1d2e3a4b",
                            "type": "checkin.created",
                            "created_at": "2026-03-04T08:15:00.123456Z",
                            "data": {
                                "user_id": "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
                                "date": "2026-03-04",
                                "streak": 1,
                            },
                        },
                        response_only=True,
                    )
                ],
            )
        },
    )
    def list(self, request, *args, **kwargs):
        parent = super().list
        return self.reading(request, lambda: parent(request, *args, **kwargs))
