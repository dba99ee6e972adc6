"""``manage.py rebuild_leaderboards``: recount the boards' histograms."""

from django.core.management.base import BaseCommand, CommandError

from base.plurals import counted
from leaderboards.services import board_score_mismatches, boards_rebuild


class Command(BaseCommand):
    help = (
        "Recount the leaderboards' histograms (the ranks and participants) from the state "
        "rows and the weekly counts: after a bulk load, or to repair drift. --check only "
        "reports differences (exit status 1 when there are some). Run it on a quiet "
        "database: a check-in committed between the count and the write would be missed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Report differences, change nothing."
        )

    def handle(self, *args, check: bool, **options):
        if check:
            mismatches = board_score_mismatches()
            for (board, score), (stored, expected) in sorted(mismatches.items()):
                self.stdout.write(f"{board} score {score}: {stored} != {expected}")
            if mismatches:
                raise CommandError(
                    f"{counted(len(mismatches), 'histogram sum')} differ from the rows."
                )
            self.stdout.write("The leaderboards' histograms agree with the rows.")
            return
        written = boards_rebuild()
        self.stdout.write(f"Rebuilt the leaderboards' histograms: {counted(written, 'row')}.")
