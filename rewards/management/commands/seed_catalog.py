"""``manage.py seed_catalog``: the default reward and tool catalog.

Rewards: ``streak_3`` (loyalty +10), ``streak_7`` (a streak freeze and loyalty
+20), ``streak_30`` (loyalty +100), ``checkins_10`` (energy +30, *auto-claimed*
in the check-in that unlocks it, so the boost lands at once) and ``level_5``
(loyalty +50); the others wait for ``POST /rewards/{id}/claim``.
Tools: ``coffee`` (energy +15, fatigue +2; 10), ``rest`` (fatigue -15; 16),
``focus`` (loyalty +5, energy +5; 20), ``streak_freeze`` (one freeze; 50),
``streak_repair`` (restores the streak the last reset check-in lost, within
``REPAIR_WINDOW_DAYS`` of the loss; 40).

Only missing entries are created: staff edits made in the admin are never
overwritten, and running the command again (or twice at once) changes nothing.
"""

from django.core.management.base import BaseCommand

from rewards.catalog import catalog_seed


class Command(BaseCommand):
    help = (
        "Create the default rewards and tools that are missing. Existing entries, "
        "including staff edits, are left untouched; safe to run repeatedly."
    )

    def handle(self, *args, **options) -> None:
        result = catalog_seed()
        self.stdout.write(self.style.SUCCESS(result.summary()))
