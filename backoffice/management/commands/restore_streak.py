"""``manage.py restore_streak EMAIL --reason ...``: give back the streak the
user's last reset check-in lost, through the same service as the admin action
"Restore streak"."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from base.errors import DomainError
from rewards.services import streak_restore
from users.models import User, normalize_email


class Command(BaseCommand):
    help = (
        "Restore the streak one user's last reset check-in lost: streak = lost + current, "
        "longest_streak follows, in one transaction under the user's state lock, recorded in "
        "the ledger as streak_restore with the required reason; rewards the restored streak "
        "meets unlock and streak.restored is written. Once per loss: running it again (or "
        "twice at once) restores nothing and exits with status 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The user's e-mail address.")
        parser.add_argument("--reason", required=True, help="Why (stored in the ledger).")

    def handle(self, *args, email, reason, **options):
        user = User.objects.filter(email=normalize_email(email)).first()
        if user is None:
            raise CommandError(f"No user with the e-mail address {email!r}.")
        try:
            result = streak_restore(user_id=user.pk, reason=reason, now=timezone.now())
        except DomainError as exc:
            raise CommandError(f"Refused ({exc.code}): {exc.detail} Nothing was changed.") from None
        state = result.state
        self.stdout.write(
            self.style.SUCCESS(
                f"{user.email}: {result.describe()}. Now streak {state.streak}, "
                f"longest {state.longest_streak}."
            )
        )
