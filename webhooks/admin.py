"""Webhooks in the admin: endpoints (edited through the services; the secret
is shown once, after creation or rotation; "replay from time T") and their
deliveries (read-only, with the attempts; "retry now").

Nothing here writes a webhook row itself: every change is a call to
``webhooks.services`` or an enqueued ``webhooks.tasks`` task.
"""

from __future__ import annotations

import json
import uuid

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from base.admin_mixins import BigTableAdminMixin, NewestInline, ReadOnlyAdminMixin
from base.plurals import counted
from webhooks import selectors, services, signing
from webhooks.admin_forms import EndpointForm
from webhooks.admin_tools import EndpointToolsMixin
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint

# One "retry now" takes at most this many deliveries (one task each).
MAX_RETRY = 1000
RETRY_PERMISSION = "webhooks.change_delivery"
DELIVERIES = "admin:webhooks_delivery_changelist"


def types_text(event_types: list[str]) -> str:
    return ", ".join(event_types) if event_types else "all"


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(EndpointToolsMixin, admin.ModelAdmin):
    form = EndpointForm
    list_display = (
        "url",
        "description",
        "types",
        "is_active",
        "disabled_reason",
        "failing_since",
        "pending",
        "deliveries",
    )
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    ordering = ("id",)
    readonly_fields = (
        "status",
        "failing_since",
        "subscribed_from",
        "previous_secret_signs_until",
        "deliveries",
        "created_at",
        "updated_at",
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("url", "description", "event_types")}),)
        return (
            (None, {"fields": ("status", "url", "description", "event_types", "is_active")}),
            (
                "Health",
                {
                    "fields": (
                        "failing_since",
                        "subscribed_from",
                        "previous_secret_signs_until",
                        "deliveries",
                        "created_at",
                        "updated_at",
                    )
                },
            ),
        )

    def has_delete_permission(self, request, obj=None):
        # Deliveries and their history go with an endpoint: deactivate it instead.
        return False

    def get_changelist_instance(self, request):
        """The page's pending counts in one grouped query over pending rows."""
        changelist = super().get_changelist_instance(request)
        endpoints = list(changelist.result_list)
        counts = selectors.pending_counts(endpoint_ids=[e.pk for e in endpoints])
        for endpoint in endpoints:
            endpoint.pending_count = counts.get(endpoint.pk, 0)
        return changelist

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.endpoint_update(
                endpoint_id=obj.pk,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                is_active=data["is_active"],
                now=timezone.now(),
            )
            return
        new = services.endpoint_create(
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            now=timezone.now(),
        )
        # The admin's log entry and redirect need the row the service created.
        obj.pk = new.endpoint_id
        obj._state.adding = False
        self.stash_secret(request, new)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, f"The endpoint {obj.url} was added.", messages.SUCCESS)
        return self.redirect_to_secret(obj.pk)

    @admin.display(description="event types")
    def types(self, endpoint: WebhookEndpoint) -> str:
        return types_text(endpoint.event_types)

    @admin.display(description="pending")
    def pending(self, endpoint: WebhookEndpoint) -> int | str:
        return getattr(endpoint, "pending_count", "-")

    @admin.display(description="deliveries")
    def deliveries(self, endpoint: WebhookEndpoint) -> str:
        url = reverse(DELIVERIES)
        return format_html_join(
            " · ",
            '<a href="{}?endpoint__id__exact={}{}">{}</a>',
            (
                (url, endpoint.pk, query, label)
                for label, query in (
                    ("all", ""),
                    ("pending", "&status__exact=pending"),
                    ("dead", "&status__exact=dead"),
                )
            ),
        )

    @admin.display(description="status")
    def status(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.is_active:
            return "Active"
        return format_html(
            '<strong class="endpoint-disabled">Disabled</strong>{}',
            f": {endpoint.disabled_reason}" if endpoint.disabled_reason else " by staff",
        )

    @admin.display(description="previous secret signs until")
    def previous_secret_signs_until(self, endpoint: WebhookEndpoint):
        expires = endpoint.previous_secret_expires_at
        if not endpoint.previous_secret or expires is None or expires <= timezone.now():
            return "-"
        return expires


class AttemptInline(NewestInline):
    model = DeliveryAttempt
    shown = 50
    verbose_name_plural = f"attempts (newest {shown})"
    ordering = ("-attempted_at",)  # the (delivery, attempted_at) index
    fields = ("attempted_at", "duration_ms", "status_code", "error", "response_body")

    @admin.display(description="response body (excerpt)")
    def response_body(self, attempt: DeliveryAttempt) -> str:
        if not attempt.response_excerpt:
            return "-"
        return format_html('<pre class="response-excerpt">{}</pre>', attempt.response_excerpt)


@admin.register(Delivery)
class DeliveryAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
    )
    list_select_related = ("endpoint",)
    list_filter = ("status", "endpoint", "event_type")
    search_fields = ("event__id__exact",)
    search_help_text = "An event's id (a UUID), exact."
    ordering = ("-id",)
    actions = ("retry_now",)
    inlines = (AttemptInline,)
    fields = (
        "endpoint",
        "event_id",
        "type",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "give_up_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "lease_until",
        "payload",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            event_id = uuid.UUID(term)
        except ValueError:
            return queryset.none(), False
        return queryset.filter(event_id=event_id), False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        ids = list(queryset.order_by().values_list("id", flat=True)[: MAX_RETRY + 1])
        if len(ids) > MAX_RETRY:
            self.message_user(
                request,
                f"Select at most {MAX_RETRY} deliveries to retry at once; nothing was retried.",
                messages.ERROR,
            )
            return
        retried = services.retry_now(delivery_ids=ids, now=timezone.now())
        skipped = len(ids) - retried
        text = f"{retried} of {counted(len(ids), 'delivery', 'deliveries')} will be attempted now."
        if skipped:
            text += f" {skipped} skipped: delivered already, or an attempt is in flight."
        self.message_user(request, text, messages.SUCCESS if retried else messages.WARNING)
        disabled = Delivery.objects.filter(id__in=ids, endpoint__is_active=False).count()
        if disabled:
            self.message_user(
                request,
                f"{disabled} of them belong to a disabled endpoint: they are sent only once "
                "it is active again.",
                messages.WARNING,
            )

    @admin.display(description="event type")
    def type(self, delivery: Delivery) -> str:
        return delivery.event_type

    @admin.display(description="event payload")
    def payload(self, delivery: Delivery) -> str:
        document = json.loads(signing.body(delivery.event))
        return format_html('<pre class="event-payload">{}</pre>', json.dumps(document, indent=2))

    def get_object(self, request, object_id, from_field=None):
        # The payload's event with the row, in one query.
        queryset = self.get_queryset(request).select_related("endpoint", "event")
        try:
            return queryset.get(pk=object_id)
        except (Delivery.DoesNotExist, ValidationError, ValueError, TypeError):
            return None
