"""``manage.py export_user EMAIL``: all of one user's data as JSON."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from base.plurals import counted
from privacy.services import export_document, user_export
from users.models import User, normalize_email


class Command(BaseCommand):
    help = (
        "Write all of one user's data -- profile, state, check-ins, rewards, inventory, "
        "ledger, idempotency keys, groups, permissions, admin log -- as one JSON document to "
        "stdout or --output: the document GET /api/v1/me/export answers. Read-only; the "
        "password hash, tokens and stored response bodies are not included."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The user's e-mail address.")
        parser.add_argument("--output", "-o", type=Path, help="Write to this file instead.")
        parser.add_argument("--indent", type=int, default=2, help="JSON indent (default 2).")

    def handle(self, *args, email: str, output: Path | None, indent: int, **options):
        user = User.objects.filter(email=normalize_email(email)).first()
        if user is None:
            raise CommandError(f"No user with the e-mail address {email!r}.")
        data = user_export(user_id=user.pk, now=timezone.now())
        document = export_document(data, indent=indent)
        summary = (
            f"Exported {user.email}: {counted(len(data['checkins']), 'check-in')}, "
            f"{counted(len(data['rewards']), 'reward')}, "
            f"{counted(len(data['inventory']), 'inventory item')}, "
            f"{counted(len(data['ledger']), 'ledger entry', 'ledger entries')}."
        )
        if output:
            output.write_text(document + "\n", encoding="utf-8")
            self.stdout.write(f"{summary} Written to {output}.")
        else:
            self.stdout.write(document)
            self.stderr.write(summary)  # stdout holds only the JSON
