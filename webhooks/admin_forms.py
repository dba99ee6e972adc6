"""The forms of the webhook staff pages: an endpoint (checked as the services
check it, so a refusal is a form error and nothing is written) and "replay
from time T"."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from django import forms
from django.utils import timezone

from events.models import EventType
from webhooks import net, services
from webhooks.models import WebhookEndpoint

URL_HELP = (
    "https only; plain http only for hosts listed in WEBHOOK_ALLOWED_HOSTS. Private, "
    "loopback and link-local addresses are refused unless their host is listed there "
    "(names are resolved and checked again at every delivery)."
)
EVENT_TYPES_HELP = "None ticked: every event type, including types added later."


def event_type_choices() -> list[tuple[str, str]]:
    return [(value, f"{value} ({label})") for value, label in EventType.choices]


def _refuse_private_literal(host: str) -> None:
    """Refuse an IP literal or ``localhost`` that is not public, as delivery
    would (names are only resolved when sending)."""
    if net.host_allowed(host):
        return
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise net.UnsafeTarget(
            f"{host} is a loopback address; add it to WEBHOOK_ALLOWED_HOSTS to allow it."
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    if not net.is_public(host):
        raise net.UnsafeTarget(
            f"{host} is a private, loopback or link-local address; add it to "
            "WEBHOOK_ALLOWED_HOSTS to allow it."
        )


class EndpointForm(forms.ModelForm):
    # A CharField checked by net.check_url: Django's URL validator would refuse
    # hosts without a dot that WEBHOOK_ALLOWED_HOSTS allows (a compose service).
    url = forms.CharField(label="URL", max_length=2000, help_text=URL_HELP)
    event_types = forms.MultipleChoiceField(
        choices=event_type_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=EVENT_TYPES_HELP,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types", "is_active")
        help_texts = {
            "is_active": (
                "Inactive endpoints receive nothing. Re-activating one clears its disabled "
                "reason and sends events from then on; use 'Replay from time T' for the gap."
            ),
        }

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"].strip()
        try:
            _scheme, host, _port, _path = net.check_url(url)
            _refuse_private_literal(host)
        except net.UnsafeTarget as refused:
            raise forms.ValidationError(str(refused), code="unsafe_url") from None
        return url

    def clean_event_types(self) -> list[str]:
        try:
            return services.validate_event_types(self.cleaned_data["event_types"])
        except ValueError as unknown:
            raise forms.ValidationError(str(unknown), code="unknown_event_type") from None

    def _get_validation_exclusions(self) -> Any:
        # The URL was checked above, by the rules deliveries follow. (A private
        # hook of ModelForm, absent from the stubs.)
        exclusions = super()._get_validation_exclusions()  # type: ignore[misc]
        exclusions.add("url")
        return exclusions


class ReplayForm(forms.Form):
    since = forms.DateTimeField(
        label="From (UTC)",
        help_text="e.g. 2026-06-30 14:00 (UTC). Every event from then on is sent again.",
    )

    def clean_since(self) -> dt.datetime:
        since: dt.datetime = self.cleaned_data["since"]
        if since > timezone.now():
            raise forms.ValidationError("The time is in the future.", code="future")
        return since.astimezone(dt.UTC)

    def is_valid(self) -> bool:
        # The time is read in UTC whatever time zone is active.
        with timezone.override(dt.UTC):
            return super().is_valid()
