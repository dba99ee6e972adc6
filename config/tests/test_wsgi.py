"""The WSGI module the servers load freezes what a worker loaded at start,
so the garbage collector stops scanning it (config/wsgi.py)."""

import json

from config.tests.test_security import PRODUCTION_ENV, manage

SHOW_GC = (
    "import gc, json, config.wsgi;"
    "print(json.dumps({'frozen': gc.get_freeze_count(), 'threshold': gc.get_threshold()}))"
)


def collector(**env: str) -> dict:
    result = manage("shell", "-c", SHOW_GC, env={**PRODUCTION_ENV, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_what_the_worker_loaded_is_frozen():
    shown = collector()

    assert shown["frozen"] > 10_000  # Django and the apps, not a handful of objects
    assert shown["threshold"] == [700, 10, 10]


def test_the_first_generation_is_configurable():
    assert collector(GC_GEN0_THRESHOLD="5000")["threshold"] == [5000, 10, 10]
