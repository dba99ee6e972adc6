"""The webhook queue's health on the dashboard: pending and recently dead
deliveries, tasks waiting and the oldest wait, in three queries."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from backoffice.queue_health import QueueHealth, queue_health
from users.tests.factories import UserFactory
from webhooks.tasks import deliver
from webhooks.tests.factories import make_delivery, make_endpoint

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def waiting_task(*, enqueued_at: dt.datetime, run_after: dt.datetime | None = None) -> None:
    result = (deliver.using(run_after=run_after) if run_after else deliver).enqueue(delivery_id=1)
    DBTaskResult.objects.filter(pk=result.id).update(enqueued_at=enqueued_at)


def test_queue_health_counts_the_backlog_in_three_queries(django_assert_num_queries):
    endpoint = make_endpoint()
    DBTaskResult.objects.all().delete()  # the new endpoint's catch-up task
    make_delivery(endpoint, status="pending")
    make_delivery(endpoint, status="pending")
    make_delivery(endpoint, status="delivered")
    make_delivery(endpoint, status="dead", last_attempt_at=NOW - 2 * HOUR, give_up_at=NOW)
    make_delivery(
        endpoint, status="dead", last_attempt_at=NOW - 30 * HOUR, give_up_at=NOW - 26 * HOUR
    )  # dead before the window
    waiting_task(enqueued_at=NOW - 5 * HOUR)
    waiting_task(enqueued_at=NOW - 9 * HOUR, run_after=NOW - 3 * HOUR)  # due 3 h ago
    waiting_task(enqueued_at=NOW - 9 * HOUR, run_after=NOW + HOUR)  # not due: not waiting

    with django_assert_num_queries(3):
        health = queue_health(now=NOW)

    assert health == QueueHealth(
        pending_deliveries=2, dead_last_day=1, tasks_waiting=2, oldest_wait=5 * HOUR
    )
    assert health.oldest_wait_text == "5 h 0 min"


def test_an_empty_queue():
    health = queue_health(now=timezone.now())

    assert (health.pending_text, health.dead_text, health.tasks_waiting) == ("0", "0", 0)
    assert health.oldest_wait_text == "-"


def test_the_dashboard_shows_the_queue(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    make_delivery(make_endpoint(), status="pending")
    DBTaskResult.objects.all().delete()
    waiting_task(enqueued_at=timezone.now() - dt.timedelta(minutes=3))

    page = client.get(reverse("admin:engagement_dashboard")).content.decode()

    assert 'id="queue-health"' in page
    assert "?status__exact=pending" in page
    assert 'id="pending-deliveries"' in page
    assert 'id="tasks-waiting">1<' in page
    assert 'id="oldest-task-wait">3 min<' in page


def test_the_task_list_is_read_only_and_never_counts_the_whole_table(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    waiting_task(enqueued_at=timezone.now())
    changelist = reverse("admin:django_tasks_database_dbtaskresult_changelist")

    with CaptureQueriesContext(connection) as captured:
        page = client.get(changelist, {"status__exact": "READY"})

    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == 1
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts
    assert all("LIMIT" in q.upper() for q in counts), counts
    task = DBTaskResult.objects.get()
    assert client.get(reverse("admin:django_tasks_database_dbtaskresult_add")).status_code == 403
    detail = client.get(reverse("admin:django_tasks_database_dbtaskresult_change", args=[task.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
