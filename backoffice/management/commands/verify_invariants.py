"""``manage.py verify_invariants [--reconcile --reason TEXT]``: prove that every
state row agrees with its ledger and its check-ins (see ``backoffice.invariants``).
Exit status 0 when all hold; 1 with a report, one line per violation, when any
does not. With ``--reconcile``, each user whose ledger no longer replays to the
state gets one ``admin_adjust`` entry recording the difference
(``backoffice.reconcile``)."""

import getpass
import socket

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in the pinned tools

from backoffice.invariants import LEDGER, Violation, invariant_violations
from backoffice.reconcile import REASON_MAX_LENGTH, NotReconcilable, ledger_reconcile
from base.plurals import counted
from engagement.errors import AccountUnavailable
from engagement.models import UserState


class Command(BaseCommand):
    help = (
        "Check every user's state against their ledger (initial state + deltas), their "
        "check-in count, last check-in date and streaks, and their events. Read-only; safe "
        "to run at any time (a user changed mid-run may be reported once; run again to "
        "confirm). Exits 1 with a report naming each user and field that disagrees. With "
        "--reconcile --reason TEXT, each user whose ledger no longer replays to their state "
        "gets one admin_adjust ledger entry (ref reconcile) recording the difference, under "
        "the user's state lock; the state itself is not changed."
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
        parser.add_argument(
            "--reconcile",
            action="store_true",
            help="Record each ledger replay difference as an admin_adjust entry (needs --reason).",
        )
        parser.add_argument(
            "--reason",
            help="With --reconcile: why (stored in each entry, with who ran it from where).",
        )

    def handle(
        self,
        *args,
        batch_size: int,
        max_report: int,
        no_progress: bool,
        reconcile: bool,
        reason: str | None,
        **options,
    ):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if reason is not None and not reconcile:
            raise CommandError("--reason goes with --reconcile.")
        reason = (reason or "").strip()
        if reconcile and not reason:
            raise CommandError("--reconcile needs a --reason (stored in the ledger).")
        if len(reason) > REASON_MAX_LENGTH:
            raise CommandError(f"The reason is longer than {REASON_MAX_LENGTH} characters.")
        total = UserState.objects.count()
        violations: list[Violation] = []
        with tqdm(
            total=total,
            desc="users",
            unit="user",
            # The raw stream: Django's OutputWrapper would end every redraw with a newline.
            file=self.stderr._out,
            disable=True if no_progress else None,  # None: only on a terminal
        ) as progress:
            for violation in invariant_violations(batch_size=batch_size, on_batch=progress.update):
                violations.append(violation)
                if len(violations) <= max_report:
                    with progress.external_write_mode():  # not through the bar's line
                        self.stdout.write(str(violation))
        if len(violations) > max_report:
            self.stdout.write(f"... and {len(violations) - max_report} more.")
        users = {v.user_id for v in violations}
        checked = (
            f"Checked {counted(total, 'user')}: "
            f"{counted(len(violations), 'invariant violation')} in {counted(len(users), 'user')}."
        )
        if not violations:
            self.stdout.write(
                self.style.SUCCESS(f"Checked {counted(total, 'user')}: every invariant holds.")
            )
            return
        if not reconcile:
            raise CommandError(checked, returncode=1)
        self.stdout.write(checked)
        self.reconcile(violations, reason=f"{reason} ({self.signature()})")

    def reconcile(self, violations: list[Violation], *, reason: str) -> None:
        drifted = {v.user_id: v.email for v in violations if v.check == LEDGER}
        left = {v.user_id for v in violations if v.check != LEDGER}
        reconciled = 0
        now = timezone.now()
        for user_id, email in drifted.items():
            try:
                done = ledger_reconcile(user_id=user_id, reason=reason, now=now)
            except NotReconcilable as exc:
                left.add(user_id)
                self.stdout.write(
                    f"Not reconciled: {email} ({user_id}): the state disagrees with the "
                    f"check-ins too ({exc})."
                )
                continue
            except AccountUnavailable:  # erased meanwhile: nothing left to disagree
                continue
            if done is not None:  # None: it agreed under the lock (changed mid-run)
                reconciled += 1
                self.stdout.write(f"Reconciled {email} ({user_id}): {done.describe()}.")
        summary = f"Reconciled {counted(reconciled, 'user')}."
        if left:
            raise CommandError(
                f"{summary} {counted(len(left), 'user')} still with violations that "
                "--reconcile does not repair (see above).",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(summary))

    @staticmethod
    def signature() -> str:
        """Who ran the reconciliation, and from where: kept with the reason."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # a uid without a name (some containers)
            who = "unknown user"
        return f"verify_invariants --reconcile by {who}@{socket.gethostname()}"
