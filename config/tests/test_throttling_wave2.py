"""Rate limits that count atomically, a per-IP limit on failed logins, and a
per-process fallback for login and register when the shared cache is down.

API tests go through the real URL conf, once with the counters in the
database (the default without Redis) and once in Redis (database 5)."""

import datetime as dt
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import time_machine
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.db import connections
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from throttles import counters, throttling
from throttles.models import Counter
from users import throttling as login_throttling
from users.errors import InvalidCredentials
from users.tests.factories import TEST_PASSWORD, UserFactory, client_for

# The suite's Redis database (5), shared with any other run of this suite on
# the machine: each run's keys carry a prefix of its own, and only those are
# ever deleted (no FLUSHDB).
REDIS_PREFIX = f"test-{uuid.uuid4().hex}"
REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/5",
        "KEY_PREFIX": REDIS_PREFIX,
    }
}
DEAD_REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }
}
STRONG_PASSWORD = "correct horse battery staple"
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"


@pytest.fixture(autouse=True)
def _fresh_local_counters():
    counters.local.clear()
    yield
    counters.local.clear()


def redis_client() -> Any:
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    return backend._cache.get_client(write=True)


def redis_keys() -> list[bytes]:
    """This run's keys in Redis."""
    return list(redis_client().scan_iter(f"{REDIS_PREFIX}:*"))


def delete_redis_keys() -> None:
    keys = redis_keys()
    if keys:
        redis_client().delete(*keys)


@pytest.fixture
def use_redis(settings):
    settings.CACHES = REDIS_CACHES
    delete_redis_keys()
    yield
    delete_redis_keys()


@pytest.fixture(params=["database", "redis"])
def store(request) -> str:
    """Run the test with the counters in the database, then in Redis."""
    if request.param == "redis":
        request.getfixturevalue("use_redis")
    return request.param


@pytest.fixture
def rates(settings):
    """``rates(login_ip="3/min", ...)`` overrides some scopes' rates."""

    def override(**scopes: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **scopes,
            },
        }

    return override


def login(client, email: str, password: str = "wrong password", ip: str = "127.0.0.1"):  # noqa: S107
    return client.post(LOGIN, {"email": email, "password": password}, REMOTE_ADDR=ip)


def register(client, email: str, ip: str = "127.0.0.1"):
    return client.post(REGISTER, {"email": email, "password": STRONG_PASSWORD}, REMOTE_ADDR=ip)


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


# --- The stores ----------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@pytest.mark.parametrize("backend", ["database", "redis", "local"])
def test_parallel_hits_each_get_their_own_count(backend, request):
    """48 hits on one key from 8 threads: every count from 1 to 48 exactly once
    (a read-modify-write would hand two threads the same count)."""
    if backend == "redis":
        request.getfixturevalue("use_redis")
    store = counters.local if backend == "local" else counters.shared_store()
    start = threading.Barrier(8)

    def hit_six_times() -> list[int]:
        start.wait()
        try:
            return [store.hit("throttle:parallel", 60).count for _ in range(6)]
        finally:
            connections.close_all()  # this thread's connection

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [pool.submit(hit_six_times) for _ in range(8)]
    counts = sorted(count for result in results for count in result.result())

    assert counts == list(range(1, 49))


def test_control_a_read_modify_write_throttle_lets_parallel_requests_through(monkeypatch):
    """What the counters replace: DRF's SimpleRateThrottle reads the history,
    then writes it back. Two requests that both read before either writes
    both pass a limit of 1."""

    class OneRequest(SimpleRateThrottle):
        rate = "1/min"
        cache = LocMemCache("control", {})

        def get_cache_key(self, request, view) -> str:
            return "k"

    both_read = threading.Barrier(2)
    read = OneRequest.cache.get

    def read_then_wait(key, default=None):
        value = read(key, default)
        both_read.wait(timeout=5)
        return value

    monkeypatch.setattr(OneRequest.cache, "get", read_then_wait)
    with ThreadPoolExecutor(max_workers=2) as pool:
        # The control throttle reads neither the request nor the view.
        allowed = list(
            pool.map(lambda _: OneRequest().allow_request(None, None), range(2))  # type: ignore[arg-type]
        )

    assert allowed == [True, True]


