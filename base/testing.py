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
