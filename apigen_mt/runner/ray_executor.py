"""The Ray executor: drafting slots and episodes fanned out to a pool of Ray actors.

Each actor builds the batch's item function once from the picklable spec (its own
environment copy and model clients) and runs many items at once on its own event loop;
the driver keeps ``--concurrency`` items in flight across the pool, least-loaded actor
first. Commits still happen on the driver, in key order (``run_ordered``), and the
driver is the only writer of the run directory, so resume, dedup and the response
cache behave exactly as with the local executor. See :mod:`apigen_mt.runner.remote`
for what crosses the wire.

``ray`` is an optional dependency (``pip install 'apigen-mt[ray]'``), imported only here
and only when the Ray executor is chosen.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from apigen_mt.errors import RunFailure, UsageError
from apigen_mt.runner.batch import RemoteWork
from apigen_mt.runner.remote import Outbox, Sink, WorkerRuntime

INSTALL_HINT = "install the ray extra: pip install 'apigen-mt[ray]'"
START_TIMEOUT_S = 180.0  # for every actor to build its item function
FINISH_TIMEOUT_S = 30.0  # for actors to report what cancelled items left behind


def require_ray() -> Any:
    """The ``ray`` module, or a one-line usage error saying how to get it."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Join the cluster at ``address`` (``auto``, ``ray://host:10001`` …) or start a local one.

    A process connects once; later batches (``run`` alternates both phases) reuse it.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS")  # as `ray.init()` itself would
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     **quiet)
    except ConnectionError as exc:
        raise RunFailure(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    return ray


class WorkerActor:
    """What runs inside each Ray actor (wrapped with ``ray.remote`` on first use)."""

    def __init__(self, spec: Any, cache_entries: dict[str, Any], shared: list[Any]):
        self.runtime = WorkerRuntime(spec, cache_entries, shared)

    async def ready(self) -> int:
        """Answers once the item function is built; the actor's pid."""
        return os.getpid()

    async def run(self, key: int, payload: Any, start: int,
                  tail: list[Any]) -> dict[str, Any]:
        """One item: the JSON-able result (or error) plus new cache entries and usage."""
        return await self.runtime.run(key, payload, start, tail)

    async def finish(self) -> dict[str, Any]:
        """Close model clients; returns what cancelled items left unreported."""
        await self.runtime.aclose()
        return self.runtime.drain()


class RayExecutor:
    """Runs a batch's items on a pool of Ray actors; the driver absorbs what they report.

    ``sink`` is the driver's response cache and usage tracker; ``actors`` defaults to
    the cluster's CPU count (at most ``--concurrency``), one CPU each.
    """

    def __init__(self, sink: Sink, address: str | None = None, actors: int | None = None,
                 env_vars: dict[str, str] | None = None):
        require_ray()
        self.sink = sink
        self.address = address
        self.actors = actors
        self.env_vars = env_vars or {}

    @asynccontextmanager
    async def session(self, work: Callable[[int], Awaitable[Any]], remote: RemoteWork | None,
                      concurrency: int) -> AsyncIterator[Callable[[int], Awaitable[Any]]]:
        """Start the actor pool for one batch; tear it down (and collect leftovers) after."""
        if remote is None:
            raise RunFailure("this batch has no shippable form and cannot run on Ray")
        ray = connect(self.address)
        size = self.actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = max(1, min(size, concurrency))
        # No actor restarts: an item lost with its actor fails the batch, and rerunning the
        # command resumes it (its paid model calls are in the cache by then).
        options: dict[str, Any] = {"num_cpus": 1,
                                   "max_concurrency": math.ceil(concurrency / size) + 1}
        if self.env_vars:
            options["runtime_env"] = {"env_vars": self.env_vars}
        actor_cls = ray.remote(WorkerActor).options(**options)
        # put once, shared by every actor: the cache as it is now, and the shared list
        entries = ray.put(self.sink.snapshot())
        shared = ray.put(list(remote.shared or []))
        pool = [actor_cls.remote(remote.spec, entries, shared) for _ in range(size)]
        outboxes = [Outbox(remote.shared) for _ in range(size)]
        load = [0] * size
        abandoned: set[asyncio.Future] = set()
        try:
            await self._started(ray, pool)

            async def call(key: int) -> Any:
                i = min(range(size), key=load.__getitem__)
                load[i] += 1
                ref = pool[i].run.remote(key, remote.payload(key), *outboxes[i].tail())
                # Shielded: Ray Client logs errors when a future it still feeds is cancelled;
                # an item dropped by the batch is cancelled in Ray and awaited at the end.
                pending = asyncio.ensure_future(ref)
                try:
                    reply = await asyncio.shield(pending)
                except asyncio.CancelledError:
                    ray.cancel(ref)
                    abandoned.add(pending)
                    raise
                finally:
                    load[i] -= 1
                outboxes[i].ack(reply)
                return self.sink.unwrap(key, reply, remote.decode)

            yield call
        finally:
            if abandoned:
                await asyncio.wait(abandoned, timeout=FINISH_TIMEOUT_S)
                for fut in abandoned:  # an item that finished anyway still reports its calls
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        self.sink.absorb(fut.result())
            await self._finish(ray, pool)

    async def _started(self, ray: Any, pool: list[Any]) -> None:
        try:
            await asyncio.wait_for(asyncio.gather(*(a.ready.remote() for a in pool)),
                                   START_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise RunFailure(f"Ray could not start {len(pool)} workers (1 CPU each) within "
                             f"{START_TIMEOUT_S:.0f}s; check `ray status`") from None
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
            raise RunFailure(f"a Ray worker failed to start: {first}") from None

    async def _finish(self, ray: Any, pool: list[Any]) -> None:
        try:
            replies = await asyncio.wait_for(asyncio.gather(
                *(a.finish.remote() for a in pool), return_exceptions=True), FINISH_TIMEOUT_S)
        except asyncio.TimeoutError:  # actors that never started, or hung: nothing to collect
            replies = []
        for reply in replies:
            if isinstance(reply, dict):
                self.sink.absorb(reply)
        for actor in pool:
            ray.kill(actor)


def key_env_vars(config: Any) -> dict[str, str]:
    """The API-key variables the config's endpoints name, as set here (for remote nodes)."""
    names = {ep.api_key_env for ep in config.endpoints.values() if ep.api_key_env}
    return {name: os.environ[name] for name in sorted(names) if name in os.environ}


def make_executor(name: str, address: str | None, models: Any, config: Any) -> Any:
    """``None`` (local, in-process) or a :class:`RayExecutor` bound to the driver's models."""
    if name == "local":
        return None
    return RayExecutor(Sink.of(models), address, env_vars=key_env_vars(config))