@pytest.mark.django_db
def test_the_store_follows_the_default_cache(settings):
    assert isinstance(counters.shared_store(), counters.DatabaseCounters)
    settings.CACHES = REDIS_CACHES
    assert isinstance(counters.shared_store(), counters.RedisCounters)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert counters.shared_store() is counters.local


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["database", "local"])
def test_a_window_opens_with_its_first_hit_and_restarts_after_it_ends(backend):
    store = counters.local if backend == "local" else counters.shared_store()
    start = dt.datetime(2026, 7, 1, 12, 0, 30, tzinfo=dt.UTC)

    with time_machine.travel(start, tick=False):
        first, second = store.hit("k", 60), store.hit("k", 60)
    with time_machine.travel(start + dt.timedelta(seconds=59), tick=False):
        third = store.hit("k", 60)
    with time_machine.travel(start + dt.timedelta(seconds=60), tick=False):
        after = store.hit("k", 60)

    assert [first.count, second.count, third.count, after.count] == [1, 2, 3, 1]
    assert first.retry_after == 60
    assert third.retry_after == 1
    assert first.window == second.window == third.window != after.window


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["database", "local"])
def test_a_hit_is_given_back_only_to_the_window_that_counted_it(backend):
    store = counters.local if backend == "local" else counters.shared_store()
    start = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        old = store.hit("k", 60)
        store.hit("k", 60)
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        store.hit("k", 60)  # a new window: 1
        store.give_back("k", old)  # too late: the old window has ended
        assert store.hit("k", 60).count == 2
        current = store.hit("k", 60)
        store.give_back("k", current)
        assert store.hit("k", 60).count == 3


@pytest.mark.django_db
def test_a_redis_hit_is_given_back_only_to_the_window_that_counted_it(use_redis):
    store = counters.shared_store()
    old = store.hit("k", 60)
    cache.delete("k")  # the window ended ...
    store.hit("k", 120)  # ... and another one opened, ending at another instant

    store.give_back("k", old)
    current = store.hit("k", 120)
    store.give_back("k", current)

    assert current.count == 2
    assert store.hit("k", 120).count == 2
    assert 60 < current.retry_after <= 120


@pytest.mark.django_db
def test_ended_database_windows_are_culled():
    store = counters.shared_store()
    assert isinstance(store, counters.DatabaseCounters)
    start = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        store.hit("short", 1)
        store.hit("long", 3600)
    with time_machine.travel(start + dt.timedelta(seconds=2), tick=False):
        deleted = store.cull()

    assert deleted == 1
    assert list(Counter.objects.values_list("key", flat=True)) == ["long"]


@pytest.mark.django_db
def test_the_local_store_keeps_a_bounded_number_of_windows(monkeypatch):
    local = counters.LocalCounters()
    monkeypatch.setattr(local, "MAX_KEYS", 10)

    for n in range(25):
        local.hit(f"k{n}", 60)

    assert len(local._windows) <= 10
    assert local.hit("k24", 60).count == 2  # the newest windows are kept


@pytest.mark.django_db
def test_keys_keep_no_address_or_email_in_clear(use_redis, api_client):
    login(api_client, "ann@example.com", ip="10.1.2.3")

    keys = b" ".join(redis_keys())
    assert keys.count(b"throttle:") == 2  # per IP + e-mail, per IP
    assert b"ann@example.com" not in keys
    assert b"10.1.2.3" not in keys


# --- Through the API ----------------------------------------------------------------
@pytest.mark.django_db
class TestRegister:
    def test_is_limited_per_ip(self, store, api_client):
        statuses = [register(api_client, f"u{n}@example.com").status_code for n in range(5)]
        refused = register(api_client, "u5@example.com")
        elsewhere = register(api_client, "u6@example.com", ip="10.0.0.2")

        assert statuses == [201] * 5
        assert_throttled(refused)
        assert elsewhere.status_code == 201


@pytest.mark.django_db
class TestLoginPerIpAndEmail:
    def test_is_limited_per_ip_and_email(self, store, api_client, rates):
        rates(login="3/min")
        UserFactory(email="ann@example.com")

        statuses = [login(api_client, "ann@example.com").status_code for _ in range(3)]
        refused = login(api_client, "ann@example.com", TEST_PASSWORD)
        other_email = login(api_client, "bob@example.com")
        other_ip = login(api_client, "ann@example.com", TEST_PASSWORD, ip="10.0.0.2")

        assert statuses == [401] * 3
        assert_throttled(refused)
        assert other_email.status_code == 401
        assert other_ip.status_code == 200

    def test_successful_logins_count_too(self, store, api_client, rates):
        rates(login="2/min")
        UserFactory(email="ann@example.com")

        statuses = [
            login(api_client, "ann@example.com", TEST_PASSWORD).status_code for _ in range(3)
        ]

        assert statuses == [200, 200, 429]


