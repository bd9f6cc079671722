"""The phase-1 funnel, computed from the run's files (so it survives restarts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from apigen_mt.reasons import Reasons, first_reason

STAGES = ("drafter", "format", "execution", "policy", "committee")


@dataclass
class Funnel:
    """Drafts reaching and passing each check, rounds, and final outcomes."""

    reached: Counter = field(default_factory=Counter)
    passed: Counter = field(default_factory=Counter)
    reasons: dict[str, Reasons] = field(default_factory=dict)  # stage → whole reasons
    rounds: Counter = field(default_factory=Counter)
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    recombined: int = 0
    rescued: int = 0  # accepted after at least one redraft

    @classmethod
    def from_records(cls, accepted: Iterable[dict[str, Any]],
                     rejected: Iterable[dict[str, Any]]) -> Funnel:
        """Tally every verdict of every round (each iterable is read once)."""
        f = cls()
        for bp in accepted:
            prov = bp.get("provenance") or {}
            f._verdicts(prov.get("verdicts", []))
            f.accepted += 1
            f.rounds[prov.get("rounds", 1)] += 1
            f.rescued += prov.get("rounds", 1) > 1
            f.recombined += bool(prov.get("recombined_from"))
        for rej in rejected:
            f._verdicts(rej.get("verdicts", []))
            if rej.get("stage") == "duplicate":
                f.duplicates += 1
            f.rejected += 1
        return f

    def _verdicts(self, verdicts: list[dict[str, Any]]) -> None:
        for v in verdicts:
            stage = v["stage"]
            if stage == "drafter":
                self.reached["drafter"] += 1
                self.reasons.setdefault(stage, Reasons()).add(first_reason(v["reasons"]))
                continue
            if stage == "format":
                self.reached["drafter"] += 1
                self.passed["drafter"] += 1
            self.reached[stage] += 1
            if v["passed"]:
                self.passed[stage] += 1
            else:
                self.reasons.setdefault(stage, Reasons()).add(first_reason(v["reasons"]))

    def print(self, console: Console, cost: float | None = None) -> None:
        """Rich tables: the funnel, the rounds histogram, the cost per accepted."""
        table = Table(title="Blueprint funnel (every draft of every round)")
        for col in ("check", "reached", "passed", "rejected", "top reason"):
            table.add_column(col)
        for stage in STAGES:
            reached, passed = self.reached[stage], self.passed[stage]
            top = self.reasons.get(stage, Reasons()).top(1)  # whole, wrapped by the table
            table.add_row(stage, str(reached), str(passed), str(reached - passed),
                          top[0][0] if top else "")
        console.print(table)
        hist = " ".join(f"{r} round{'s' if r > 1 else ''}: {c}"
                        for r, c in sorted(self.rounds.items()))
        console.print(f"accepted {self.accepted} (rescued by feedback {self.rescued}, "
                      f"recombined {self.recombined}); rejected slots {self.rejected} "
                      f"(duplicates {self.duplicates})")
        console.print(f"rounds to acceptance: {hist or '-'}")
        if cost is not None and self.accepted:
            console.print(f"cost per accepted blueprint: ${cost / self.accepted:.5f}")

