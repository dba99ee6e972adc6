"""``manage.py grant EMAIL --reason ... (--loyalty N | --freezes N | --tool ID |
--adjust FIELD=DELTA ...)``: a staff grant or adjustment from the shell, through
the same services as the admin actions."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from base.errors import DomainError
from rewards.services import (
    ChangeResult,
    freezes_grant,
    loyalty_grant,
    state_adjust,
    tool_grant,
)
from users.models import User, normalize_email

ADJUSTABLE = ("energy", "fatigue", "loyalty", "freezes")


def adjustment(value: str) -> tuple[str, int]:
    name, sep, delta = value.partition("=")
    if not sep or name not in ADJUSTABLE:
        raise ValueError(value)
    return name, int(delta)


class Command(BaseCommand):
    help = (
        "Grant loyalty, streak freezes or a tool to one user, or adjust their state by signed "
        "deltas, with a required reason: one transaction under the user's state lock, through "
        "the state rules (bounds hold; loyalty is exact, without the level bonus), recorded in "
        "the ledger as admin_grant or admin_adjust with the reason. Not idempotent: each run "
        "is one more grant. Tools respect the inventory capacity."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The user's e-mail address.")
        parser.add_argument("--reason", required=True, help="Why (stored in the ledger).")
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--loyalty", type=int, metavar="N", help="Grant N loyalty points.")
        what.add_argument("--freezes", type=int, metavar="N", help="Grant N streak freezes.")
        what.add_argument("--tool", metavar="TOOL_ID", help="Grant a tool (see --quantity).")
        what.add_argument(
            "--adjust",
            type=adjustment,
            nargs="+",
            metavar="FIELD=DELTA",
            help="Adjust by signed deltas, FIELD one of " + ", ".join(ADJUSTABLE) + ".",
        )
        parser.add_argument(
            "--quantity", type=int, default=1, help="How many of --tool (default 1)."
        )

    def handle(self, *args, email, reason, loyalty, freezes, tool, adjust, quantity, **options):
        user = User.objects.filter(email=normalize_email(email)).first()
        if user is None:
            raise CommandError(f"No user with the e-mail address {email!r}.")
        try:
            if loyalty is not None:
                result = loyalty_grant(
                    user_id=user.pk, amount=loyalty, reason=reason, now=timezone.now()
                )
            elif freezes is not None:
                result = freezes_grant(
                    user_id=user.pk, count=freezes, reason=reason, now=timezone.now()
                )
            elif tool is not None:
                result = tool_grant(
                    user_id=user.pk,
                    tool_id=tool,
                    quantity=quantity,
                    reason=reason,
                    now=timezone.now(),
                )
            else:
                result = state_adjust(
                    user_id=user.pk, reason=reason, now=timezone.now(), **dict(adjust)
                )
        except DomainError as exc:
            raise CommandError(f"Refused ({exc.code}): {exc.detail} Nothing was changed.") from None
        self.stdout.write(self.style.SUCCESS(self.summary(user, result)))

    def summary(self, user: User, result: ChangeResult) -> str:
        state = result.state
        return (
            f"{user.email}: {result.describe()}. Now level {state.level}, energy {state.energy}, "
            f"fatigue {state.fatigue}, loyalty {state.loyalty}, freezes {state.streak_freezes}."
        )
