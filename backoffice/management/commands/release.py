"""``manage.py release``: the database steps of a release (migrate, the cache
table, the default catalog), safe to run from several containers at once."""

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

# Any constant works; it only has to be the same for every instance of the app.
RELEASE_LOCK_KEY = 7_245_001
# How often a waiting release asks for the lock again.
POLL_SECONDS = 0.25


def lock_until(deadline: float) -> bool:
    """Take the release lock for the current transaction, asking again until
    ``deadline`` (``time.monotonic()``); False if another release still holds it.

    A transaction-level lock (``pg_try_advisory_xact_lock``): PostgreSQL frees it
    when the transaction ends, commit, rollback or a lost connection alike, and
    nothing of it outlives the transaction, so it works through PgBouncer in
    transaction pooling. ``try`` and a bounded loop rather than a blocking wait:
    the wait ends at the deadline whatever ``lock_timeout`` the role has, and the
    migrations keep that ``lock_timeout`` for their own statements."""
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RELEASE_LOCK_KEY])
            if cursor.fetchone()[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))


def refuse_non_atomic_migrations() -> None:
    """A migration with ``atomic = False`` (``AddIndexConcurrently``) cannot run
    inside the release's transaction: say so before anything runs."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    outside = [f"{m.app_label}.{m.name}" for m, backwards in plan if not m.atomic]
    if outside:
        raise CommandError(
            f"Not atomic, so not for release's transaction: {', '.join(outside)}. Apply them "
            "with `manage.py migrate` (once, from one place), then run release."
        )


class Command(BaseCommand):
    help = (
        "Bring the database up to date for this release: migrate, create the cache "
        "table, seed the default catalog. Safe to run from several containers starting "
        "at once: on PostgreSQL the steps run in one transaction that holds a "
        "transaction-level advisory lock, so the releases take turns (a later one waits up "
        "to --lock-timeout seconds, then exits 1 with nothing changed) and the later ones "
        "find nothing left to do. Through PgBouncer in transaction pooling too."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=300.0,
            metavar="SECONDS",
            help="PostgreSQL: how long to wait for another release to finish (default 300).",
        )

    def handle(self, *args, lock_timeout: float, **options) -> None:
        if lock_timeout < 0:
            raise CommandError("--lock-timeout must be 0 or more.")
        verbosity = options["verbosity"]
        if connection.vendor != "postgresql":
            # SQLite: one machine, and its schema editor cannot run inside a
            # transaction (foreign key checks): no lock, the steps one by one.
            self.steps(verbosity)
        else:
            deadline = time.monotonic() + lock_timeout
            # One transaction for the lock and every step: each migration is a
            # savepoint in it, and the release commits (or rolls back) whole.
            with transaction.atomic():
                if not lock_until(time.monotonic()):
                    self.stderr.write(
                        f"Another release holds the lock; waiting up to {lock_timeout:g}s."
                    )
                    if not lock_until(deadline):
                        raise CommandError(
                            f"Another release still held the lock after {lock_timeout:g}s; "
                            "nothing was changed. Run it again when that one has finished."
                        )
                refuse_non_atomic_migrations()
                self.steps(verbosity)
        self.stdout.write("Release steps done: migrations, cache table, catalog.")

    def steps(self, verbosity: int) -> None:
        call_command("migrate", interactive=False, verbosity=verbosity)
        call_command("createcachetable", verbosity=verbosity)
        call_command("seed_catalog", verbosity=verbosity)
