"""The leaderboards' background work, on Django's Tasks API."""

from __future__ import annotations

from django_tasks import task

from leaderboards import services


@task()
def fold(slot: str | None = None) -> int:
    """Enqueued soon after changes (``services.fold_soon``) and every minute
    by the scheduler (with its ``slot``)."""
    return services.fold()
