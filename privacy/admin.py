"""Erasures in the admin: read-only, for staff who must show that an account
was erased (the staff action itself is on the user list, ``backoffice``)."""

from django.contrib import admin

from base.admin_mixins import BigTableAdminMixin, ReadOnlyAdminMixin
from privacy.models import Erasure


@admin.register(Erasure)
class ErasureAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "erased_at", "source", "reason")
    list_filter = ("source",)
    search_fields = ("subject__exact",)
    search_help_text = (
        "The exact subject hash (privacy.services.subject_hash of an account id, "
        "from a Django shell)."
    )
    fields = ("id", "subject", "erased_at", "source", "reason")
    readonly_fields = fields
    ordering = ("-id",)
