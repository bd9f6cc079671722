"""An in-flight limit that a slow server can lower: halve on a timeout, grow back slowly.

A self-hosted server (llama.cpp, Ollama, a small vLLM) that times out is usually
overloaded, and it keeps computing the requests the client gave up on. Sending more —
or the same again — only makes it slower. :class:`AdaptiveLimit` is a semaphore whose
size is halved on each timeout (down to one request at a time) and grows back by one
after as many successes in a row as its current size (additive increase, multiplicative
decrease, as TCP does).

When the limit is reached, requests queue by priority (:data:`PRIORITY`, a context
variable: a task sets it for its own requests), first come first served among equals.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

log = logging.getLogger("apigen_mt.llm")


PRIORITY: ContextVar[float] = ContextVar("apigen_mt_request_priority", default=1.0)
"""The priority of the requests the current task makes: when the limit is reached, a
freed slot goes to the waiter with the lowest value, first come first served among
equals. Work that other work waits for (a run's blueprints, which its rollouts need)
sets a lower one for its task (:func:`first`); everything else keeps the default."""

FIRST = 0.0  # the priority of work others wait for


def first() -> None:
    """The current task's requests (and those of the tasks it starts) go before others'."""
    PRIORITY.set(FIRST)


class AdaptiveLimit:
    """At most ``limit`` holders at a time; ``limit`` moves between 1 and ``maximum``.

    Waiters queue by :data:`PRIORITY`, then by arrival; a newcomer never takes a freed
    slot from one already queued.
    """

    def __init__(self, maximum: int, name: str = ""):
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.name = name
        self.in_flight = 0
        self.waiting = 0
        # (priority, arrival, future): a future is resolved once its slot is granted
        self._queue: list[tuple[float, int, asyncio.Future]] = []
        self._arrivals = 0
        self.lowered = 0  # how many times a timeout lowered the limit
        self._streak = 0
        self._slot = _Slot(self)

    def slot(self) -> _Slot:
        """Hold one slot while a request is on the wire (``async with limit.slot():``)."""
        return self._slot

    async def _enter(self) -> None:
        if not self.waiting and self.in_flight < self.limit:
            # Nobody queued and a slot free: take it (the common case, on every request).
            # Single-threaded, so nothing runs between the test and the increment.
            self.in_flight += 1
            return
        granted = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (PRIORITY.get(), self._arrivals, granted))
        self._arrivals += 1
        self.waiting += 1
        self._grant()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.cancelled():  # still queued: its entry is skipped when it comes up
                self.waiting -= 1
            else:  # granted as it was cancelled: the slot goes to the next one
                self.in_flight -= 1
                self._grant()
            raise

    def launch(self, start: Callable[[Callable[[], None], asyncio.Future], None]
               ) -> asyncio.Future:
        """Start a request in a slot: ``start(release, done)`` puts it on the wire, resolves
        ``done`` with its outcome, and calls ``release()`` the moment the wire is free.

        Unlike :meth:`slot`, a queued request is started by the call that frees a slot,
        from inside the callback that read the last answer: no task has to wake up first,
        so the endpoint gets the next request at once however busy the event loop is (a
        slot held through two task switches at 20 ms each is a tenth of a 200 ms request
        lost). Returns ``done``; cancelling it gives the slot up (queued) or drops the
        request (on the wire: ``start`` must then release)."""
        done = asyncio.get_running_loop().create_future()
        entry = _Launch(self, start, done)
        if not self.waiting and self.in_flight < self.limit:
            self.in_flight += 1
            entry.run()
            return done
        heapq.heappush(self._queue, (PRIORITY.get(), self._arrivals, entry))
        self._arrivals += 1
        self.waiting += 1
        done.add_done_callback(entry.given_up)
        self._grant()
        return done

    def _grant(self) -> None:
        """Hand free slots to the queued, best priority first (in-flight counted here, so a
        newcomer cannot take a slot between the grant and the waiter's resumption)."""
        while self._queue and self.in_flight < self.limit:
            granted = heapq.heappop(self._queue)[2]
            if granted.cancelled():  # gave up while queued (counted off then)
                continue
            self.waiting -= 1
            self.in_flight += 1
            if type(granted) is _Launch:
                granted.run()
            else:
                granted.set_result(None)

    def _release(self) -> None:
        self.in_flight -= 1
        if self.waiting:
            self._grant()

    async def _exit(self) -> None:
        self._release()

    def success(self) -> None:
        """One request answered in time: after ``limit`` in a row, allow one more."""
        if self.limit >= self.maximum:
            return
        self._streak += 1
        if self._streak >= self.limit:
            self._streak = 0
            self.limit += 1
            if self.waiting:  # a new slot for the first waiter
                self._grant()

    def timed_out(self, timeout_s: float) -> None:
        """A request timed out: halve the limit (slots are granted again below it only)."""
        self._streak = 0
        new = max(1, self.limit // 2)
        if new < self.limit or self.lowered == 0:
            log.warning("%s: a request timed out after %gs; %s (raise timeout_s if the "
                        "server is just slow)", self.name, timeout_s,
                        f"in-flight requests lowered to {new}" if new < self.limit
                        else "already one request at a time")
        self.limit = new
        self.lowered += 1


class _Slot:
    """``async with`` one slot of an :class:`AdaptiveLimit`. A plain class rather than an
    ``asynccontextmanager``: it is entered on every request, and a generator-based context
    manager costs a generator, a wrapper and their frames each time. It holds no state of
    its own, so one serves every holder."""

    __slots__ = ("_limit",)

    def __init__(self, limit: AdaptiveLimit) -> None:
        self._limit = limit

    async def __aenter__(self) -> None:
        await self._limit._enter()

    async def __aexit__(self, *exc: Any) -> None:
        await self._limit._exit()


class _Launch:
    """A request waiting for (or holding) a slot of :meth:`AdaptiveLimit.launch`."""

    __slots__ = ("done", "limit", "start", "state")

    def __init__(self, limit: AdaptiveLimit, start: Callable, done: asyncio.Future) -> None:
        self.limit, self.start, self.done = limit, start, done
        self.state = 0  # 0 queued, 1 on the wire, 2 slot given back

    def cancelled(self) -> bool:
        """Given up while queued (it holds no slot and is skipped)."""
        return self.state == 2

    def given_up(self, done: asyncio.Future) -> None:
        if self.state == 0 and done.cancelled():
            self.state = 2
            self.limit.waiting -= 1

    def run(self) -> None:
        self.state = 1
        if self.done.done():  # cancelled as the slot came: give it straight back
            self.release()
            return
        try:
            self.start(self.release, self.done)
        except BaseException as exc:
            self.release()
            if not self.done.done():
                self.done.set_exception(exc)

    def release(self) -> None:
        if self.state == 1:
            self.state = 2
            self.limit._release()
