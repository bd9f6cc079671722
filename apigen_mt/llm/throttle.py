"""An in-flight limit that a slow server can lower: halve on a timeout, grow back slowly.

A self-hosted server (llama.cpp, Ollama, a small vLLM) that times out is usually
overloaded, and it keeps computing the requests the client gave up on. Sending more —
or the same again — only makes it slower. :class:`AdaptiveLimit` is a semaphore whose
size is halved on each timeout (down to one request at a time) and grows back by one
after as many successes in a row as its current size (additive increase, multiplicative
decrease, as TCP does).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("apigen_mt.llm")


class AdaptiveLimit:
    """At most ``limit`` holders at a time; ``limit`` moves between 1 and ``maximum``."""

    def __init__(self, maximum: int, name: str = ""):
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.name = name
        self.in_flight = 0
        self.waiting = 0
        self._wakers: set[asyncio.Future] = set()
        self.lowered = 0  # how many times a timeout lowered the limit
        self._streak = 0
        self._cond = asyncio.Condition()
        self._slot = _Slot(self)

    def slot(self) -> _Slot:
        """Hold one slot while a request is on the wire (``async with limit.slot():``)."""
        return self._slot

    async def _enter(self) -> None:
        if self.waiting == 0 and self.in_flight < self.limit and not self._cond.locked():
            # Nobody queued and a slot free: take it without the condition's lock (the
            # common case, on every request). Single-threaded, so nothing runs between
            # the test and the increment.
            self.in_flight += 1
            return
        async with self._cond:
            self.waiting += 1
            try:
                await self._cond.wait_for(lambda: self.in_flight < self.limit)
            finally:
                self.waiting -= 1
            self.in_flight += 1

    async def _exit(self) -> None:
        self.in_flight -= 1
        if self.waiting:  # somebody queued: wake one (no herd of wake-ups)
            async with self._cond:
                self._cond.notify()

    def success(self) -> None:
        """One request answered in time: after ``limit`` in a row, allow one more."""
        if self.limit >= self.maximum:
            return
        self._streak += 1
        if self._streak >= self.limit:
            self._streak = 0
            self.limit += 1
            if self.waiting:  # a new slot: wake one waiter for it
                task = asyncio.ensure_future(self._wake())
                self._wakers.add(task)
                task.add_done_callback(self._wakers.discard)

    async def _wake(self) -> None:
        async with self._cond:
            self._cond.notify()

    def timed_out(self, timeout_s: float) -> None:
        """A request timed out: halve the limit (the waiters see it at their next turn)."""
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
