"""HTTP for the caller's events: their activity feed."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets

from base.openapi import problems
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
        responses={200: EventOutputSerializer(many=True), **problems(400, 401, 404)},
    )
    def list(self, request, *args, **kwargs):
        parent = super().list
        return self.reading(request, lambda: parent(request, *args, **kwargs))
