"""Accepted blueprints held by their place in the run's file, not as records.

Phase 2 schedules every blueprint of its round (the playing order, the early stop's
groups, the early episodes' candidates), but it reads a blueprint whole only when an
episode starts. Held as a record, a blueprint costs about 8 KB of memory even without
its provenance, and a round of ``--n 5000`` has some 8,000 of them; held as its id, its
number of actions and where its line is, it costs a tenth of that, and the record is
read back (one seek, one line) when its episode starts. The files are append-only and
the run directory has one writer, so a line stays where it was written.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from apigen_mt.records import UNPLAYED_FIELDS, Blueprint
from apigen_mt.runner.store import JsonlLog


@dataclass(frozen=True, slots=True)
class Shelved:
    """One accepted blueprint as phase 2 holds it: what scheduling reads (its id and how
    many actions it has) and where the rest is (:meth:`load`)."""

    id: str
    length: int
    log: JsonlLog
    offset: int
    size: int

    @classmethod
    def of(cls, bp: Blueprint, log: JsonlLog, span: tuple[int, int]) -> Shelved:
        """``bp``, whose line ``log.append`` put at ``span`` (offset, length)."""
        return cls(bp.id, len(bp.actions), log, *span)

    def load(self) -> Blueprint:
        """The blueprint, read back from its line, without :data:`UNPLAYED_FIELDS` (an
        episode reads neither)."""
        return self.log.read_at(self.offset, self.size, Blueprint, UNPLAYED_FIELDS)


def shelve(log: JsonlLog, limit: int | None) -> list[Shelved]:
    """The first ``limit`` (all: None) blueprints of ``log``, each checked as a record
    (a bad line is named, as reading it would) and held by its place."""
    return [Shelved.of(bp, log, (offset, size))
            for offset, size, bp in itertools.islice(
                log.iter_spans(Blueprint, drop=UNPLAYED_FIELDS), limit)]
