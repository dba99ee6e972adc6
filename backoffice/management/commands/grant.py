"""``manage.py grant EMAIL --reason ... (--loyalty N | --streak-freezes N |
--tool ID | --adjust FIELD=DELTA ...)``: a staff grant or adjustment from the
shell, through the same services as the admin actions.

Fields are named as everywhere else (the state, the API, the ledger):
``streak_freezes``. The older ``--freezes`` and ``--adjust freezes=N`` still
work, with a deprecation warning on stderr."""

import argparse

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

# The state fields an adjustment may change, named as in the state.
ADJUSTABLE = ("energy", "fatigue", "loyalty", "streak_freezes")
# Deprecated spellings, still accepted with a warning.
DEPRECATED_FIELDS = {"freezes": "streak_freezes"}
DEPRECATION = "{old} is deprecated and will be removed; use {new}."


def adjustment(value: str) -> tuple[str, int]:
    """``FIELD=DELTA`` -> ``(field, delta)``; the error names the valid fields."""
    name, sep, delta = value.partition("=")
    name = name.strip()
    if not sep:
        raise argparse.ArgumentTypeError(f"{value!r} is not FIELD=DELTA, e.g. energy=-10.")
    if name not in ADJUSTABLE and name not in DEPRECATED_FIELDS:
        raise argparse.ArgumentTypeError(
            f"{name!r} cannot be adjusted; valid fields: {', '.join(ADJUSTABLE)}."
        )
    try:
        return name, int(delta)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"the delta of {name} must be a signed integer, not {delta!r}."
        ) from None


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
        what.add_argument(
            "--streak-freezes",
            type=int,
            metavar="N",
            help="Grant N streak freezes (up to the maximum a state holds).",
        )
        what.add_argument(
            "--freezes",
            type=int,
            metavar="N",
            dest="deprecated_freezes",
            help="Deprecated spelling of --streak-freezes.",
        )
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

    def handle(
        self,
        *args,
        email,
        reason,
        loyalty,
        streak_freezes,
        deprecated_freezes,
        tool,
        adjust,
        quantity,
        **options,
    ):
        if deprecated_freezes is not None:
            self.stderr.write(DEPRECATION.format(old="--freezes", new="--streak-freezes"))
            streak_freezes = deprecated_freezes
        deltas = self.deltas(adjust) if adjust else {}
        user = User.objects.filter(email=normalize_email(email)).first()
        if user is None:
            raise CommandError(f"No user with the e-mail address {email!r}.")
        now = timezone.now()
        try:
            if loyalty is not None:
                result = loyalty_grant(user_id=user.pk, amount=loyalty, reason=reason, now=now)
            elif streak_freezes is not None:
                result = freezes_grant(
                    user_id=user.pk, count=streak_freezes, reason=reason, now=now
                )
            elif tool is not None:
                result = tool_grant(
                    user_id=user.pk, tool_id=tool, quantity=quantity, reason=reason, now=now
                )
            else:
                result = state_adjust(
                    user_id=user.pk,
                    reason=reason,
                    now=now,
                    energy=deltas.get("energy", 0),
                    fatigue=deltas.get("fatigue", 0),
                    loyalty=deltas.get("loyalty", 0),
                    freezes=deltas.get("streak_freezes", 0),
                )
        except DomainError as exc:
            raise CommandError(f"Refused ({exc.code}): {exc.detail} Nothing was changed.") from None
        self.stdout.write(self.style.SUCCESS(self.summary(user, result)))

    def deltas(self, adjust: list[tuple[str, int]]) -> dict[str, int]:
        """The ``--adjust`` pairs by state field; a field given twice is refused."""
        deltas: dict[str, int] = {}
        for name, delta in adjust:
            field = DEPRECATED_FIELDS.get(name, name)
            if field != name:
                self.stderr.write(DEPRECATION.format(old=f"{name}=", new=f"{field}="))
            if field in deltas:
                raise CommandError(f"--adjust names {field} twice.")
            deltas[field] = delta
        return deltas

    def summary(self, user: User, result: ChangeResult) -> str:
        state = result.state
        return (
            f"{user.email}: {result.describe()}. Now level {state.level}, energy {state.energy}, "
            f"fatigue {state.fatigue}, loyalty {state.loyalty}, "
            f"streak_freezes {state.streak_freezes}."
        )
