"""The weekly counts and the histograms of the check-ins made before the
leaderboards existed (each check-in's date is already the user's local date)."""

import datetime as dt

from django.db import migrations
from django.db.models import F, Q

BATCH = 5000


def count_existing(apps, schema_editor):
    CheckIn = apps.get_model("checkins", "CheckIn")
    UserState = apps.get_model("engagement", "UserState")
    User = apps.get_model("users", "User")
    WeeklyCheckins = apps.get_model("leaderboards", "WeeklyCheckins")
    BoardScore = apps.get_model("leaderboards", "BoardScore")

    weeks: dict[tuple, int] = {}
    pending = []
    current_user = None
    rows = CheckIn.objects.order_by("user_id", "date").values_list("user_id", "date")
    for user_id, day in rows.iterator(chunk_size=BATCH):
        if user_id != current_user:
            pending += [WeeklyCheckins(user_id=u, week_start=w, checkins=n) for (u, w), n in weeks.items()]
            weeks, current_user = {}, user_id
            if len(pending) >= BATCH:
                WeeklyCheckins.objects.bulk_create(pending, ignore_conflicts=True)
                pending = []
        monday = day - dt.timedelta(days=day.weekday())
        weeks[(user_id, monday)] = weeks.get((user_id, monday), 0) + 1
    pending += [WeeklyCheckins(user_id=u, week_start=w, checkins=n) for (u, w), n in weeks.items()]
    WeeklyCheckins.objects.bulk_create(pending, ignore_conflicts=True)

    shown = set(User.objects.filter(leaderboard_opt_in=True).values_list("id", flat=True))
    scores: dict[tuple, int] = {}
    streaks = UserState.objects.filter(
        Q(streak__gt=0, leaderboard_opt_in=True)
        & (Q(loss_reported_for__isnull=True) | ~Q(loss_reported_for=F("last_checkin_date")))
    ).values_list("user_id", "streak")
    for user_id, streak in streaks.iterator(chunk_size=BATCH):
        key = ("streak", streak)
        scores[key] = scores.get(key, 0) + 1
    for user_id, monday, n in WeeklyCheckins.objects.values_list(
        "user_id", "week_start", "checkins"
    ).iterator(chunk_size=BATCH):
        if user_id in shown:
            key = (f"weekly:{monday.isoformat()}", n)
            scores[key] = scores.get(key, 0) + 1
    BoardScore.objects.all().delete()
    BoardScore.objects.bulk_create(
        [BoardScore(board=b, score=s, users=n) for (b, s), n in sorted(scores.items())],
        batch_size=BATCH,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0001_initial"),
        ("checkins", "0005_backfill_streak_loss"),
        ("engagement", "0009_userstate_leaderboard_opt_in_streak_board"),
        ("users", "0005_user_leaderboard_opt_in"),
    ]

    operations = [migrations.RunPython(count_existing, migrations.RunPython.noop, elidable=True)]
