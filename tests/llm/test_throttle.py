"""The endpoint's in-flight limit: a bound that holds, a queue nobody jumps, and AIMD."""

from __future__ import annotations

import asyncio
import random
from functools import partial

from apigen_mt.llm.throttle import AdaptiveLimit, first


async def _hold(limit: AdaptiveLimit, order: list[str], name: str,
                release: asyncio.Event | None = None, urgent: bool = False) -> None:
    """Take a slot, note the order it came in, and hold it until ``release`` is set."""
    if urgent:
        first()  # this task's requests only
    async with limit.slot():
        order.append(name)
        if release is not None:
            await release.wait()


def _queue(size: int = 1):
    """A limit of ``size``, the order its holders got their slots in, and ``hold``."""
    limit = AdaptiveLimit(size)
    order: list[str] = []
    return limit, order, partial(_hold, limit, order)


def test_never_more_than_the_limit_in_flight_and_every_holder_gets_through() -> None:
    limit = AdaptiveLimit(4)
    rng = random.Random(0)
    peak = 0
    done = 0

    async def hold() -> None:
        nonlocal peak, done
        await asyncio.sleep(rng.random() / 1000)
        async with limit.slot():
            peak = max(peak, limit.in_flight)
            await asyncio.sleep(rng.random() / 500)
        done += 1

    async def main() -> None:
        await asyncio.gather(*(hold() for _ in range(200)))

    asyncio.run(main())
    assert peak == 4 and done == 200
    assert limit.in_flight == 0 and limit.waiting == 0


def test_a_newcomer_queues_behind_the_waiters_instead_of_taking_a_freed_slot() -> None:
    limit, order, hold = _queue()

    async def main() -> None:
        release = asyncio.Event()
        first = asyncio.create_task(hold("first", release))
        await asyncio.sleep(0)
        queued = asyncio.create_task(hold("queued"))
        await asyncio.sleep(0)
        assert limit.waiting == 1
        release.set()
        await asyncio.sleep(0)  # first leaves: the queued one is woken, not yet running
        late = asyncio.create_task(hold("late"))
        await asyncio.gather(first, queued, late)

    asyncio.run(main())
    assert order == ["first", "queued", "late"]


def test_a_timeout_halves_the_limit_and_successes_grow_it_back() -> None:
    limit = AdaptiveLimit(8, "local")
    limit.timed_out(1.0)
    assert limit.limit == 4
    limit.timed_out(1.0)
    assert limit.limit == 2
    for _ in range(2):
        limit.success()
    assert limit.limit == 3
    for _ in range(3 + 4 + 5 + 6 + 7):
        limit.success()
    assert limit.limit == 8
    limit.success()
    assert limit.limit == 8  # never past the endpoint's max_concurrency


def test_a_freed_slot_goes_to_the_first_priority_before_earlier_waiters() -> None:
    limit, order, hold = _queue()

    async def main() -> None:
        release = asyncio.Event()
        holder = asyncio.create_task(hold("holder", release))
        await asyncio.sleep(0)
        queued = [asyncio.create_task(hold(f"queued{i}")) for i in range(2)]
        await asyncio.sleep(0)
        urgent = asyncio.create_task(hold("urgent", urgent=True))
        await asyncio.sleep(0)
        assert limit.waiting == 3
        release.set()
        await asyncio.gather(holder, urgent, *queued)

    asyncio.run(main())
    assert order == ["holder", "urgent", "queued0", "queued1"]


def test_a_waiter_cancelled_in_the_queue_or_as_it_is_granted_leaves_no_slot_taken() -> None:
    limit, order, hold = _queue()

    async def main() -> None:
        release = asyncio.Event()
        holder = asyncio.create_task(hold("holder", release))
        await asyncio.sleep(0)
        gone = asyncio.create_task(hold("gone"))
        granted_then_gone = asyncio.create_task(hold("granted then gone"))
        last = asyncio.create_task(hold("last"))
        await asyncio.sleep(0)
        gone.cancel()  # still queued
        await asyncio.sleep(0)
        assert limit.waiting == 2
        release.set()
        await asyncio.sleep(0)  # the holder leaves: its slot is granted to the next …
        assert limit.in_flight == 1 and limit.waiting == 1
        granted_then_gone.cancel()  # … which is cancelled before it resumes
        await asyncio.gather(holder, gone, granted_then_gone, last, return_exceptions=True)

    asyncio.run(main())
    assert order == ["holder", "last"]
    assert limit.in_flight == 0 and limit.waiting == 0


def test_a_launched_request_starts_inside_the_release_that_frees_its_slot() -> None:
    """The next queued request goes out from the call that frees a slot (no task has to
    wake up first); the bound holds, priority still orders the queue, and a request given
    up while queued never starts."""
    limit = AdaptiveLimit(2)
    started: list[str] = []
    releases: dict[str, object] = {}

    def start(name: str):
        def go(release, done) -> None:
            started.append(name)
            assert limit.in_flight <= 2
            releases[name] = (release, done)
        return go

    async def main() -> None:
        futs = {n: limit.launch(start(n)) for n in ("a", "b", "c", "d")}
        task = asyncio.create_task(_urgent_launch(limit, start("urgent")))
        await asyncio.sleep(0)
        futs["urgent"] = await task
        assert started == ["a", "b"] and limit.waiting == 3
        futs["c"].cancel()
        await asyncio.sleep(0)  # its give-up is counted off
        assert limit.waiting == 2
        release, done = releases["a"]
        release()  # frees a's slot: the urgent one is on the wire before this returns
        assert started == ["a", "b", "urgent"] and limit.in_flight == 2
        release()  # a second release of one request changes nothing
        assert limit.in_flight == 2 and started == ["a", "b", "urgent"]
        done.set_result("A")
        assert await futs["a"] == "A"
        releases["b"][0]()
        assert started == ["a", "b", "urgent", "d"]  # c gave up: never started
        for name in ("urgent", "d"):
            releases[name][0]()
        assert limit.in_flight == 0 and limit.waiting == 0

    asyncio.run(main())


async def _urgent_launch(limit: AdaptiveLimit, start):
    first()
    return limit.launch(start)


def test_a_launch_whose_start_fails_gives_its_slot_back_and_raises() -> None:
    limit = AdaptiveLimit(1)

    def broken(release, done) -> None:
        raise RuntimeError("cannot send")

    async def main() -> None:
        fut = limit.launch(broken)
        try:
            await fut
        except RuntimeError as exc:
            assert str(exc) == "cannot send"
        else:
            raise AssertionError("the start's error was lost")
        assert limit.in_flight == 0

    asyncio.run(main())
