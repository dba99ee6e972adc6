"""The webhook staff pages through the real admin URLs: endpoints are written
by the services only, the secret is shown once, rotation and replay have
their confirmations, deliveries are read-only with their attempts, and
"retry now" enqueues attempts."""

import datetime as dt

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from events.models import EventType
from users.tests.factories import UserFactory
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.tests.factories import make_delivery, make_endpoint, make_event

pytestmark = pytest.mark.django_db

ENDPOINTS = "admin:webhooks_webhookendpoint_changelist"
ADD = "admin:webhooks_webhookendpoint_add"
DELIVERIES = "admin:webhooks_delivery_changelist"


def url_of(name: str, *args) -> str:
    return reverse(f"admin:webhooks_{name}", args=args)


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def tasks(name: str) -> list[dict]:
    return [
        row.args_kwargs["kwargs"]
        for row in DBTaskResult.objects.filter(task_path=f"webhooks.tasks.{name}")
    ]


def add_form(**fields) -> dict:
    return {"url": "https://hooks.example.com/in", "description": "CRM", **fields}


# --- Endpoints: add, the secret once --------------------------------------------------
def test_adding_an_endpoint_shows_its_secret_once_and_never_again(staff):
    response = staff.post(
        reverse(ADD), add_form(event_types=["checkin.created", "level.up"]), follow=True
    )

    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.description) == ("https://hooks.example.com/in", "CRM")
    assert endpoint.event_types == ["checkin.created", "level.up"]
    assert response.redirect_chain == [(url_of("webhookendpoint_secret", endpoint.pk), 302)]
    page = response.content.decode()
    assert endpoint.secret in page
    assert "webhook-signature" in page
    assert "no-store" in response["Cache-Control"]
    # Never again: not on a second visit, the endpoint's page, the list or the history.
    again = staff.get(url_of("webhookendpoint_secret", endpoint.pk), follow=True)
    assert endpoint.secret not in again.content.decode()
    assert "shown only once" in again.content.decode()
    for url in (url_of("webhookendpoint_change", endpoint.pk), reverse(ENDPOINTS)):
        assert endpoint.secret not in staff.get(url).content.decode()
    assert endpoint.secret not in str(list(LogEntry.objects.values()))


def test_an_endpoint_without_types_receives_every_type(staff):
    staff.post(reverse(ADD), add_form())

    assert WebhookEndpoint.objects.get().event_types == []
    assert "all" in staff.get(reverse(ENDPOINTS)).content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"url": "http://hooks.example.com/in"}, "url", "Plain http is allowed only"),
        ({"url": "ftp://hooks.example.com/in"}, "url", "must use https"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url", "may not carry credentials"),
        ({"url": "https://10.1.2.3/in"}, "url", "private, loopback or link-local"),
        ({"url": "https://[::1]:8443/in"}, "url", "private, loopback or link-local"),
        ({"url": "https://localhost/in"}, "url", "loopback"),
        ({"url": "https:///in"}, "url", "no host"),
        ({"event_types": ["checkin.created", "nope"]}, "event_types", "nope"),
    ],
)
def test_a_refused_endpoint_is_a_form_error_and_writes_nothing(staff, fields, field, message):
    response = staff.post(reverse(ADD), add_form(**fields))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not WebhookEndpoint.objects.exists()
    assert not DBTaskResult.objects.exists()


@override_settings(WEBHOOK_ALLOWED_HOSTS=["receiver", "127.0.0.1"])
@pytest.mark.parametrize("url", ["http://receiver:9000/hook", "http://127.0.0.1:9000/hook"])
def test_allowed_hosts_may_use_http_and_private_addresses(staff, url):
    response = staff.post(reverse(ADD), add_form(url=url))

    assert response.status_code == 302
    assert WebhookEndpoint.objects.get().url == url


# --- Endpoints: change, disabled --------------------------------------------------------
def test_editing_goes_through_the_service_and_never_shows_the_secret(staff):
    endpoint = make_endpoint()
    change = url_of("webhookendpoint_change", endpoint.pk)

    page = staff.get(change).content.decode()
    response = staff.post(
        change,
        {"url": "https://other.example.com/x", "description": "", "event_types": ["tool.used"]},
    )

    assert endpoint.secret not in page
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.event_types, endpoint.is_active) == (
        "https://other.example.com/x",
        ["tool.used"],
        False,  # the box was not ticked
    )


