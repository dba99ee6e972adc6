"""HTTP for the caller's ledger."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets

from base.pagination import NewestFirstPagination
from base.replica import ReplicaReadsMixin
from engagement.examples import FIRST_CHECKIN_DELTAS, STATE_EXAMPLE, applied_example
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
        summary="List my ledger entries",
        description=(
            "Every change of the caller's state, newest first, cursor-paginated: one entry "
            "per step with its `kind` (`checkin`, `reward_claim`, `tool_buy`, `tool_use`, "
            "`freeze_used`, `admin_grant`, `admin_adjust`, `streak_restore`), `ref`, the "
            "applied `deltas` and the state after it. The initial state plus the sum of the "
            "deltas is the current state."
        ),
        responses={
            200: OpenApiResponse(
                LedgerEntryOutputSerializer(many=True),
                description="One page of ledger entries.",
                examples=[
                    OpenApiExample(
                        "A check-in",
                        value={
                            "id": 1,
                            "kind": "checkin",
                            "ref": "2026-03-04",
                            "deltas": applied_example(**FIRST_CHECKIN_DELTAS),
                            "state_after": {
                                k: v for k, v in STATE_EXAMPLE.items() if k != "streak_status"
                            },
                            "created_at": "2026-03-04T08:15:00.123456Z",
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
