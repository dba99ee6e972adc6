"""Cursor pagination: stable under inserts, no COUNT(*), bounded page size."""

from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-id"


class NewestDateFirstPagination(NewestFirstPagination):
    # (user, date) is unique, so within one user's rows the date alone is a
    # stable, unique cursor key.
    ordering = "-date"
