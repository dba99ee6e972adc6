"""Each periodic job's slot is enqueued once, however many schedulers tick."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from base.testing import run_concurrently
from scheduler.models import ScheduledRun
from scheduler.services import enqueue_due, slot_of

NOW = dt.datetime(2026, 3, 2, 12, 0, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _one_job(settings):
    """One job, whatever the project schedules besides."""
    settings.SCHEDULE = {"webhook-sweep": {"task": "webhooks.tasks.sweep", "every": 60}}


def sweeps() -> list[str]:
    return [
        t.args_kwargs["kwargs"]["slot"]
        for t in DBTaskResult.objects.filter(task_path="webhooks.tasks.sweep")
    ]


@pytest.mark.django_db
def test_two_ticks_in_one_slot_enqueue_once():
    first = enqueue_due(now=NOW)
    second = enqueue_due(now=NOW + dt.timedelta(seconds=20))

    assert [job.name for job in first] == ["webhook-sweep"]
    assert second == []
    assert sweeps() == ["2026-03-02T12:00:00+00:00"]
    assert ScheduledRun.objects.count() == 1


@pytest.mark.django_db
def test_the_next_slot_is_enqueued_again():
    enqueue_due(now=NOW)
    enqueue_due(now=NOW + dt.timedelta(seconds=40))

    assert sweeps() == ["2026-03-02T12:00:00+00:00", "2026-03-02T12:01:00+00:00"]


def test_slots_are_the_period_boundaries():
    assert slot_of(NOW, 60) == dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    assert slot_of(NOW, 900) == dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    assert slot_of(NOW - dt.timedelta(seconds=31), 60) == dt.datetime(
        2026, 3, 2, 11, 59, tzinfo=dt.UTC
    )


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent schedulers on PostgreSQL")
def test_schedulers_ticking_at_once_enqueue_once():
    results = run_concurrently(6, lambda _: [job.name for job in enqueue_due(now=NOW)])

    assert sorted(results, key=len) == [[]] * 5 + [["webhook-sweep"]]
    assert sweeps() == ["2026-03-02T12:00:00+00:00"]
