"""When a phase may stop starting work: the items in flight should already reach ``n``.

Near the end of a phase, items started beyond what reaches ``n`` are cancelled unfinished
when the stop comes (their calls paid for nothing), so no more are started once those in
flight are expected to get there. What is committed does not change (items still start
and commit in key order), only how many run at once.

Phase 2 estimates each item at the rate of its own group, counted as results come in.
First trials pass more often than further trials of a task that failed once: one rate for
both made the estimate too hopeful at the end of a phase, which then ended in waves of a
few long items with the endpoint idle. Short tasks pass more often than long ones: one
rate for both made it too gloomy about the short items that end a chunk, and more were
started, to be cancelled at the stop. A margin of ``margin`` standard deviations would
start a few items more, to shorten the tail further; the default is none, because the
items it starts are mostly cancelled at the stop (calls paid for nothing) for no shorter
run.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable

SPREADS = 0.0  # the default margin, in standard deviations of the number of items to pass
FLOOR = 0.25  # a rate below this is taken as this: a phase never stalls on bad luck


def pass_rate(passed: int, judged: int) -> float:
    """The pass rate seen so far (1.0 until eight items are judged)."""
    return max(passed / judged, FLOOR) if judged >= 8 else 1.0


def likely_reached(accepted: int, n: int, rates: Iterable[float],
                   margin: float = SPREADS) -> bool:
    """Would items passing at ``rates`` (one each) bring ``accepted`` to ``n``, with
    ``margin`` standard deviations to spare?"""
    expected = spread = 0.0
    for rate in rates:
        expected += rate
        spread += rate * (1 - rate)
    return accepted + expected - margin * math.sqrt(spread) >= n


def enough_in_flight(accepted: int, in_flight: int, n: int, passed: int, judged: int,
                     margin: float = SPREADS) -> bool:
    """Would ``in_flight`` items at the pass rate seen so far reach ``n``?"""
    return likely_reached(accepted, n, [pass_rate(passed, judged)] * in_flight, margin)


class GroupRates:
    """Pass rates per group of items, each drawn towards the rate of all items until
    its own group has been judged a few times (eight items' worth)."""

    WEIGHT = 8

    def __init__(self) -> None:
        self.counts: dict[Hashable, list[int]] = {}
        self.total = [0, 0]

    def record(self, group: Hashable, passed: int, judged: int) -> None:
        """Count ``judged`` items of ``group``, ``passed`` of which passed."""
        c = self.counts.setdefault(group, [0, 0])
        c[0] += passed
        c[1] += judged
        self.total[0] += passed
        self.total[1] += judged

    def rate(self, group: Hashable) -> float:
        """The group's estimated pass rate."""
        prior = pass_rate(*self.total)
        passed, judged = self.counts.get(group, (0, 0))
        return max((passed + self.WEIGHT * prior) / (judged + self.WEIGHT), FLOOR)
