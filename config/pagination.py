"""Cursor pagination: stable under inserts, no COUNT(*), bounded page size.

Unlike DRF's default, a malformed ``page_size`` is a 400 problem instead of
being silently ignored; a page size above the maximum is capped. A cursor the
server did not issue names no page: 404, as in DRF.
"""

from rest_framework import serializers
from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-id"

    def get_page_size(self, request):
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        raw = values[-1]
        if len(values) > 1 or not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise serializers.ValidationError(
                {self.page_size_query_param: ["Must be one positive integer."]}
            )
        return min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page (default {self.page_size}, capped at {self.max_page_size})."
                )
        return parameters


class NewestDateFirstPagination(NewestFirstPagination):
    # (user, date) is unique, so within one user's rows the date alone is a
    # stable, unique cursor key.
    ordering = "-date"
