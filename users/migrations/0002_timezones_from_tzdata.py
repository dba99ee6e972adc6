"""Time zones are the names of the pinned tzdata package. A user whose zone
was accepted earlier from the host's zoneinfo but is not one of them
(``localtime``, ``Factory``, ``posixrules``) is moved to UTC, the default:
those names never named a place."""

from django.db import migrations

from users.timezones import TIMEZONE_NAMES


def move_unknown_zones_to_utc(apps, schema_editor):
    User = apps.get_model("users", "User")
    User.objects.exclude(timezone__in=TIMEZONE_NAMES).update(timezone="UTC")


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]

    operations = [migrations.RunPython(move_unknown_zones_to_utc, migrations.RunPython.noop)]
