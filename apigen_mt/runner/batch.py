"""The batch layer: run numbered work items concurrently, commit results in number order.

Committing in order is what makes a run's files identical whatever the concurrency,
and a resumed run identical to an uninterrupted one: results that finish early wait
for their predecessors. Work that was done but not committed when the process died
is redone on restart for free, because its model calls are in the response cache.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class Failed:
    """A work item that raised; the committer decides what that means."""

    error: BaseException


class Executor(Protocol):
    """Runs one work item. The local executor awaits it in-process; others may ship it."""

    async def run(self, work: Callable[[int], Awaitable[Any]], key: int) -> Any:
        """Return the item's result (exceptions propagate)."""
        ...


class LocalExecutor:
    """In-process asyncio execution."""

    async def run(self, work: Callable[[int], Awaitable[Any]], key: int) -> Any:
        """Await the work item in this event loop."""
        return await work(key)


async def run_ordered(
    keys: Iterable[int],
    work: Callable[[int], Awaitable[Any]],
    commit: Callable[[int, Any], bool],
    concurrency: int,
    ready: Callable[[int], bool] | None = None,
    executor: Executor | None = None,
) -> None:
    """Run ``work(key)`` for keys with at most ``concurrency`` in flight.

    ``commit(key, result_or_Failed)`` is called in key order; returning False stops the
    batch (in-flight items are cancelled and never committed). ``ready(key)`` may hold a
    key back until earlier commits have happened.
    """
    executor = executor or LocalExecutor()
    keys_iter = iter(keys)
    next_key = next(keys_iter, None)
    pending: dict[asyncio.Task, int] = {}
    results: dict[int, Any] = {}
    order: deque[int] = deque()
    stop = False

    async def _one(key: int) -> Any:
        try:
            return await executor.run(work, key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # becomes data for the committer
            return Failed(exc)

    try:
        while True:
            while (not stop and next_key is not None and len(pending) < concurrency
                   and (ready is None or ready(next_key))):
                task = asyncio.create_task(_one(next_key))
                pending[task] = next_key
                order.append(next_key)
                next_key = next(keys_iter, None)
            if not pending:
                break
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                results[pending.pop(task)] = task.result()
            while order and order[0] in results:
                key = order.popleft()
                if not commit(key, results.pop(key)):
                    stop = True
                    break
            if stop:
                break
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


class CircuitBreaker:
    """Stops a run when model errors dominate, instead of failing item after item."""

    def __init__(self, consecutive: int = 8):
        self.consecutive = consecutive
        self.streak = 0
        self.last_error: str | None = None

    def record(self, ok: bool, error: BaseException | None = None) -> bool:
        """Record one outcome; True while the run should go on."""
        if ok:
            self.streak = 0
            return True
        self.streak += 1
        self.last_error = str(error) if error else self.last_error
        return self.streak < self.consecutive
