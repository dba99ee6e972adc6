"""Admin building blocks."""

from django.contrib import admin


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
