"""State and ledger: read-only. Only services change them (admin actions on the
user list call the grant services), always under the state lock and with a
ledger entry."""

from django.contrib import admin
from django.contrib.admin.utils import display_for_value
from django.utils.html import format_html, format_html_join

from base.admin_mixins import (
    BigTableAdminMixin,
    NewestInline,
    ReadOnlyAdminMixin,
    UserEmailSearchMixin,
    short_time,
)
from engagement import rules
from engagement.models import LedgerEntry, UserState

STATE_COLUMNS = (*rules.STATE_FIELDS, "last_checkin_date", *rules.LOSS_FIELDS, "updated_at")


@admin.register(UserState)
class UserStateAdmin(
    UserEmailSearchMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = (
        "user",
        "level",
        "energy",
        "fatigue",
        "loyalty",
        "streak",
        "longest_streak",
        "total_checkins",
        "streak_freezes",
        "last_checkin_date",
    )
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    ordering = ("-pk",)  # the primary key (user_id)
    fields = ("user", *STATE_COLUMNS)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(
    UserEmailSearchMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = (
        "id",
        "created_at",
        "user",
        "kind",
        "ref",
        "level",
        "energy",
        "fatigue",
        "loyalty",
        "streak",
        "streak_freezes",
        "short_reason",
    )
    list_filter = ("kind",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    # By time, newest first: back-dated rows (a simulation's) sit at their
    # time, not above today's. The (created_at, id) index serves it, and its
    # keyset (?after=) past the capped count.
    ordering = ("-created_at", "-id")
    fields = (
        "id",
        "user",
        "kind",
        "ref",
        "reason",
        *rules.STATE_FIELDS,
        "state_after",
        "created_at",
    )

    @admin.display(description="reason")
    def short_reason(self, entry: LedgerEntry) -> str:
        return entry.reason if len(entry.reason) <= 60 else entry.reason[:59] + "…"


STATE_TABLE_COLUMNS = 3


def state_table(state: UserState | None) -> str:
    """A user's state as a small read-only table for the user's admin page:
    name and value pairs, three pairs a line."""
    if state is None:
        return "No state yet: it is created at the first check-in or GET /me."
    cells = [
        format_html(
            "<th>{}</th><td>{}</td>",
            field.replace("_", " "),
            display_for_value(getattr(state, field), "-"),
        )
        for field in STATE_COLUMNS
    ]
    rows = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "{}", ((cell,) for cell in cells[i : i + STATE_TABLE_COLUMNS])),)
            for i in range(0, len(cells), STATE_TABLE_COLUMNS)
        ),
    )
    return format_html('<table class="engagement-state">{}</table>', rows)


class LedgerInline(NewestInline):
    model = LedgerEntry
    verbose_name_plural = f"ledger (newest {NewestInline.shown})"
    ordering = ("-created_at", "-id")  # as the ledger list: by time
    fields = (
        "id",
        "created",
        "kind",
        "ref",
        "level",
        "energy",
        "fatigue",
        "loyalty",
        "streak",
        "streak_freezes",
        "reason",
    )

    @admin.display(description="created at")
    def created(self, entry: LedgerEntry) -> str:
        return short_time(entry.created_at)
