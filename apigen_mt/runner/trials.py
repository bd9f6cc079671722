"""Which episode each phase-2 work item plays, and whether it is worth playing.

Spending goes where it yields new kept conversations. A blueprint whose trial already
passed mostly repeats that conversation on its next trial (a deterministic model always
does), while a blueprint that has none kept yet is about as likely as a new one to give
one. So the work items come in two passes over the blueprints (B of them, T trials):

1. **Until passed.** Every blueprint's trial 0; a blueprint's next trial only while none
   of its trials passed, half a pass (B // 2 items) after its previous trial.
2. **More of the same task.** Only once the first pass is spent: the trials the first
   pass left out (blueprints that already passed), which add a conversation only when
   the model says something new.

Blueprints go longest first (most actions: the longest conversations), so the last
episodes of a phase, which run with few others in flight, are short ones; the half-pass
lag lets the long tasks' second trials run in the middle of the phase rather than all
together at its end, and trial 0 of the first half of the blueprints always comes before
any second trial.

Whether an item is played depends only on the blueprint's own earlier trials (did one
pass the judge?), so it is decided once their results are in, whatever else is still
running: the same items are played at any concurrency, interrupted or not. (A passed
trial that repeats another blueprint's conversation counts as passed here: the choice
must not depend on what other blueprints' episodes have been committed so far.)
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

    The first pass holds every (blueprint ``j``, trial ``t``), in the order of
    ``j + t · (B // 2)``; the second pass the trials ``t ≥ 1`` again, in the same order.
    """

    def __init__(self, count: int, trials: int):
        self.count, self.trials = count, trials
        lag = max(count // 2, 1)
        first = sorted(((j, t) for j in range(count) for t in range(trials)),
                       key=lambda jt: (jt[0] + jt[1] * lag, jt[1]))
        self.items = [(j, t, True) for j, t in first] + \
            [(j, t, False) for j, t in first if t > 0]
        self.key_of = {(j, t, p): k for k, (j, t, p) in enumerate(self.items)}
        self.first_passed: dict[int, int] = {}  # blueprint index → its lowest passed trial

    def size(self) -> int:
        """How many keys there are."""
        return len(self.items)

    def blueprint(self, key: int) -> int:
        """The index of the blueprint item ``key`` plays."""
        return self.items[key][0]

    def trial(self, key: int) -> int:
        """The trial number item ``key`` plays."""
        return self.items[key][1]

    def group(self, key: int) -> tuple[bool, int]:
        """(first pass?, trial): items of one group pass at about one rate."""
        _, t, first = self.items[key]
        return first, t

    def depends_on(self, key: int) -> int:
        """The key whose result the decision on ``key`` needs (-1: none): the blueprint's
        previous trial in the first pass (known only once every earlier one is)."""
        j, t, _ = self.items[key]
        return self.key_of[(j, t - 1, True)] if t > 0 else -1

    def passed(self, index: int, trial: int) -> None:
        """Blueprint ``index``'s trial ``trial`` passed the judge."""
        self.first_passed[index] = min(self.first_passed.get(index, trial), trial)

    def worth_playing(self, key: int) -> bool:
        """Play item ``key``? (Call once the result of :meth:`depends_on` is known.)"""
        j, t, in_first_pass = self.items[key]
        if t == 0:
            return True
        first = self.first_passed.get(j)
        passed_before = first is not None and first < t
        return not passed_before if in_first_pass else passed_before
