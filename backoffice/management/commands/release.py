from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

# Any constant works; it only has to be the same for every instance of the app.
RELEASE_LOCK_KEY = 7_245_001


class Command(BaseCommand):
    help = (
        "Bring the database up to date for this release: migrate, create the cache "
        "table, seed the default catalog. Safe to run from several containers starting "
        "at once: on PostgreSQL they take turns under an advisory lock, and the later "
        "ones find nothing left to do."
    )

    def handle(self, *args, **options):
        locked = connection.vendor == "postgresql"
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [RELEASE_LOCK_KEY])
        try:
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
            call_command("createcachetable", verbosity=options["verbosity"])
            call_command("seed_catalog", verbosity=options["verbosity"])
        finally:
            if locked:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [RELEASE_LOCK_KEY])
        self.stdout.write("Release steps done: migrations, cache table, catalog.")
