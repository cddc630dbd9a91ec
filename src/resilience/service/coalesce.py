"""Coalescing: concurrent requests for the same key share one in-flight task.

Lives on the event loop (no locks needed: the table is only touched from the loop thread).
A key leaves the table when its task finishes; whoever wants the result of a finished
analysis reads the ledger, which the task fills *before* it finishes, so there is no window
in which neither the table nor the ledger knows the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from resilience.errors import ResilienceError

__all__ = ["Coalescer", "wait_for_result"]

log = logging.getLogger("resilience.service.coalesce")

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Coalescer(Generic[K, T]):
    """A table of in-flight tasks keyed by what they compute."""

    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    def inflight_keys(self) -> list[K]:
        return list(self._inflight)

    def get(self, key: K) -> asyncio.Task[T] | None:
        return self._inflight.get(key)

    def start(
        self, key: K, factory: Callable[[], Coroutine[Any, Any, T]]
    ) -> tuple[asyncio.Task[T], bool]:
        """Return the task for ``key``, starting ``factory()`` if none is in flight.

        The bool is True when this call started it.
        """
        task = self._inflight.get(key)
        if task is not None:
            return task, False
        task = asyncio.get_running_loop().create_task(factory())
        self._inflight[key] = task
        task.add_done_callback(lambda t: self._done(key, t))
        return task, True

    def _done(self, key: K, task: asyncio.Task[T]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if task.cancelled():
            return
        exc = task.exception()  # marks it retrieved: a fire-and-forget submit never awaits it
        if exc is not None and not isinstance(exc, ResilienceError):
            log.error("task %r failed unexpectedly", key, exc_info=exc)


async def wait_for_result(task: asyncio.Task[T], wait: float) -> T | None:
    """The task's result if it finishes within ``wait`` seconds, else None (it keeps running)."""
    if wait <= 0 and not task.done():
        return None
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout=wait)
    except TimeoutError:
        return None
