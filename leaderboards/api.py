"""HTTP for the leaderboards."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.response import Response

from base.openapi import problems
from base.replica import ReplicaReadsMixin
from leaderboards.boards import BOARDS
from leaderboards.errors import NoPreviousPeriod, UnknownBoard
from leaderboards.selectors import board_read
from leaderboards.serializers import (
    LeaderboardOutputSerializer,
    LeaderboardQuerySerializer,
    board_data,
)


@extend_schema(tags=["leaderboards"])
class LeaderboardViewSet(ReplicaReadsMixin, viewsets.ViewSet):
    lookup_field = "board"
    lookup_value_regex = "[^/]+"

    @extend_schema(
        operation_id="leaderboards_retrieve",
        description=(
            "The top of a board, the caller's rank and the number of participants. "
            "`streak`: current streaks (a streak whose loss was announced is off the board); "
            "`weekly`: check-ins in each user's own local ISO week, the caller's week (or "
            "the one before, `period=previous`; the streak board has none: 404 "
            "`no_previous_period`). Ties share a rank. Users who set "
            "`leaderboard_opt_in: false` (PATCH /me) are neither shown nor counted."
        ),
        parameters=[
            OpenApiParameter("board", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(BOARDS)),
            LeaderboardQuerySerializer,
        ],
        responses={
            200: LeaderboardOutputSerializer,
            **problems(400, 401, 404, 429),
        },
    )
    def retrieve(self, request, board: str):
        if board not in BOARDS:
            raise UnknownBoard()
        # A plain dict, not the QueryDict: DRF reads an empty query value of a
        # form-like input as "missing" (the default), so `?period=` would pass.
        query = LeaderboardQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        if board == "streak" and query.validated_data["period"] != "current":
            raise NoPreviousPeriod()
        now = timezone.now()

        def read():
            return board_read(
                user_id=request.user.pk,
                board=board,
                period=query.validated_data["period"],
                limit=query.validated_data["limit"],
                now=now,
                using=self.read_alias,
            )

        return Response(board_data(self.reading(request, read)))
