"""The batch layer: run numbered work items concurrently, commit results in number order.

Committing in order is what makes a run's files identical whatever the concurrency,
and a resumed run identical to an uninterrupted one: results that finish early wait
for their predecessors. Work that was done but not committed when the process died
is redone on restart for free, because its model calls are in the response cache.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

SKIP = "skip"  # what ``ready(key)`` returns for a key that is not to run at all


@dataclass
class Failed:
    """A work item that raised; the committer decides what that means."""

    error: BaseException


@dataclass
class RemoteWork:
    """A batch's per-item function in a form that can run in another process.

    ``spec`` is picklable and rebuilds the item function once per worker
    (``spec.build(runtime)`` → ``async (key, payload) -> JSON-able result``);
    ``payload(key)`` is what the driver sends with item ``key``; ``decode(key, result)``
    turns the worker's result back into the record the committer expects. ``shared`` is
    an append-only list of the driver's that workers mirror (each is sent only what it
    has not confirmed yet), for data every item reads and that grows as the batch goes.
    """

    spec: Any
    payload: Callable[[int], Any]
    decode: Callable[[int, Any], Any]
    shared: list[Any] | None = None


class Executor(Protocol):
    """Runs a batch's items: in-process (local) or shipped to workers (Ray)."""

    def session(self, work: Callable[[int], Awaitable[Any]], remote: RemoteWork | None,
                concurrency: int) -> AbstractAsyncContextManager[Callable[[int], Awaitable[Any]]]:
        """Set up for one batch; yields ``call(key) -> result`` (exceptions propagate)."""
        ...


class LocalExecutor:
    """In-process asyncio execution: ``work`` is awaited in this event loop."""

    @asynccontextmanager
    async def session(self, work: Callable[[int], Awaitable[Any]], remote: RemoteWork | None,
                      concurrency: int) -> AsyncIterator[Callable[[int], Awaitable[Any]]]:
        """Nothing to set up: items run as they are."""
        yield work


async def run_ordered(
    keys: Iterable[int],
    work: Callable[[int], Awaitable[Any]],
    commit: Callable[[int, Any], bool],
    concurrency: int,
    ready: Callable[[int], bool | str] | None = None,
    executor: Executor | None = None,
    remote: RemoteWork | None = None,
) -> None:
    """Run ``work(key)`` for keys with at most ``concurrency`` in flight.

    ``commit(key, result_or_Failed)`` is called in key order; returning False stops the
    batch (in-flight items are cancelled and never committed). ``ready(key)`` may hold a
    key back until earlier commits have happened (False), or drop it (:data:`SKIP`: it is
    neither run nor committed), which is how a decision that depends on earlier results
    stays the same at any concurrency. ``remote`` is the shippable form of
    ``work`` for executors that run items in other processes.
    """
    executor = executor or LocalExecutor()
    keys_iter = iter(keys)
    next_key = next(keys_iter, None)
    pending: dict[asyncio.Task, int] = {}
    results: dict[int, Any] = {}
    order: deque[int] = deque()
    stop = False

    async def _one(call: Callable[[int], Awaitable[Any]], key: int) -> Any:
        try:
            return await call(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # becomes data for the committer
            return Failed(exc)

    async with executor.session(work, remote, concurrency) as call:
        try:
            while True:
                while not stop and next_key is not None and len(pending) < concurrency:
                    verdict = True if ready is None else ready(next_key)
                    if verdict == SKIP:
                        next_key = next(keys_iter, None)
                        continue
                    if not verdict:
                        break
                    task = asyncio.create_task(_one(call, next_key))
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
        """Record one outcome; True while the run should go on.

        A request too long for the model's context window (kind ``context``) is that
        item's problem, not the endpoint's: it neither breaks nor extends a streak.
        """
        if not ok and getattr(error, "kind", None) == "context":
            return True
        if ok:
            self.streak = 0
            return True
        self.streak += 1
        self.last_error = str(error) if error else self.last_error
        return self.streak < self.consecutive
