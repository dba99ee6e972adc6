"""Deployment settings, security headers, CORS and logs that keep secrets out."""

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.http import HttpResponse
from django.test import RequestFactory

from base.logging import JsonFormatter, RequestIdFilter

BASE_DIR = Path(settings.BASE_DIR)
# Database 5 of the local Redis is the test suite's; a prefix per run keeps
# parallel runs apart.
REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/5",
        "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
}
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x7#k2!p9@q4$w8%e3^r6&t1*y5(u0)i-o=pLmNbVcXzAsDfGhJkL",
    "ALLOWED_HOSTS": "api.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
    clean.pop("DEBUG", None)
    clean.pop("SECRET_KEY", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_without_warnings_in_production_configuration():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "command", [["check"], ["makemigrations", "--check", "--dry-run"], ["migrate", "--plan"]]
)
def test_production_refuses_to_start_without_a_secret_key(command):
    """Whatever the command (and whichever check Django would run first), the
    error reported is the missing key, not a consequence of it."""
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=BASE_DIR,
        # Nothing but the path: the environment a fresh shell or a CI job has.
        env={"PATH": os.environ["PATH"], "DEBUG": "0", "SECRET_KEY": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert "AppRegistryNotReady" not in result.stderr


def test_throttle_counters_live_in_a_cache_shared_by_processes():
    backend = caches["default"].__class__.__name__

    assert backend in {"DatabaseCache", "RedisCache"}


@pytest.mark.django_db
def test_security_headers_are_set(api_client):
    response = api_client.get("/healthz")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_cors_allows_only_configured_origins(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    allowed = api_client.options(
        "/api/v1/me",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    refused = api_client.options(
        "/api/v1/me", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )

    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Origin" not in refused


def log_line(message: str, **extra) -> dict:
    record = logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": message, **extra})
    RequestIdFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_log_lines_are_json_with_the_request_id():
    line = log_line("hello", status_code=201)

    assert line["message"] == "hello"
    assert line["status_code"] == 201
    assert "request_id" in line


def test_log_lines_never_carry_secrets_passed_as_extras():
    line = log_line("login", password="hunter2", token="eyJ", access="a", refresh="r")

    assert not {"password", "token", "access", "refresh"} & set(line)
    assert "hunter2" not in json.dumps(line)


@pytest.mark.django_db
def test_request_logs_carry_the_request_id_and_no_credentials(api_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        api_client.post(
            "/api/v1/auth/login",
            {"email": "a@example.com", "password": "hunter2-secret"},
            HTTP_X_REQUEST_ID="req-42",
        )

    formatted = [JsonFormatter().format(r) for r in caplog.records]
    assert formatted
    assert all(json.loads(line)["request_id"] == "req-42" for line in formatted)
    assert not any("hunter2" in line for line in formatted)


@pytest.mark.django_db
def test_authenticated_requests_are_throttled_per_user(settings):
    from users.tests.factories import UserFactory, client_for

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "3/min",
        },
    }
    throttled, other = UserFactory(), UserFactory()

    statuses = [client_for(throttled).get("/api/v1/checkins").status_code for _ in range(4)]
    blocked = client_for(throttled).get("/api/v1/checkins")

    assert statuses == [200, 200, 200, 429]
    assert blocked.json()["code"] == "throttled"
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert client_for(other).get("/api/v1/checkins").status_code == 200


def test_throttle_counters_in_redis_count_atomically_and_expire(settings):
    from django.core.cache import cache

    from throttles import throttling

    settings.CACHES = REDIS_CACHES
    cache.delete("throttle-test")
    hits = [throttling.count_shared("throttle-test", 60).hit for _ in range(3)]
    cache.delete("throttle-test")

    assert [hit.count for hit in hits] == [1, 2, 3]
    assert 0 < hits[-1].retry_after <= 60  # Redis's own PTTL of the key


@pytest.mark.django_db
def test_every_request_gets_an_access_log_line_with_its_id(api_client, settings, caplog):
    from base import middleware

    settings.ACCESS_LOG = True
    handler = middleware.RequestIdMiddleware(lambda request: HttpResponse(status=204))
    request = RequestFactory().get("/api/v1/me?token=secret", HTTP_X_REQUEST_ID="req-7")

    with caplog.at_level(logging.INFO, logger="engagement.access"):
        handler(request)

    (record,) = caplog.records
    line = json.loads(JsonFormatter().format(record))
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/me", 204)
    assert line["request_id"] == "req-7"
    assert line["duration_ms"] >= 0
    assert "secret" not in json.dumps(line)


@pytest.mark.django_db
def test_an_unreachable_redis_does_not_take_the_api_down(settings, caplog):
    from users.tests.factories import UserFactory, client_for

    user = UserFactory()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    with caplog.at_level(logging.WARNING, logger="throttles.throttling"):
        response = client_for(user).get("/api/v1/checkins")

    assert response.status_code == 200
    assert "Throttle cache unavailable" in caplog.text


@pytest.mark.django_db
def test_per_ip_throttles_ignore_a_forged_forwarded_for(api_client):
    body = {"email": "x@example.com", "password": "correct horse battery staple"}
    statuses = [
        api_client.post(
            "/api/v1/auth/register",
            {**body, "email": f"u{n}@example.com"},
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}",
        ).status_code
        for n in range(6)
    ]

    assert statuses == [201] * 5 + [429]


def test_the_per_user_throttle_can_be_switched_off_for_a_gateway():
    script = (
        "from rest_framework.settings import api_settings;"
        "print(api_settings.DEFAULT_THROTTLE_CLASSES)"
    )
    on = manage("shell", "-c", script, env={**PRODUCTION_ENV, "THROTTLE_USER": "100/min"})
    off = manage("shell", "-c", script, env={**PRODUCTION_ENV, "THROTTLE_USER": "off"})

    assert "UserRateThrottle" in on.stdout, on.stderr
    assert off.stdout.strip().splitlines()[-1] == "[]", off.stderr
