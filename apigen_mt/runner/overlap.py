"""First trials started while phase 1 still drafts, on the endpoint slots it leaves free.

Phase 1 ends in tails (drafting's last long slot chains, then recombination's, then a
last drafting pass), each with most of the endpoint idle. :class:`Prefetch` fills those
slots with the round's first trials of blueprints already accepted; phase 2 then takes
each such episode in its place instead of playing it again, and commits everything in
its own key order, so the files are the same as without it (an episode's result
depends on its blueprint, trial and seed, not on when it is played).

An episode is started early only when phase 2 is sure to commit it, or its calls would
be paid for nothing: phase 2 plays the round's blueprints in the seeded shuffle of
:func:`~apigen_mt.runner.trials.playing_order` (longest first within chunks of it) and
stops at ``--n``. A blueprint's place in that shuffle is known as soon as it is accepted
(:func:`~apigen_mt.runner.trials.rank_quantile`), and how far the round gets can be
bounded from below: at a first-trial pass rate of at most ``p`` (an upper bound from
the early episodes' own results, 1 until a few are judged) the round plays at least
``needed / p`` of its new blueprints. Only blueprints whose whole chunk comes before
that point, with margin for where a blueprint's rank lands, are played early; the
longest of them first, so the early episodes' own tail is short ones. At most
``HELD_PER_SLOT`` early episodes per slot are held at once, so memory stays flat in ``--n``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from apigen_mt.records import Blueprint, Trajectory
from apigen_mt.runner import trials
from apigen_mt.runner.shelf import Shelved
from apigen_mt.runner.trials import rank_quantile

SPREADS = 3.0  # margin, in standard deviations, for where a blueprint's rank lands
RATE_SPREADS = 2.0  # … and above the first-trial pass rate seen so far
# Early episodes held at once (running, or finished and not yet taken), per slot of the
# run's concurrency: a finished one waits in memory for phase 2, so without a bound a
# long phase 1 would hold nearly all of phase 2's first trials (1,132 of them at --n 1000
# offline) and the run's memory would grow with --n.
HELD_PER_SLOT = 4


class Prefetch:
    """First trials of one round's blueprints, started before phase 2 asks for them.

    ``play(bp)`` plays a blueprint's first trial; ``concurrency`` is the items the run
    keeps in flight, phase 1's (``busy``, counted by phase 1's batches) and these together.
    The round plays ``size`` blueprints, ``done`` of them (ids) already played, and needs
    ``needed`` more kept trajectories; ``budget()`` says why no new call may be made.
    """

    def __init__(self, play: Callable[[Blueprint], Awaitable[Trajectory]], concurrency: int,
                 *, seed: int, size: int, needed: int, done: set[str],
                 budget: Callable[[], str | None] | None = None, chunk: int | None = None):
        self.play, self.concurrency, self.seed = play, concurrency, seed
        self.size, self.needed, self.done, self.budget = size, needed, done, budget
        self.chunk = chunk or trials.CHUNK
        self.fresh = max(size - len(done), 1)  # blueprints the round plays for the first time
        self.busy = 0  # phase 1's items running now (counted by phase 1's batches)
        self.own = 0  # phase 2's own episodes running now (counted by phase 2)
        # accepted, not started: id → (rank quantile, or -1 once placed for sure; blueprint
        # by its place in the file, read whole when it starts)
        self.waiting: dict[str, tuple[float, Shelved]] = {}
        self.tasks: dict[str, asyncio.Task] = {}  # started, not taken by phase 2
        self.running = 0
        self.passed = self.judged = 0
        self.started = 0
        self.open = True

    def offer(self, bp: Shelved) -> None:
        """A blueprint was just accepted (and written): a candidate to play early."""
        if self.open and bp.id not in self.done:
            # held until played or phase 2 starts, possibly for most of phase 1
            self.waiting[bp.id] = (rank_quantile(self.seed, bp.id), bp)

    def rate_bound(self) -> float:
        """An upper bound on the first-trial pass rate (1 until a few are judged)."""
        if self.judged < 8:
            return 1.0
        seen = self.passed / self.judged
        spread = math.sqrt(max(seen * (1 - seen), 0.05) / self.judged)
        return min(1.0, seen + RATE_SPREADS * spread)

    def sure_plays(self) -> int:
        """New first trials the round plays at least: fewer, passing at the rate bound,
        would be unlikely (``SPREADS`` standard deviations) to give ``needed``."""
        rate = self.rate_bound()
        m = 0
        while m < self.fresh and \
                m * rate + SPREADS * math.sqrt(m * rate * (1 - rate)) < self.needed:
            m += 1
        return m

    def place(self, blueprints: list[Shelved], done: set[str]) -> None:
        """Phase 2 starts: the round's playing order is known, so the blueprints sure to
        be played are known exactly (the first :meth:`sure_plays` new ones in that
        order); those not started yet become the candidates, the longest first."""
        sure = self.sure_plays()
        self.waiting = {}
        fresh = 0
        for bp in blueprints:
            if bp.id in done:
                continue
            fresh += 1
            if fresh > sure:
                break
            if bp.id not in self.tasks:
                self.waiting[bp.id] = (-1.0, bp)

    def limit(self) -> float:
        """The rank quantile below which a blueprint is sure to be played this round."""
        rate = self.rate_bound()
        reach = self.needed / (rate * self.fresh)  # share of the shuffle played, at least
        if reach >= 1:
            return 1.0
        # the whole chunk of the blueprint's place must end before that point
        end = math.floor(reach * self.size / self.chunk) * self.chunk
        return end / self.size

    def _safe(self, quantile: float, limit: float) -> bool:
        if limit >= 1 or quantile < 0:
            return True
        place = quantile * self.size
        spread = SPREADS * math.sqrt(self.size * quantile * (1 - quantile))
        return place + spread < limit * self.size

    def fill(self) -> None:
        """Start what the endpoint has room for (called on every phase-1 commit)."""
        room = min(self.concurrency - self.busy - self.own - self.running,
                   HELD_PER_SLOT * self.concurrency - len(self.tasks))
        if not self.open or room <= 0 or not self.waiting:
            return
        if self.budget is not None and self.budget():
            return
        limit = self.limit()
        chosen = sorted((w for w in self.waiting.values() if self._safe(w[0], limit)),
                        key=lambda w: (-w[1].length, w[0]))[:room]
        for _, bp in chosen:
            del self.waiting[bp.id]
            self.running += 1
            self.started += 1
            task = asyncio.ensure_future(self.play(bp.load()))
            task.add_done_callback(self._done)
            self.tasks[bp.id] = task

    def _done(self, task: asyncio.Task) -> None:
        self.running -= 1
        if not task.cancelled() and task.exception() is None:
            self.judged += 1
            self.passed += bool(task.result().verdict.passed)
        self.fill()

    def stop_starting(self) -> None:
        """No more early episodes."""
        self.open = False
        self.waiting.clear()

    def take(self, blueprint_id: str) -> asyncio.Task | None:
        """The early episode of this blueprint's first trial, handed over (None: none
        started; phase 2 plays it itself, and it is no longer a candidate)."""
        self.waiting.pop(blueprint_id, None)
        return self.tasks.pop(blueprint_id, None)

    def finished(self, blueprint_id: str) -> bool:
        """Is this blueprint's early episode over (taking it costs nothing)?"""
        task = self.tasks.get(blueprint_id)
        return task is not None and task.done()

    def unused(self) -> int:
        """Early episodes phase 2 never took (their calls were paid for nothing)."""
        return len(self.tasks)

    async def close(self) -> None:
        """Cancel what was never taken."""
        self.stop_starting()
        for task in self.tasks.values():
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