@pytest.mark.django_db
class TestFailedLoginsPerIp:
    def test_failures_over_many_emails_are_limited_per_ip(self, store, api_client, rates):
        rates(login_ip="3/min")
        UserFactory(email="ann@example.com")

        statuses = [login(api_client, f"guess{n}@example.com").status_code for n in range(3)]
        refused = login(api_client, "ann@example.com", TEST_PASSWORD)
        other_ip = login(api_client, "ann@example.com", TEST_PASSWORD, ip="10.0.0.2")

        assert statuses == [401] * 3
        assert_throttled(refused)
        assert other_ip.status_code == 200

    def test_successful_logins_do_not_use_the_failure_budget(self, store, api_client, rates):
        rates(login_ip="2/min")
        for n in range(4):
            UserFactory(email=f"u{n}@example.com")

        first_failure = login(api_client, "nobody@example.com")
        successes = [
            login(api_client, f"u{n}@example.com", TEST_PASSWORD).status_code for n in range(4)
        ]
        second_failure = login(api_client, "nobody2@example.com")
        refused = login(api_client, "u0@example.com", TEST_PASSWORD)

        assert first_failure.status_code == 401
        assert successes == [200] * 4
        assert second_failure.status_code == 401
        assert_throttled(refused)

    def test_a_refused_attempt_does_not_use_the_failure_budget(self, store, rates):
        rates(login_ip="1/min")
        http_request = self._request("10.0.0.9")
        with pytest.raises(InvalidCredentials), login_throttling.failed_logins_per_ip(http_request):
            raise InvalidCredentials()

        for _ in range(3):
            with pytest.raises(Throttled), login_throttling.failed_logins_per_ip(http_request):
                pytest.fail("a refused attempt never reaches the password check")

        key = throttling.scope_key("login_ip", "10.0.0.9")
        assert throttling.count_shared(key, 60).hit.count == 2  # 1 failure + this hit

    def test_malformed_bodies_do_not_use_the_failure_budget(self, store, api_client, rates):
        rates(login_ip="1/min")

        bad = [api_client.post(LOGIN, {"email": "not an e-mail"}).status_code for _ in range(3)]
        failure = login(api_client, "nobody@example.com")

        assert bad == [400] * 3
        assert failure.status_code == 401

    @staticmethod
    def _request(ip: str):
        from rest_framework.request import Request
        from rest_framework.test import APIRequestFactory

        return Request(APIRequestFactory().post(LOGIN, REMOTE_ADDR=ip))


@pytest.mark.django_db
def test_authenticated_requests_are_limited_per_user(store, rates):
    rates(user="3/min")
    limited, other = UserFactory(), UserFactory()

    statuses = [client_for(limited).get("/api/v1/checkins").status_code for _ in range(3)]
    refused = client_for(limited).get("/api/v1/checkins")

    assert statuses == [200] * 3
    assert_throttled(refused)
    assert client_for(other).get("/api/v1/checkins").status_code == 200


# --- With the shared cache down ---------------------------------------------------------
@pytest.mark.django_db
class TestCacheDown:
    @pytest.fixture(autouse=True)
    def _dead_redis(self, settings):
        settings.CACHES = DEAD_REDIS_CACHES

    def test_registration_is_still_limited_per_ip(self, api_client, caplog):
        with caplog.at_level(logging.WARNING, logger="throttles.throttling"):
            statuses = [register(api_client, f"u{n}@example.com").status_code for n in range(5)]
            refused = register(api_client, "u5@example.com")

        assert statuses == [201] * 5
        assert_throttled(refused)
        assert "Throttle cache unavailable, limiting per process" in caplog.text

    def test_login_is_still_limited_per_ip_and_email(self, api_client, rates):
        rates(login="2/min")
        UserFactory(email="ann@example.com")

        statuses = [login(api_client, "ann@example.com").status_code for _ in range(2)]
        refused = login(api_client, "ann@example.com", TEST_PASSWORD)

        assert statuses == [401] * 2
        assert_throttled(refused)

    def test_failed_logins_are_still_limited_per_ip(self, api_client, rates):
        rates(login_ip="2/min")
        UserFactory(email="ann@example.com")

        statuses = [login(api_client, f"guess{n}@example.com").status_code for n in range(2)]
        success_elsewhere = login(api_client, "ann@example.com", TEST_PASSWORD, ip="10.0.0.2")
        refused = login(api_client, "ann@example.com", TEST_PASSWORD)

        assert statuses == [401] * 2
        assert success_elsewhere.status_code == 200
        assert_throttled(refused)

    def test_the_per_user_limit_lets_requests_through(self, rates, caplog):
        rates(user="1/min")
        client = client_for(UserFactory())

        with caplog.at_level(logging.WARNING, logger="throttles.throttling"):
            statuses = [client.get("/api/v1/checkins").status_code for _ in range(3)]

        assert statuses == [200] * 3
        assert "Throttle cache unavailable, not limiting" in caplog.text
