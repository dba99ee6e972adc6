"""The events' background work, on Django's Tasks API (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from events import streaks


@task()
def streak_tick(slot: str) -> dict[str, int]:
    """The streak jobs for the scheduler's ``slot`` (ISO 8601, UTC). They
    compute with the slot, not the wall clock: a tick that runs late, or twice,
    selects the same zones and dates."""
    result = streaks.streak_tick(now=dt.datetime.fromisoformat(slot))
    return {"lost": result.lost, "at_risk": result.at_risk}
