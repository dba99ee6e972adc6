"""HTTP for the caller's ledger."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets

from base.openapi import problems
from base.pagination import NewestFirstPagination
from base.replica import ReplicaReadsMixin
from engagement.models import LedgerEntry
from engagement.selectors import ledger_for_user
from engagement.serializers import LedgerEntryOutputSerializer


@extend_schema(tags=["ledger"])
class LedgerViewSet(ReplicaReadsMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = LedgerEntryOutputSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self) -> QuerySet[LedgerEntry]:
        user_id = self.request.user.pk
        if user_id is None:  # no user: only the schema generator asks
            return LedgerEntry.objects.none()
        return ledger_for_user(user_id=user_id, using=self.read_alias)

    @extend_schema(
        operation_id="ledger_list",
        responses={200: LedgerEntryOutputSerializer(many=True), **problems(400, 401, 404)},
    )
    def list(self, request, *args, **kwargs):
        parent = super().list
        return self.reading(request, lambda: parent(request, *args, **kwargs))
