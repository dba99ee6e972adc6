"""Fixtures shared by every app's tests."""

import logging
import sys

import pytest
from django.core.cache import cache
from django.core.signals import got_request_exception
from rest_framework.test import APIClient

from users.tests.factories import UserFactory, client_for


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Throttle counters live in the cache (a database table without Redis);
    no test inherits another's."""
    uses_db = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
    } & set(request.fixturenames)
    if uses_db:
        request.getfixturevalue("db")  # honours a transaction=True marker
        cache.clear()
    yield
    if uses_db:
        cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def auth_client(user) -> APIClient:
    return client_for(user)


class _ErrorRecords(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _fresh_webhook_subscriptions():
    """The per-process snapshot of subscribed event types is re-read by the
    first change of each test: no test inherits another's endpoints (test
    transactions roll back, so the on-commit refresh never runs)."""
    from webhooks.subscriptions import forget_snapshot

    forget_snapshot()
    yield
    forget_snapshot()


@pytest.fixture(autouse=True)
def _no_server_error_goes_unnoticed(request):
    """Every 500 is a failed test: an exception that escaped a view (Django's
    ``got_request_exception``, also from threads and the admin) or an error
    the problem handler logged (e.g. an IntegrityError mapped to a 409). A
    test that provokes one on purpose says so with ``server_error_expected``."""
    escaped: list[str] = []

    def record(sender, request=None, **kwargs):
        exc = sys.exc_info()[1]
        path = getattr(request, "path", "?")
        escaped.append(f"{path}: {exc!r}")

    got_request_exception.connect(record, weak=False, dispatch_uid="test-server-errors")
    logged = _ErrorRecords()
    problem_logger = logging.getLogger("base.errors")
    problem_logger.addHandler(logged)
    try:
        yield
    finally:
        got_request_exception.disconnect(dispatch_uid="test-server-errors")
        problem_logger.removeHandler(logged)
    if request.node.get_closest_marker("server_error_expected"):
        return
    problems = escaped + [f"logged: {r.getMessage()}" for r in logged.records]
    if problems:
        pytest.fail("server errors during the test:\n" + "\n".join(problems), pytrace=False)
