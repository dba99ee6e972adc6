import pytest
from django.core.management import call_command
from django.db import connection

from rewards.models import Reward, Tool


@pytest.mark.django_db(transaction=True)
def test_release_migrates_seeds_and_leaves_no_lock_behind(capsys):
    call_command("release", verbosity=0)
    call_command("release", verbosity=0)  # a second container starting: nothing to do

    assert "Release steps done" in capsys.readouterr().out
    assert Reward.objects.filter(id="streak_3").exists()
    assert Tool.objects.filter(id="coffee").exists()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            assert cursor.fetchone()[0] == 0
