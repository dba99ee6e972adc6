"""Standard Webhooks signatures, and secret rotation with a grace period."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks import services, signing
from webhooks.models import WebhookEndpoint
from webhooks.tests.conftest import endpoint_for
from webhooks.tests.helpers import checkin_event, delivery_of

HOUR = dt.timedelta(hours=1)


def test_a_new_secret_has_the_standard_form():
    secret = signing.new_secret()

    assert secret.startswith("whsec_")
    assert len(Webhook(secret)._whsecret) == 32
    assert signing.new_secret() != secret


def test_headers_verify_with_every_secret_given():
    old, new = signing.new_secret(), signing.new_secret()
    body = json.dumps({"id": "x", "type": "checkin.created"}).encode()
    at = timezone.now()

    headers = signing.headers(msg_id="msg_1", at=at, payload=body, secrets_=[new, old])

    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body, headers) == {"id": "x", "type": "checkin.created"}
    assert Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_a_time_in_another_zone_signs_the_same_instant():
    secret = signing.new_secret()
    at = timezone.now().astimezone(zoneinfo.ZoneInfo("Pacific/Kiritimati"))

    headers = signing.headers(msg_id="m", at=at, payload=b"{}", secrets_=[secret])

    assert Webhook(secret).verify(b"{}", headers) == {}


@pytest.mark.django_db
def test_after_a_rotation_both_secrets_verify_for_the_grace_period(receiver):
    endpoint_id = endpoint_for(receiver)
    (old,) = receiver.secrets
    now = timezone.now()

    new = services.endpoint_rotate_secret(endpoint_id=endpoint_id, now=now).secret
    receiver.secrets.append(new)
    delivery = delivery_of(checkin_event(now), now=now)
    assert services.attempt(delivery_id=delivery.pk, now=now).status == "delivered"

    (received,) = receiver.received
    assert received.verified_with == {old, new}
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert endpoint.secret == new
    assert new != old
    assert endpoint.previous_secret_expires_at == now + 24 * HOUR


@pytest.mark.django_db
def test_after_the_grace_period_only_the_new_secret_verifies(receiver):
    endpoint_id = endpoint_for(receiver)
    (_old,) = receiver.secrets
    now = timezone.now()
    rotated_at = now - 24 * HOUR - dt.timedelta(seconds=1)

    new = services.endpoint_rotate_secret(endpoint_id=endpoint_id, now=rotated_at).secret
    receiver.secrets.append(new)
    delivery = delivery_of(checkin_event(now), now=now)
    assert services.attempt(delivery_id=delivery.pk, now=now).status == "delivered"

    (received,) = receiver.received
    assert received.verified_with == {new}
    assert len(received.headers["webhook-signature"].split(" ")) == 1
