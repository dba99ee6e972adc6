"""``manage.py backfill_rewards [--reward ID] [--batch N]``: unlock rewards for
the users who already meet their rule (see ``rewards.services.backfill``).
What the background task does when staff create or re-activate a reward, by
hand: after a kill, after lowering a threshold, or for every active reward."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in the pinned tools

from base.arguments import positive_int
from base.plurals import counted
from rewards.models import Reward
from rewards.services.backfill import BATCH_SIZE, backfill_count, reward_backfill


class Command(BaseCommand):
    help = (
        "Unlock a reward (--reward ID), or every active reward, for each user whose state "
        "already meets its rule and who does not own it yet; auto_claim rewards are claimed "
        "through the ledger, and the events say backfill: true. Batched, locked per user like "
        "any change; idempotent and safe beside live traffic or a second run: interrupted, "
        "run it again and it finds only the users still missing it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reward", metavar="ID", help="One reward (default: every active one)."
        )
        parser.add_argument(
            "--batch",
            type=positive_int,
            default=BATCH_SIZE,
            help=f"Users per transaction (default {BATCH_SIZE}).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, reward: str | None, batch: int, no_progress: bool, **options):
        if reward is not None:
            active = Reward.objects.filter(pk=reward).values_list("active", flat=True).first()
            if active is None:
                raise CommandError(f"No reward with the id {reward!r}.")
            if not active:
                self.stdout.write(f"Reward {reward} is inactive: nothing to backfill.")
                return
            reward_ids = [reward]
        else:
            reward_ids = list(
                Reward.objects.filter(active=True).order_by("id").values_list("pk", flat=True)
            )
        now = timezone.now()
        found = unlocked = unlocks = auto_claimed = 0
        with tqdm(
            total=0,
            desc="users",
            unit="user",
            # The raw stream: Django's OutputWrapper would end every redraw with a newline.
            file=self.stderr._out,
            disable=True if no_progress else None,  # None: only on a terminal
        ) as progress:
            for reward_id in reward_ids:
                # Counted reward by reward: an earlier reward's backfill may
                # have unlocked this one too (one change unlocks all it meets).
                progress.total += backfill_count(reward_id=reward_id)
                progress.set_postfix_str(reward_id, refresh=True)
                result = reward_backfill(
                    reward_id=reward_id, now=now, batch_size=batch, on_batch=progress.update
                )
                found += result.found
                unlocked += result.unlocked
                unlocks += result.unlocks
                auto_claimed += result.auto_claimed
        rewards = counted(len(reward_ids), "reward")
        if reward is not None:
            rewards = f"reward {reward}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Backfilled {rewards}: {counted(found, 'user')} found, {unlocked} unlocked, "
                f"{found - unlocked} skipped; {counted(unlocks, 'unlock')} in all "
                f"({auto_claimed} auto-claimed)."
            )
        )
