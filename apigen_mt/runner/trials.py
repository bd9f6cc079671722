"""Which episode each phase-2 work item plays, and whether it is worth playing.

Spending goes where it yields new kept conversations. A blueprint whose trial already
passed mostly repeats that conversation on its next trial (a deterministic model always
does), while a blueprint that has none kept yet is about as likely as a new one to give
one. So the work items come in two passes over the blueprints (B of them, T trials):

1. **Until passed.** Trial 0 of every blueprint, then trial 1 of those none of whose
   trials passed yet, then trial 2 of those still without one, and so on to the last
   trial. Every blueprint gets its first trial before any gets a second.
2. **More of the same task.** Only once the first pass is spent: the trials the first
   pass left out (blueprints that already passed), which add a conversation only when
   the model says something new.

Blueprints are shuffled (seeded), then go longest first (most actions: the longest
conversations) within chunks of the shuffle, so the last episodes of a trial, which run
with few others in flight, are short ones (:func:`playing_order`).

Whether an item is played depends only on the blueprint's own earlier trials (did one
pass the judge?), so it is decided once their results are in, whatever else is still
running: the same items are played at any concurrency, interrupted or not. (A passed
trial that repeats another blueprint's conversation counts as passed here: the choice
must not depend on what other blueprints' episodes have been committed so far.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

CHUNK = 100  # blueprints sorted longest first among themselves
B = TypeVar("B")


def rank(seed: int, blueprint_id: str) -> bytes:
    """A blueprint's place in the seeded shuffle of :func:`playing_order`."""
    return hashlib.sha256(f"{seed}:{blueprint_id}".encode()).digest()


def rank_quantile(seed: int, blueprint_id: str) -> float:
    """Where in the shuffle a blueprint falls, from 0 (first) to 1 (last): its rank as a
    fraction, the same whatever other blueprints there are, so a blueprint's place in a
    round's playing order can be told before the round's last blueprint is drafted."""
    return int.from_bytes(rank(seed, blueprint_id)[:8], "big") / 2.0 ** 64


def playing_order(blueprints: Sequence[B], seed: int, chunk: int | None = None,
                  size: Callable[[B], int] = lambda bp: len(bp.actions)) -> list[B]:
    """The blueprints in playing order: a seeded shuffle (by id, so a blueprint keeps its
    place as the file grows), then most actions first within each ``chunk`` of it.

    The shuffle makes the blueprints a phase leaves unplayed once it reaches ``--n`` a
    fair sample (the file puts recombined tasks last, and those would be the ones left
    out); sorting within chunks ends each trial on short episodes, as the phase ends
    with few others in flight, while drawing the kept set towards long tasks only in
    the last chunk played. ``size`` tells an item's number of actions (blueprints held
    by their place in the file carry it as ``length``)."""
    chunk = chunk or CHUNK  # read now: a test may set a smaller one
    shuffled = sorted(range(len(blueprints)), key=lambda i: rank(seed, blueprints[i].id))
    order = sorted(range(len(shuffled)),
                   key=lambda p: (p // chunk, -size(blueprints[shuffled[p]]), p))
    return [blueprints[shuffled[p]] for p in order]


class TrialPlan:
    """Work item ``k`` ↔ (blueprint index, trial, pass) for B blueprints and T trials.

    Keys ``[0, T·B)`` are the first pass (trial ``k // B``), keys ``[T·B, (2T-1)·B)``
    the second (trial ``1 + (k - T·B) // B``); the blueprint is ``k % B`` in both.
    """

    def __init__(self, count: int, trials: int):
        self.count, self.trials = count, trials
        self.first_passed: dict[int, int] = {}  # blueprint index → its lowest passed trial

    def size(self) -> int:
        """How many keys there are."""
        return self.count * max(2 * self.trials - 1, 0)

    def blueprint(self, key: int) -> int:
        """The index of the blueprint item ``key`` plays."""
        return key % self.count

    def trial(self, key: int) -> int:
        """The trial number item ``key`` plays."""
        first = self.count * self.trials
        return key // self.count if key < first else 1 + (key - first) // self.count

    def group(self, key: int) -> tuple[bool, int]:
        """(first pass?, trial): items of one group pass at about one rate."""
        return key < self.count * self.trials, self.trial(key)

    def depends_on(self, key: int) -> int:
        """The key whose result the decision on ``key`` needs (-1: none): the blueprint's
        previous trial in the first pass (known only once every earlier one is)."""
        trial = self.trial(key)
        return self.blueprint(key) + (trial - 1) * self.count if trial > 0 else -1

    def passed(self, index: int, trial: int) -> None:
        """Blueprint ``index``'s trial ``trial`` passed the judge."""
        self.first_passed[index] = min(self.first_passed.get(index, trial), trial)

    def worth_playing(self, key: int) -> bool:
        """Play item ``key``? (Call once the result of :meth:`depends_on` is known.)"""
        trial = self.trial(key)
        if trial == 0:
            return True
        first = self.first_passed.get(self.blueprint(key))
        passed_before = first is not None and first < trial
        return not passed_before if key < self.count * self.trials else passed_before