def test_an_invalid_change_writes_nothing(staff):
    endpoint = make_endpoint()
    before = WebhookEndpoint.objects.values().get()

    response = staff.post(
        url_of("webhookendpoint_change", endpoint.pk),
        {"url": "http://evil.example.com/", "description": "x", "is_active": "on"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["url"]
    assert WebhookEndpoint.objects.values().get() == before


def test_a_disabled_endpoint_shows_its_reason_and_is_re_enabled_by_ticking_active(staff):
    reason = "Disabled automatically at 2026-06-30 12:00 UTC: every delivery has failed"
    endpoint = make_endpoint(is_active=False, disabled_reason=reason, failing_since=timezone.now())
    change = url_of("webhookendpoint_change", endpoint.pk)

    page = staff.get(change).content.decode()
    assert "endpoint-disabled-reason" in page
    assert reason in page
    assert reason in staff.get(reverse(ENDPOINTS)).content.decode()

    staff.post(change, {"url": endpoint.url, "description": "", "is_active": "on"})

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason, endpoint.failing_since) == (
        True,
        "",
        None,
    )


def test_endpoints_cannot_be_deleted_in_the_admin(staff):
    endpoint = make_endpoint()

    response = staff.post(url_of("webhookendpoint_delete", endpoint.pk), {"post": "yes"})

    assert response.status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


# --- Rotate --------------------------------------------------------------------------
def test_rotating_asks_first_then_shows_the_new_secret_once(staff):
    endpoint = make_endpoint()
    old = endpoint.secret
    rotate = url_of("webhookendpoint_rotate", endpoint.pk)

    confirm = staff.get(rotate)
    assert confirm.status_code == 200
    assert "24 hours" in confirm.content.decode()
    assert WebhookEndpoint.objects.get().secret == old  # a GET changes nothing

    response = staff.post(rotate, follow=True)

    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert endpoint.previous_secret == old
    page = response.content.decode()
    assert endpoint.secret in page
    assert old not in page
    assert "keeps signing beside this one until" in page
    again = staff.get(url_of("webhookendpoint_secret", endpoint.pk), follow=True)
    assert endpoint.secret not in again.content.decode()
    assert LogEntry.objects.filter(object_id=str(endpoint.pk)).exists()


def test_the_secret_page_of_another_endpoint_does_not_show_the_stashed_secret(staff):
    first, second = make_endpoint(), make_endpoint(url="https://b.example.com/")
    staff.post(url_of("webhookendpoint_rotate", first.pk))
    first.refresh_from_db()

    page = staff.get(url_of("webhookendpoint_secret", second.pk), follow=True)

    assert first.secret not in page.content.decode()
    assert second.secret not in page.content.decode()


# --- Replay ---------------------------------------------------------------------------
def test_replay_counts_the_events_then_enqueues_the_task(staff):
    endpoint = make_endpoint(event_types=["checkin.created"])
    since = timezone.now() - dt.timedelta(hours=2)
    make_event(at=since - dt.timedelta(minutes=1))  # before T
    make_event(at=since + dt.timedelta(minutes=1))
    make_event(at=since + dt.timedelta(minutes=2))
    make_event(EventType.LEVEL_UP, at=since + dt.timedelta(minutes=3))  # not received
    DBTaskResult.objects.all().delete()
    replay = url_of("webhookendpoint_replay", endpoint.pk)
    form = {"since": since.strftime("%Y-%m-%d %H:%M:%S")}

    assert staff.get(replay).status_code == 200
    preview = staff.post(replay, form)
    assert preview.status_code == 200
    assert preview.context["covered"] == 2
    assert not DBTaskResult.objects.exists()  # nothing until confirmed

    response = staff.post(replay, {**form, "confirm": "1"}, follow=True)

    expected_since = since.replace(microsecond=0).astimezone(dt.UTC).isoformat()
    assert tasks("replay") == [
        {"endpoint_id": endpoint.pk, "since": expected_since, "only_missing": False}
    ]
    assert "2 events" in response.content.decode()


@pytest.mark.parametrize("since", ["", "yesterday", "2999-01-01 00:00"])
def test_replay_refuses_a_bad_time(staff, since):
    endpoint = make_endpoint()
    DBTaskResult.objects.all().delete()

    response = staff.post(
        url_of("webhookendpoint_replay", endpoint.pk), {"since": since, "confirm": "1"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["since"]
    assert not DBTaskResult.objects.exists()


def test_a_disabled_endpoint_cannot_be_replayed(staff):
    endpoint = make_endpoint(is_active=False, disabled_reason="down")
    DBTaskResult.objects.all().delete()

    response = staff.post(
        url_of("webhookendpoint_replay", endpoint.pk),
        {"since": "2026-01-01 00:00", "confirm": "1"},
        follow=True,
    )

    assert "activate it first" in response.content.decode()
    assert not DBTaskResult.objects.exists()


# --- Deliveries ----------------------------------------------------------------------
def test_the_delivery_page_shows_its_attempts_and_payload_read_only(staff):
    endpoint = make_endpoint()
    delivery = make_delivery(endpoint, attempts=2, last_status_code=500, last_error="HTTP 500")
    for status_code, body in ((None, ""), (500, "upstream <b>broke</b>")):
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempted_at=timezone.now(),
            duration_ms=123,
            status_code=status_code,
            error="Timed out." if status_code is None else "HTTP 500",
            response_excerpt=body,
        )

    response = staff.get(url_of("delivery_change", delivery.pk))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Timed out." in page
    assert "upstream &lt;b&gt;broke&lt;/b&gt;" in page
    assert f"&quot;id&quot;: &quot;{delivery.event_id}&quot;" in page  # the payload
    assert "&quot;date&quot;: &quot;2026-06-30&quot;" in page
    assert 'name="_save"' not in page


def test_deliveries_cannot_be_added_changed_or_deleted(staff):
    delivery = make_delivery(make_endpoint())
    before = list(Delivery.objects.values())

    assert staff.get(url_of("delivery_add")).status_code == 403
    assert staff.post(url_of("delivery_change", delivery.pk), {"status": "dead"}).status_code == 403
    assert staff.post(url_of("delivery_delete", delivery.pk), {"post": "yes"}).status_code == 403
    assert list(Delivery.objects.values()) == before


def test_retry_now_enqueues_an_attempt_for_dead_and_pending_deliveries(staff):
    endpoint = make_endpoint()
    dead = make_delivery(endpoint, status="dead", attempts=9)
    delivered = make_delivery(endpoint, status="delivered", attempts=1)
    DBTaskResult.objects.all().delete()

    response = staff.post(
        reverse(DELIVERIES),
        {"action": "retry_now", "_selected_action": [dead.pk, delivered.pk]},
        follow=True,
    )

    assert tasks("deliver") == [{"delivery_id": dead.pk}]
    dead.refresh_from_db()
    assert dead.status == "pending"
    assert Delivery.objects.get(pk=delivered.pk).status == "delivered"
    assert "1 of 2 deliveries will be attempted now" in response.content.decode()


def test_retry_now_needs_the_permission(client):
    staff_member = UserFactory(is_staff=True)
    staff_member.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(staff_member)
    make_delivery(make_endpoint())

    page = client.get(reverse(DELIVERIES)).content.decode()

    assert "retry_now" not in page


def test_deliveries_are_filtered_and_searched_by_event_id(staff):
    endpoint = make_endpoint()
    wanted = make_delivery(endpoint, status="dead")
    other = make_delivery(endpoint)

    found = staff.get(reverse(DELIVERIES), {"q": str(wanted.event_id)})
    dead = staff.get(reverse(DELIVERIES), {"status__exact": "dead"})
    by_type = staff.get(reverse(DELIVERIES), {"event_type__exact": "level.up"})
    garbage = staff.get(reverse(DELIVERIES), {"q": "not-a-uuid"})

    assert [d.pk for d in found.context["cl"].result_list] == [wanted.pk]
    assert [d.pk for d in dead.context["cl"].result_list] == [wanted.pk]
    assert list(by_type.context["cl"].result_list) == []
    assert list(garbage.context["cl"].result_list) == []
    everything = staff.get(reverse(DELIVERIES)).context["cl"].result_list
    assert [d.pk for d in everything] == [other.pk, wanted.pk]  # newest first


# --- Lists cost the same whatever their size --------------------------------------------
@pytest.mark.parametrize("rows", [1, 30])
def test_the_lists_cost_a_bounded_number_of_queries(staff, rows, django_assert_max_num_queries):
    endpoints = [make_endpoint(url=f"https://e{i}.example.com/") for i in range(3)]
    for i in range(rows):
        make_delivery(endpoints[i % 3], status=("pending", "dead", "delivered")[i % 3])

    with django_assert_max_num_queries(8):
        assert staff.get(reverse(DELIVERIES)).status_code == 200
    with django_assert_max_num_queries(8):
        page = staff.get(reverse(ENDPOINTS))
    assert page.status_code == 200
    pending = {e.pk: e.pending_count for e in page.context["cl"].result_list}
    assert sum(pending.values()) == len(range(0, rows, 3))


def test_every_webhook_page_answers(staff):
    endpoint = make_endpoint()
    delivery = make_delivery(endpoint)
    for url in (
        reverse("admin:app_list", args=["webhooks"]),
        reverse(ENDPOINTS),
        reverse(ADD),
        url_of("webhookendpoint_change", endpoint.pk),
        url_of("webhookendpoint_history", endpoint.pk),
        url_of("webhookendpoint_rotate", endpoint.pk),
        url_of("webhookendpoint_replay", endpoint.pk),
        reverse(DELIVERIES),
        url_of("delivery_change", delivery.pk),
        url_of("delivery_history", delivery.pk),
    ):
        assert staff.get(url).status_code == 200, url
    assert staff.get(url_of("webhookendpoint_change", 999999), follow=True).status_code == 200
    assert staff.get(url_of("webhookendpoint_rotate", 999999)).status_code == 404
    assert staff.get(url_of("delivery_change", "x")).status_code == 302
