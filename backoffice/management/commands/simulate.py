"""``manage.py simulate``: N users x D days through the real services on a
simulated clock (see ``backoffice.simulation``), for demos, the dashboard and
benchmarks."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in the pinned tools

from backoffice.simulation import EMAIL_DOMAIN, simulate
from base.arguments import positive_int
from rewards.models import Reward, Tool


class Command(BaseCommand):
    help = (
        "Create N simulated users (<prefix><seed>-<n>@" + EMAIL_DOMAIN + ", unusable "
        "passwords) and play D days through the real services -- check-ins (with skipped "
        "days), reward claims, tool purchases and uses -- on a simulated clock ending "
        "yesterday by default. Deterministic for a --seed; running the same simulation again "
        "adds nothing. Uses the catalog as it is: run seed_catalog first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=positive_int, default=100, help="Default 100.")
        parser.add_argument("--days", type=positive_int, default=30, help="Default 30.")
        parser.add_argument("--seed", type=int, default=1, help="Default 1.")
        parser.add_argument(
            "--start",
            type=dt.date.fromisoformat,
            help="First simulated day, YYYY-MM-DD (default: so that the last day is yesterday).",
        )
        parser.add_argument(
            "--prefix", default="sim", help="E-mail prefix of the simulated users (default sim)."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, users, days, seed, start, prefix, no_progress, **options):
        if not prefix.replace("-", "").replace("_", "").isalnum():
            raise CommandError("--prefix may only hold letters, digits, - and _.")
        start = start or timezone.now().date() - dt.timedelta(days=days)
        if not Reward.objects.filter(active=True).exists() or not Tool.objects.exists():
            self.stderr.write(
                "Note: the reward or tool catalog is empty; `manage.py seed_catalog` adds one."
            )
        with tqdm(
            total=users * days,
            desc="user-days",
            unit="day",
            # The raw stream: Django's OutputWrapper would end every redraw with a newline.
            file=self.stderr._out,
            disable=True if no_progress else None,  # None: only on a terminal
        ) as progress:
            result = simulate(
                users=users,
                days=days,
                seed=seed,
                start=start,
                prefix=prefix,
                on_user_day=progress.update,
            )
        self.stdout.write(self.style.SUCCESS(result.summary(users=users, days=days)))
