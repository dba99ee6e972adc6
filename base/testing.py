"""Helpers for tests: typed model factories, and real threads against the database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import factory
from django.db import connections
from django.db.models import Model

T = TypeVar("T")
M = TypeVar("M", bound=Model)


class ModelFactory(factory.django.DjangoModelFactory[M]):
    """A model factory whose call is typed: ``UserFactory()`` is a ``User``
    (``class UserFactory(ModelFactory[User])``)."""

    class Meta:
        abstract = True

    if TYPE_CHECKING:
        # factory_boy's metaclass turns the call into ``create()``; type checkers
        # read the call's type from __new__, which may not name another class.
        def __new__(cls, *args: Any, **kwargs: Any) -> M: ...  # type: ignore[misc]


def run_concurrently(count: int, action: Callable[[int], T], timeout: float = 120) -> list[T]:
    """Run ``action(i)`` in ``count`` threads released together by a barrier.

    Each thread has its own database connection (Django keeps one per thread)
    and closes it when done. Returns each thread's result, or the exception it
    raised, in thread order.
    """
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = action(index)
        except BaseException as exc:  # reported to the test, which asserts on it
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"{count} concurrent actions did not finish in {timeout}s")
    return results


PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` (and ``code``, when
    given) and every key a problem carries; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["request_id"] == response["X-Request-ID"]
    if code is not None:
        assert body["code"] == code
        assert body["type"] == f"urn:engagement:problem:{code}"
    return body


def bearer_client(access: str) -> Any:
    """A DRF test client that sends ``access`` as its bearer token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client
