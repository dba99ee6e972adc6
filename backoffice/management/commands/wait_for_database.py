import time

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

from base.plurals import counted


class Command(BaseCommand):
    help = (
        "Wait until the database accepts connections (for container start-up: "
        "migrations must not race a database that is still starting). Exit 1 on timeout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")

    def handle(self, *args, timeout: float, **options):
        deadline = time.monotonic() + timeout
        attempts = 0
        while True:
            attempts += 1
            try:
                connection.ensure_connection()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                break
            except OperationalError as exc:
                connection.close()
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"Database not reachable after {timeout:g}s "
                        f"({counted(attempts, 'attempt')}): {exc}"
                    ) from exc
                time.sleep(1)
        self.stdout.write(f"Database reachable after {counted(attempts, 'attempt')}.")
