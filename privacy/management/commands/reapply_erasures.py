"""``manage.py reapply_erasures``: erase again the accounts a restored backup
brought back."""

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import ngettext

from base.errors import DomainError
from base.plurals import counted
from privacy.services import erased_accounts_present, user_erase

REASON = "Re-applied after a restore from a backup"


class Command(BaseCommand):
    help = (
        "After restoring a backup: find the accounts whose id an erasure's audit row names "
        "(erased after the backup was taken) and erase them again, each with a new audit row. "
        "With --dry-run, only count them. Safe to repeat: a second run finds none."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, erase nothing.")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        found = erased_accounts_present(batch_size=batch_size)
        if dry_run:
            present = ngettext("is present", "are present", len(found))
            self.stdout.write(
                f"{counted(len(found), 'erased account')} {present} again; none erased."
            )
            return
        erased = 0
        for user_id in found:
            try:
                user_erase(user_id=user_id, now=timezone.now(), reason=REASON)
            except DomainError:  # erased meanwhile (a second run at once)
                continue
            erased += 1
        self.stdout.write(f"Erased {counted(erased, 'account')} again ({len(found)} found).")
