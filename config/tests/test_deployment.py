"""The container's pieces, tested without a container engine: the entrypoint
runs for real (migrate, seed, serve, graceful stop); the Dockerfile and the
compose file say what operators rely on."""

import os
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from config.tests import live_server

ROOT = Path(settings.BASE_DIR)


def test_entrypoint_migrates_seeds_serves_and_stops_gracefully(tmp_path):
    database = tmp_path / "entrypoint.sqlite3"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "DEBUG": "0",
        "SECRET_KEY": "entrypoint-test-" + "k" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "BIND": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "DB_WAIT_SECONDS": "5",
        "WEB_GRACEFUL_TIMEOUT": "10",
    }
    # Ready once migrated, seeded and serving: /readyz answers 200.
    server = live_server.start(
        [str(ROOT / "docker/entrypoint.sh")],
        env=env,
        log=tmp_path / "entrypoint.log",
        cwd=ROOT,
        name="entrypoint",
        ready_path="/readyz",
        timeout=90,
    )
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/tools", timeout=5) as r:
            tools = r.read().decode()
        assert "streak_freeze" in tools  # seed_catalog ran
    finally:
        # The server's own grace (10 s) is shorter than this wait: when SIGTERM
        # races a worker that is still starting, granian can take its whole
        # grace to reap it, and must still end by itself, not be killed.
        stopped = server.stop(timeout=30)
    output = server.log.read_text()
    assert stopped == 0, output  # SIGTERM drains and exits cleanly
    assert "Database reachable" in output
    assert "engagement.access" in output  # one JSON access line per request
    assert '"request_id"' in output


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_postgres_16_redis_and_the_app_after_healthy_dependencies(compose):
    services = compose["services"]

    assert services["db"]["image"] == "postgres:16"
    assert services["redis"]["image"].startswith("redis:")
    app = services["app"]
    assert app["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert app["environment"]["DEBUG"] == "0"
    assert app["environment"]["DATABASE_URL"].startswith("postgres://")
    assert app["environment"]["REDIS_URL"].startswith("redis://redis")
    assert "?" in app["environment"]["SECRET_KEY"]  # required, no default


def test_dockerfile_runs_unprivileged_with_a_readiness_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert "\nUSER app\n" in dockerfile
    assert "/readyz" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert "collectstatic" in dockerfile
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in dockerfile
    entrypoint = (ROOT / "docker/entrypoint.sh").read_text()
    assert "exec bin/serve" in entrypoint
