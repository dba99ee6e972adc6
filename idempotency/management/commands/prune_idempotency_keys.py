from django.core.management.base import BaseCommand
from django.utils import timezone

from base.plurals import counted
from idempotency.services import KEY_LIFETIME, idempotency_keys_prune


class Command(BaseCommand):
    help = (
        f"Delete Idempotency-Key records older than {KEY_LIFETIME} (in batches). "
        "Safe to run at any time and to run twice at once; schedule it hourly or daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, batch_size: int, **options):
        deleted = idempotency_keys_prune(batch_size=batch_size, now=timezone.now())
        self.stdout.write(f"Pruned {counted(deleted, 'expired idempotency key')}.")
