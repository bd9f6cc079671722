"""Which episode each phase-2 work item plays, and whether it is worth playing.

Spending goes where it yields new kept conversations. A blueprint whose trial already
passed mostly repeats that conversation on its next trial (a deterministic model always
does), while a blueprint that has none kept yet is as likely as any to give one. So the
work items come in two passes over the blueprints:

1. **Until kept.** Trial 0 of every blueprint, then trial 1 of those with no kept
   conversation yet, then trial 2 of those still without one, and so on to the last
   trial. Every blueprint gets its first trial before any gets a second.
2. **More of the same task.** Only once the first pass is spent: the trials the first
   pass left out (blueprints that already have a kept conversation), which add a
   conversation only when the model says something new.

Within a trial, blueprints go longest first (most actions: the longest conversations),
so the last episodes of a phase, which run with few others in flight, are short ones.

Whether an item is played depends on the blueprint's earlier trials, so it is decided
only once those are committed (the batch commits in key order): the same items are
played at any concurrency, interrupted or not.
"""

from __future__ import annotations

from collections.abc import Sequence

from apigen_mt.records import Blueprint


def longest_first(blueprints: Sequence[Blueprint]) -> list[Blueprint]:
    """The blueprints in playing order: most actions first, file order among equals."""
    order = sorted(range(len(blueprints)), key=lambda i: (-len(blueprints[i].actions), i))
    return [blueprints[i] for i in order]


class TrialPlan:
    """Work item ``k`` ↔ (blueprint index, trial, pass) for B blueprints and T trials.

    Keys ``[0, T·B)`` are the first pass (trial ``k // B``), keys ``[T·B, (2T-1)·B)``
    the second (trial ``1 + (k - T·B) // B``); the blueprint is ``k % B`` in both.
    """

    def __init__(self, count: int, trials: int):
        self.count, self.trials = count, trials
        self.first_kept: dict[int, int] = {}  # blueprint index → its lowest kept trial

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

    def depends_on(self, key: int) -> int:
        """The highest key whose commit the decision on ``key`` needs (-1: none): the
        same blueprint's previous trial in key order, and everything before it."""
        return key - self.count if self.trial(key) > 0 else -1

    def kept(self, key: int) -> None:
        """Item ``key`` gave a conversation that was kept."""
        index, trial = self.blueprint(key), self.trial(key)
        self.first_kept[index] = min(self.first_kept.get(index, trial), trial)

    def worth_playing(self, key: int) -> bool:
        """Play item ``key``? (Call once its :meth:`depends_on` key is committed.)"""
        trial = self.trial(key)
        if trial == 0:
            return True
        first = self.first_kept.get(self.blueprint(key))
        has_kept_before = first is not None and first < trial
        in_first_pass = key < self.count * self.trials
        return not has_kept_before if in_first_pass else has_kept_before
