"""The endpoint page's own tools: the secret shown once, "Rotate secret" and
"Replay from time T", each a page of its own with a confirmation.

The secret never goes through a form, a list or a message (messages may be
kept in a cookie): the service's ``NewSecret`` is put in the server-side
session, and the next visit of the endpoint's secret page takes it out and
shows it, once (never cached).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from base.admin_mixins import AdminMixinBase
from base.plurals import counted
from webhooks import selectors, services
from webhooks.admin_forms import ReplayForm
from webhooks.models import WebhookEndpoint

SECRET_SESSION_KEY = "webhooks_new_secret"  # noqa: S105 (a session key, not a secret)
ROUTE = "webhooks_webhookendpoint"


class EndpointToolsMixin(AdminMixinBase):
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/secret/", view(self.secret_view), name=f"{ROUTE}_secret"),
            path(
                "<path:object_id>/rotate-secret/",
                view(self.rotate_view),
                name=f"{ROUTE}_rotate",
            ),
            path("<path:object_id>/replay/", view(self.replay_view), name=f"{ROUTE}_replay"),
            *super().get_urls(),
        ]

    # --- The secret, once ---------------------------------------------------------
    def stash_secret(self, request: HttpRequest, new: services.NewSecret) -> None:
        request.session[SECRET_SESSION_KEY] = {
            "endpoint_id": new.endpoint_id,
            "secret": new.secret,
        }

    def redirect_to_secret(self, endpoint_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse(f"admin:{ROUTE}_secret", args=[endpoint_id]))

    def secret_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        stash = request.session.get(SECRET_SESSION_KEY)
        if not stash or stash.get("endpoint_id") != endpoint.pk:
            self.message_user(
                request,
                "The secret is shown only once, right after the endpoint is added or its "
                "secret rotated. If it was lost, rotate the secret to get a new one.",
                messages.WARNING,
            )
            return self._to_change_page(endpoint)
        del request.session[SECRET_SESSION_KEY]
        context = {
            **self._context(request, endpoint, "The endpoint's signing secret"),
            "secret": stash["secret"],
            "previous_until": endpoint.previous_secret_expires_at
            if endpoint.previous_secret
            else None,
        }
        return TemplateResponse(request, "admin/webhooks/endpoint_secret.html", context)

    # --- Rotate -------------------------------------------------------------------
    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        if request.method == "POST":
            now = timezone.now()
            with transaction.atomic():
                new = services.endpoint_rotate_secret(endpoint_id=endpoint.pk, now=now)
                self.log_change(
                    request,
                    endpoint,
                    f"Rotated the secret; the previous one signs beside it until "
                    f"{now + services.PREVIOUS_SECRET_GRACE:%Y-%m-%d %H:%M} UTC.",
                )
            self.stash_secret(request, new)
            return self.redirect_to_secret(endpoint.pk)
        context = {
            **self._context(request, endpoint, "Rotate the secret"),
            "grace_hours": int(services.PREVIOUS_SECRET_GRACE.total_seconds() // 3600),
        }
        return TemplateResponse(request, "admin/webhooks/endpoint_rotate.html", context)

    # --- Replay from time T ------------------------------------------------------
    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        if not endpoint.is_active:
            self.message_user(
                request,
                "A disabled endpoint receives nothing, replays included: activate it first "
                "(tick 'Is active' and save), then replay.",
                messages.ERROR,
            )
            return self._to_change_page(endpoint)
        form = ReplayForm(request.POST if request.method == "POST" else None)
        covered = None
        if form.is_bound and form.is_valid():
            since = form.cleaned_data["since"]
            covered = selectors.replay_event_count(endpoint=endpoint, since=since)
            if "confirm" in request.POST:
                return self._enqueue_replay(request, endpoint, since=since, covered=covered)
        context = {
            **self._context(request, endpoint, "Replay from time T"),
            "form": form,
            "covered": covered,
            "capped": covered is not None and covered > selectors.COUNT_CAP,
            "cap": selectors.COUNT_CAP,
        }
        return TemplateResponse(request, "admin/webhooks/endpoint_replay.html", context)

    def _enqueue_replay(
        self, request: HttpRequest, endpoint: WebhookEndpoint, *, since: Any, covered: int
    ) -> HttpResponse:
        from webhooks.tasks import replay

        events = (
            f"{selectors.COUNT_CAP}+ events"
            if covered > selectors.COUNT_CAP
            else counted(covered, "event")
        )
        with transaction.atomic():
            replay.enqueue(endpoint_id=endpoint.pk, since=since.isoformat(), only_missing=False)
            self.log_change(
                request,
                endpoint,
                f"Replay from {since:%Y-%m-%d %H:%M:%S} UTC enqueued ({events}).",
            )
        self.message_user(
            request,
            f"Replay from {since:%Y-%m-%d %H:%M:%S} UTC enqueued: {events}, each "
            "sent "
            "again by the workers (receivers deduplicate by webhook-id).",
            messages.SUCCESS,
        )
        return self._to_change_page(endpoint)

    # --- Shared --------------------------------------------------------------------
    def _endpoint(self, request: HttpRequest, object_id: str) -> WebhookEndpoint:
        endpoint = self.get_object(request, unquote(object_id))
        if endpoint is None:
            raise Http404("No such webhook endpoint.")
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        return endpoint

    def _to_change_page(self, endpoint: WebhookEndpoint) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse(f"admin:{ROUTE}_change", args=[endpoint.pk]))

    def _context(
        self, request: HttpRequest, endpoint: WebhookEndpoint, title: str
    ) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "original": endpoint,
            "endpoint": endpoint,
        }
