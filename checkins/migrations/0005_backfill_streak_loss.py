"""Keep the last lost streak of every user, as the check-in that reset it would
have: the state's ``lost_streak`` and ``streak_lost_on`` (engagement 0008).

From the check-ins alone: a user's latest check-in with streak 1 that is not
their first one reset a streak; the check-in before it holds the lost length
and its date. The loss date is the first missed day the freezes held then
could not cover, ``rules.streak_lost_on``: the previous check-in + freezes + 1,
the freezes read from the reset check-in's ledger snapshot (a reset spends
none), 0 when that entry is missing; never later than the day before the
reset. Users in batches of the state's ``user_id`` order, four statements a
batch (the ids, the resets, their snapshots, one update), so a large table is
not read in one go.
"""

import datetime as dt

from django.db import migrations
from django.db.models import OuterRef, Subquery

BATCH_SIZE = 1000


def _losses(apps, low, high):
    CheckIn = apps.get_model("checkins", "CheckIn")
    LedgerEntry = apps.get_model("engagement", "LedgerEntry")
    in_batch = {"user_id__gte": low, "user_id__lte": high}
    latest_start = (
        CheckIn.objects.filter(user_id=OuterRef("user_id"), streak=1)
        .order_by("-date")
        .values("date")[:1]
    )
    before = CheckIn.objects.filter(user_id=OuterRef("user_id"), date__lt=OuterRef("date")).order_by(
        "-date"
    )
    resets = list(
        CheckIn.objects.filter(**in_batch, streak=1, date=Subquery(latest_start))
        .annotate(
            prev_date=Subquery(before.values("date")[:1]),
            prev_streak=Subquery(before.values("streak")[:1]),
        )
        .filter(prev_date__isnull=False)
        .values_list("user_id", "date", "prev_date", "prev_streak")
    )
    if not resets:
        return {}
    snapshots = LedgerEntry.objects.filter(
        **in_batch, kind="checkin", ref__in={date.isoformat() for _, date, _, _ in resets}
    ).values_list("user_id", "ref", "state_after")
    freezes = {(user_id, ref): after.get("streak_freezes", 0) for user_id, ref, after in snapshots}
    losses = {}
    for user_id, date, prev_date, prev_streak in resets:
        held = freezes.get((user_id, date.isoformat()), 0)
        lost_on = min(prev_date + dt.timedelta(days=held + 1), date - dt.timedelta(days=1))
        losses[user_id] = (prev_streak, lost_on)
    return losses


def backfill(apps, schema_editor):
    UserState = apps.get_model("engagement", "UserState")
    after = None
    while True:
        batch = UserState.objects.order_by("user_id")
        if after is not None:
            batch = batch.filter(user_id__gt=after)
        ids = list(batch.values_list("user_id", flat=True)[:BATCH_SIZE])
        if not ids:
            return
        losses = _losses(apps, ids[0], ids[-1])
        UserState.objects.bulk_update(
            [
                UserState(user_id=user_id, lost_streak=length, streak_lost_on=lost_on)
                for user_id, (length, lost_on) in losses.items()
            ],
            ["lost_streak", "streak_lost_on"],
        )
        after = ids[-1]


class Migration(migrations.Migration):
    dependencies = [
        ("checkins", "0004_timestamps_set_by_services"),
        ("engagement", "0008_streak_loss"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
