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


class _Window:
    """The keys a batch has taken from its iterator and not yet committed, in key order:
    those waiting to start (a key that depends on earlier commits waits; later keys may
    start meanwhile, up to ``lookahead`` taken ahead) and those started."""

    def __init__(self, keys: Iterable[int], ready: Callable[[int], bool | str] | None,
                 depends_on: Callable[[int], int] | None, lookahead: int,
                 results: dict[int, Any]):
        self.keys_iter, self.ready, self.depends_on = iter(keys), ready, depends_on
        self.lookahead, self.results = lookahead, results
        self.waiting: list[int] = []  # taken, not started
        self.order: deque[int] = deque()  # taken, not skipped, not committed
        self.open: set[int] = set()  # the same keys, to look up
        self.exhausted = False

    def known(self, key: int) -> bool:
        """Is ``key``'s result known (finished, committed, dropped or never taken)?"""
        return key not in self.open or key in self.results

    def committed(self, key: int) -> None:
        """``key`` left the window (committed or dropped)."""
        self.open.discard(key)

    def startable(self, room: int) -> list[int]:
        """Keys to start now (at most ``room``), dropping the ones ``ready`` skips."""
        out: list[int] = []
        i = 0
        while len(out) < room:
            if i == len(self.waiting) and not self._take():
                break
            key = self.waiting[i]
            if self.depends_on is not None and not self.known(self.depends_on(key)):
                i += 1  # its decision needs a result still to come
                continue
            verdict = True if self.ready is None else self.ready(key)
            if verdict == SKIP:
                del self.waiting[i]
                self.order.remove(key)
                self.committed(key)
                continue
            if not verdict:
                break
            del self.waiting[i]
            out.append(key)
        return out

    def _take(self) -> bool:
        if self.exhausted or len(self.waiting) >= self.lookahead:
            return False
        key = next(self.keys_iter, None)
        if key is None:
            self.exhausted = True
            return False
        self.waiting.append(key)
        self.order.append(key)
        self.open.add(key)
        return True


async def run_ordered(
    keys: Iterable[int],
    work: Callable[[int], Awaitable[Any]],
    commit: Callable[[int, Any], bool],
    concurrency: int,
    ready: Callable[[int], bool | str] | None = None,
    executor: Executor | None = None,
    remote: RemoteWork | None = None,
    depends_on: Callable[[int], int] | None = None,
    finished: Callable[[int, Any], None] | None = None,
) -> None:
    """Run ``work(key)`` for keys with at most ``concurrency`` in flight.

    ``commit(key, result_or_Failed)`` is called in key order; returning False stops the
    batch (in-flight items are cancelled and never committed). ``ready(key)`` may hold
    keys back (False: this one and the ones after it) or drop one (:data:`SKIP`: it is
    neither run nor committed). ``depends_on(key)`` names an earlier key whose result the
    decision on ``key`` needs (-1: none): until it is in (``finished(key, result)`` is
    called as each comes, before its commit) ``key`` waits, later keys may start, and the
    decision is the same at any concurrency. ``remote``: ``work`` for other processes.
    """
    executor = executor or LocalExecutor()
    results: dict[int, Any] = {}
    window = _Window(keys, ready, depends_on, 2 * concurrency, results)
    pending: dict[asyncio.Task, int] = {}
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
            while not stop:
                for key in window.startable(concurrency - len(pending)):
                    pending[asyncio.create_task(_one(call, key))] = key
                if not pending:
                    break
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    key = pending.pop(task)
                    results[key] = task.result()
                    if finished is not None:
                        finished(key, results[key])
                order = window.order
                while order and order[0] in results:
                    key = order.popleft()
                    window.committed(key)
                    if not commit(key, results.pop(key)):
                        stop = True
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
