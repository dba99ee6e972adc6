"""Admin building blocks.

Big tables (state, ledger, check-ins, ownership, inventory, users) grow with
every user and every day, so their changelists must cost the same whatever
their size: :class:`CappedCountPaginator` instead of a full ``COUNT(*)``,
``show_full_result_count = False``, ``list_select_related`` and an ordering an
index serves. Past the capped count, :class:`KeysetChangeList` continues after
the last row shown (``?after=...``, a keyset on the list's ordering), so every
row can be reached without an ``OFFSET`` that grows with the table. Per-user
history on a user's page is shown by :class:`NewestInline`: view-only and
bounded to the newest rows.
"""

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.utils.functional import cached_property

if TYPE_CHECKING:
    # To the type checker the ModelAdmin mixins are model admins: their options
    # and super() calls are checked against ModelAdmin's.
    AdminMixinBase = admin.ModelAdmin[Any]
else:
    AdminMixinBase = object


COMPACT_CSS = "base/admin_compact.css"


class CappedCountPaginator(Paginator):
    """Counts at most ``cap + 1`` rows: ``SELECT COUNT(*) FROM (SELECT id ...
    LIMIT cap + 1)``, which walks the changelist's index instead of the whole
    table. Past the cap, ``count`` is the cap itself, so the pages, the
    "10000+" under the list and the search box's "10000+ results" agree (see
    ``admin/capped_pagination.html``); the rows after them are reached by
    :class:`KeysetChangeList`'s link."""

    cap = 10_000
    object_list: QuerySet[Any]  # a changelist's queryset

    @cached_property
    def counted(self) -> int:
        return self.object_list.values("pk")[: self.cap + 1].count()

    @property
    def count(self) -> int:
        return min(self.counted, self.cap)

    @property
    def capped(self) -> bool:
        return self.counted > self.cap


AFTER_VAR = "after"
KEYSET_SEPARATOR = "~"


class KeysetChangeList(ChangeList):
    """A changelist that can start after a given row of its default ordering:
    ``?after=<value>~<value>`` holds the ordering's values of that row (e.g.
    ``created_at`` and ``id``). The rows after it are ``(a < v1) OR (a = v1
    AND b < v2)`` for a descending ordering, which the ordering's index
    serves as it serves the first page. ``next_url`` continues after the
    page's last row (offered once the count is capped), ``newest_url``
    starts from the top again."""

    def __init__(self, request, *args, **kwargs):
        self.after = request.GET.get(AFTER_VAR, "")
        self.keyset_request = request
        super().__init__(request, *args, **kwargs)

    @cached_property
    def keyset(self) -> tuple[str, ...]:
        # The big tables order by field names (never expressions).
        return tuple(str(name) for name in self.model_admin.get_ordering(self.keyset_request))

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(AFTER_VAR, None)
        return lookup_params

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        if self.after and self.keyset:
            queryset = queryset.filter(self._after(self._parse(self.after)))
        return queryset

    def get_results(self, request):
        super().get_results(request)
        self.next_url = self.newest_url = None
        custom_order = ORDER_VAR in self.params
        if self.after:
            self.newest_url = self.get_query_string(remove=[AFTER_VAR, PAGE_VAR])
        if getattr(self.paginator, "capped", False) and self.result_list and not custom_order:
            cursor = self._cursor(list(self.result_list)[-1])
            self.next_url = self.get_query_string({AFTER_VAR: cursor}, remove=[PAGE_VAR])

    def _field(self, name: str):
        opts = self.model._meta
        return opts.pk if name == "pk" else opts.get_field(name)

    def _parse(self, raw: str) -> list[Any]:
        names = [name.lstrip("-") for name in self.keyset]
        parts = raw.split(KEYSET_SEPARATOR, len(names) - 1)
        if len(parts) != len(names):
            raise IncorrectLookupParameters(f"{AFTER_VAR} needs {len(names)} values")
        try:
            return [self._field(n).to_python(v) for n, v in zip(names, parts, strict=True)]
        except ValidationError as exc:
            raise IncorrectLookupParameters(exc) from exc

    def _after(self, values: list[Any]) -> Q:
        after = Q()
        for index, ordered in enumerate(self.keyset):
            name = ordered.lstrip("-")
            op = "lt" if ordered.startswith("-") else "gt"
            equal = {prefix.lstrip("-"): values[i] for i, prefix in enumerate(self.keyset[:index])}
            after |= Q(**equal, **{f"{name}__{op}": values[index]})
        return after

    def _cursor(self, row: Any) -> str:
        values = []
        for ordered in self.keyset:
            value = getattr(row, ordered.lstrip("-"))
            values.append(value.isoformat() if isinstance(value, dt.datetime) else str(value))
        return KEYSET_SEPARATOR.join(values)


class BigTableAdminMixin(AdminMixinBase):
    """Changelist options for tables that grow without bound. Give the admin an
    ``ordering`` that an index serves (``-id``, ``-pk`` or a leading indexed column)."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def get_changelist(self, request, **kwargs):
        return KeysetChangeList


class ReadOnlyAdminMixin:
    """Rows that only services may write (state, ledger, check-ins, ownership):
    staff can look, never add, edit or delete them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


class NewestFormSet(BaseInlineFormSet):
    """An inline formset showing only the newest ``shown`` rows of the parent's
    (in the inline's ``ordering``): one ``... ORDER BY ... LIMIT shown`` query,
    however long the history is."""

    shown = 20

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[: self.shown]
        return self._queryset


class NewestInline(ReadOnlyInline):
    """A view-only inline of the newest ``shown`` rows; set ``ordering``
    (newest first, index-backed) and ``list_select_related`` for the columns.
    Drawn as a compact table, one line per row, without Django's per-row header
    (see ``admin/edit_inline/compact_tabular.html``)."""

    shown = 20
    list_select_related: tuple[str, ...] = ()
    template = "admin/edit_inline/compact_tabular.html"

    class Media:
        css = {"all": (COMPACT_CSS,)}

    def get_formset(self, request, obj=None, **kwargs):
        # Built from self.formset, a NewestFormSet.
        formset = cast(type[NewestFormSet], super().get_formset(request, obj, **kwargs))
        formset.shown = self.shown
        return formset

    formset = NewestFormSet

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.list_select_related:
            queryset = queryset.select_related(*self.list_select_related)
        return queryset

    def get_readonly_fields(self, request, obj=None):
        return self.fields or ()


def short_time(moment) -> str:
    """``2026-05-04 10:48`` in the admin's time zone: one short line in a
    compact table (``-`` for none)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


class UserEmailSearchMixin(AdminMixinBase):
    """Search a per-user table by the user's exact e-mail address: stored
    lower-cased, so the unique index on ``users_user.email`` finds the user and
    the table's per-user index finds the rows. (A substring search would scan
    the whole table.)"""

    search_fields = ("user__email__exact",)
    search_help_text = "The user's exact e-mail address."

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.strip().lower())
