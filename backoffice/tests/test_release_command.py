import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from backoffice.management.commands import release
from base.testing import run_concurrently
from rewards.models import Reward, Tool

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the release lock is PostgreSQL's"
)


def advisory_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_release_migrates_seeds_and_leaves_no_lock_behind(capsys):
    call_command("release", verbosity=0)
    call_command("release", verbosity=0)  # a second container starting: nothing to do

    assert "Release steps done" in capsys.readouterr().out
    assert Reward.objects.filter(id="streak_3").exists()
    assert Tool.objects.filter(id="coffee").exists()
    if connection.vendor == "postgresql":
        assert advisory_locks() == 0


class SlowSteps:
    """The release steps, each run recorded as (start, end) and held until
    ``gate`` is set or ``hold`` seconds have passed, so that two releases
    overlap for sure."""

    def __init__(self, real_steps) -> None:
        self.runs: list[tuple[float, float]] = []
        self.gate = threading.Event()
        self.hold = 0.5
        self.real_steps = real_steps

    def __call__(self, command, verbosity) -> None:
        start = time.monotonic()
        self.real_steps(command, verbosity)
        self.gate.wait(self.hold)
        self.runs.append((start, time.monotonic()))


@pytest.fixture
def slow_steps(monkeypatch) -> SlowSteps:
    steps = SlowSteps(release.Command.steps)
    monkeypatch.setattr(release.Command, "steps", lambda self, verbosity: steps(self, verbosity))
    return steps


def run_release(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("release", *args, verbosity=0, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_releases_at_once_take_turns(slow_steps):
    results = run_concurrently(2, lambda i: run_release("--lock-timeout", "30"))

    done = "Release steps done: migrations, cache table, catalog.\n"
    assert [out for out, _ in results] == [done, done]
    waited = [err for _, err in results if err]
    assert waited == ["Another release holds the lock; waiting up to 30s.\n"]
    first, second = sorted(slow_steps.runs)
    assert second[0] >= first[1]  # one after the other, never both at once
    assert advisory_locks() == 0  # freed with the transaction, no unlock needed


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_release_gives_up_after_its_lock_timeout_and_changes_nothing(slow_steps):
    slow_steps.hold = 30  # the first release holds the lock until the test lets it go

    def hold() -> None:
        run_release()
        connections.close_all()

    holding = threading.Thread(target=hold)
    holding.start()
    try:
        while advisory_locks() == 0:  # the first release has the lock
            time.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(CommandError) as refused:
            run_release("--lock-timeout", "0.5")
        waited = time.monotonic() - started
    finally:
        slow_steps.gate.set()
        holding.join(30)

    assert str(refused.value) == (
        "Another release still held the lock after 0.5s; nothing was changed. "
        "Run it again when that one has finished."
    )
    assert 0.5 <= waited < 5
    assert len(slow_steps.runs) == 1  # only the first release ran its steps
    assert advisory_locks() == 0


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_migration_that_cannot_run_in_a_transaction_is_refused_first(monkeypatch, slow_steps):
    class Concurrently:
        app_label, name, atomic = "rewards", "9999_index_concurrently", False

    monkeypatch.setattr(
        release.MigrationExecutor, "migration_plan", lambda self, targets: [(Concurrently, False)]
    )

    with pytest.raises(
        CommandError,
        match=r"Not atomic, so not for release.s transaction: rewards\.9999_index_concurrently",
    ):
        run_release()

    assert slow_steps.runs == []
