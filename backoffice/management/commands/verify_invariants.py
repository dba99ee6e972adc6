"""``manage.py verify_invariants``: prove that every state row agrees with its
ledger and its check-ins (see ``backoffice.invariants``). Exit status 0 when all
hold; 1 with a report, one line per violation, when any does not."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in the pinned tools

from backoffice.invariants import invariant_violations
from engagement.models import UserState


class Command(BaseCommand):
    help = (
        "Check every user's state against their ledger (initial state + deltas), their "
        "check-in count, last check-in date and streaks. Read-only; safe to run at any time "
        "(a user changed mid-run may be reported once; run again to confirm). Exits 1 with "
        "a report naming each user and field that disagrees."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Users per batch (default 1000)."
        )
        parser.add_argument(
            "--max-report",
            type=int,
            default=1000,
            help="Report at most this many violations (default 1000); all are counted.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, batch_size: int, max_report: int, no_progress: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        total = UserState.objects.count()
        violations = 0
        users = set()
        with tqdm(
            total=total,
            desc="users",
            unit="user",
            # The raw stream: Django's OutputWrapper would end every redraw with a newline.
            file=self.stderr._out,
            disable=True if no_progress else None,  # None: only on a terminal
        ) as progress:
            for violation in invariant_violations(batch_size=batch_size, on_batch=progress.update):
                violations += 1
                users.add(violation.user_id)
                if violations <= max_report:
                    with progress.external_write_mode():  # not through the bar's line
                        self.stdout.write(str(violation))
        if violations > max_report:
            self.stdout.write(f"... and {violations - max_report} more.")
        if violations:
            raise CommandError(
                f"Checked {total} users: {violations} invariant violations in {len(users)} "
                f"user{'s' if len(users) != 1 else ''}.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"Checked {total} users: every invariant holds."))
