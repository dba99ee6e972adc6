"""HTTP for the leaderboards."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.response import Response

from base.errors import QueryParameterError
from base.openapi import problem
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
        summary="Read a leaderboard: the top, my rank, the participants",
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
            200: OpenApiResponse(
                LeaderboardOutputSerializer,
                description="The board as the caller sees it now, from one snapshot.",
                examples=[
                    OpenApiExample(
                        "This week's board",
                        value={
                            "board": "weekly",
                            "period": {"start": "2026-03-02", "end": "2026-03-08"},
                            "final": False,
                            "top": [
                                {"rank": 1, "display_name": "Ada", "score": 5},
                                {"rank": 2, "display_name": "Player 3f9a0c1d", "score": 4},
                                {"rank": 2, "display_name": "Bo", "score": 4},
                                {"rank": 4, "display_name": "Cy", "score": 2},
                            ],
                            "me": {"rank": 2, "score": 4},
                            "participants": 1834,
                        },
                        response_only=True,
                    )
                ],
            ),
            **problem(404, UnknownBoard, NoPreviousPeriod),
        },
    )
    def retrieve(self, request, board: str):
        if board not in BOARDS:
            raise UnknownBoard()
        # A plain dict, not the QueryDict: DRF reads an empty query value of a
        # form-like input as "missing" (the default), so `?period=` would pass.
        query = LeaderboardQuerySerializer(data=request.query_params.dict())
        if not query.is_valid():
            raise QueryParameterError(query.errors)
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
