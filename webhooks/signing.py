"""The Standard Webhooks wire format: the body, the three headers, the secret."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets

from standardwebhooks.webhooks import Webhook

from events.models import Event

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
USER_AGENT = "stateful-engagement-webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def body(event: Event) -> bytes:
    """The event as ``GET /api/v1/events`` shows it: id, type, created_at, data."""
    document = {
        "id": str(event.id),
        "type": event.type,
        "created_at": event.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def headers(*, msg_id: str, at: dt.datetime, payload: bytes, secrets_: list[str]) -> dict[str, str]:
    """The headers of one attempt: ``webhook-signature`` carries one ``v1,``
    signature per secret (two while a rotated secret is still honoured)."""
    # The library signs ``at`` as if it were UTC (it replaces the zone), so
    # the header and the signature agree only for a UTC time.
    at = at.astimezone(dt.UTC)
    text = payload.decode()
    signatures = " ".join(Webhook(s).sign(msg_id=msg_id, timestamp=at, data=text) for s in secrets_)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
