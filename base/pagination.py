"""Cursor pagination: stable under inserts, no COUNT(*), bounded page size.

Unlike DRF's default, a malformed ``page_size`` is a 400 problem about the
query parameters instead of being silently ignored; a page size above the
maximum is capped. A cursor the
server did not issue names no page: 404, as in DRF, whether it fails to
decode or decodes to a position the ordering field cannot hold.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination

from base.errors import QueryParameterError


class NewestFirstPagination(CursorPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-id"

    def paginate_queryset(self, queryset, request, view=None):
        # The field the cursor's position is compared with, for decode_cursor.
        first = self.get_ordering(request, queryset, view)[0]
        self.position_field: Field = queryset.model._meta.get_field(first.lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request) -> Cursor | None:
        # DRF only checks that a cursor decodes. A forged one that decodes to a
        # position of the wrong type ("p=x" for an id) would otherwise fail in
        # the queryset filter as a 500 (PostgreSQL also refuses NUL in text).
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                self.position_field.to_python(cursor.position)
            except (DjangoValidationError, ValueError, TypeError):
                raise NotFound(self.invalid_cursor_message) from None
        return cursor

    def get_page_size(self, request):
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        raw = values[-1]
        if len(values) > 1 or not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise QueryParameterError(
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


class NewestCreatedFirstPagination(NewestFirstPagination):
    # Rows of one write share created_at; the id breaks the tie (the cursor's
    # offset steps over equal positions).
    ordering = ("-created_at", "-id")  # type: ignore[assignment]  # DRF takes a tuple too
