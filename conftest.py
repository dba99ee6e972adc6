"""Fixtures shared by every app's tests."""

import pytest
from django.core.cache import cache
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
