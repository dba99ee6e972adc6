import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command


@pytest.mark.django_db
def test_returns_at_once_when_the_database_answers(capsys):
    call_command("wait_for_database", "--timeout", "5")

    assert "Database reachable after 1 attempt." in capsys.readouterr().out


def test_gives_up_with_exit_1_after_the_timeout():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        # nothing listens on port 1
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing",
        "DATABASE_CONNECT_TIMEOUT": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "wait_for_database", "--timeout", "2"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "Database not reachable after 2s" in result.stderr
    assert time.monotonic() - started < 20
