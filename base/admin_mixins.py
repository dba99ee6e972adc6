"""Admin building blocks.

Big tables (state, ledger, check-ins, ownership, inventory, users) grow with
every user and every day, so their changelists must cost the same whatever
their size: :class:`CappedCountPaginator` instead of a full ``COUNT(*)``,
``show_full_result_count = False``, ``list_select_related`` and an ordering an
index serves. Per-user history on a user's page is shown by
:class:`NewestInline`: view-only and bounded to the newest rows.
"""

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
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
    table. Past the cap the changelist shows "10000+" (see
    ``admin/capped_pagination.html``) and the pages run out at the cap."""

    cap = 10_000
    object_list: QuerySet[Any]  # a changelist's queryset

    @cached_property
    def count(self) -> int:
        return self.object_list.values("pk")[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


class BigTableAdminMixin(AdminMixinBase):
    """Changelist options for tables that grow without bound. Give the admin an
    ``ordering`` that an index serves (``-id``, ``-pk`` or a leading indexed column)."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50


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
