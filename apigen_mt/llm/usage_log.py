"""Usage written as the run goes: an append-only journal in the run directory.

Every completion the run's tracker counts becomes one line of ``usage.jsonl`` at once
(one ``write`` on an ``O_APPEND`` descriptor: no buffer to lose when the process is
killed), tagged with the phase, the role and the model. Totals are the sum of the lines.
At the end of a phase the journal is compacted (one line per phase, role and model,
written to a temporary file and renamed over it), so it stays small.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from apigen_mt.llm.usage import UsageStats

USAGE_FILE = "usage.jsonl"
_FIELDS = ("calls", "cache_hits", "errors", "prompt_tokens", "completion_tokens",
           "cached_tokens", "cost", "saved_cost", "seconds")


class UsageJournal:
    """Appends usage deltas to ``usage.jsonl``; safe to call from several threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, phase: str, role: str, model: str, delta: Any) -> None:
        """One line for one delta (zero fields left out): a :class:`UsageStats` or
        anything with its fields."""
        row: dict[str, Any] = {"phase": phase, "role": role, "model": model}
        for k in _FIELDS:
            v = getattr(delta, k)
            if v:
                row[k] = round(v, 9) if isinstance(v, float) else v
        if self._fd >= 0:
            os.write(self._fd, orjson.dumps(row) + b"\n")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open("rb") as fh:
        for line in fh:
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:  # a torn last line: that call is not counted
                continue
            if isinstance(row, dict):
                yield row


def fold(path: str | Path) -> dict[tuple[str, str, str], UsageStats]:
    """(phase, role, model) → summed usage, read one line at a time."""
    out: dict[tuple[str, str, str], UsageStats] = {}
    for row in _rows(Path(path)):
        key = (str(row.get("phase", "")), str(row.get("role", "")), str(row.get("model", "")))
        bucket = out.setdefault(key, UsageStats())
        for k in _FIELDS:
            if k in row:
                setattr(bucket, k, getattr(bucket, k) + row[k])
    return out


def compact(path: str | Path) -> None:
    """Rewrite the journal as one line per (phase, role, model); atomic (temp + rename)."""
    path = Path(path)
    if not path.exists():
        return
    folded = fold(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        for (phase, role, model), st in sorted(folded.items()):
            row: dict[str, Any] = {"phase": phase, "role": role, "model": model}
            row.update({k: getattr(st, k) for k in _FIELDS if getattr(st, k)})
            fh.write(orjson.dumps(row) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def summary(path: str | Path) -> dict[str, Any]:
    """Per phase: the totals plus ``roles`` (role → totals); and ``total`` over phases."""
    phases: dict[str, dict[str, UsageStats]] = {}
    for (phase, role, _), st in fold(path).items():
        roles = phases.setdefault(phase, {})
        roles[role] = _add(roles.get(role, UsageStats()), st)
    out: dict[str, Any] = {}
    grand = UsageStats()
    for phase, roles in phases.items():
        total = UsageStats()
        for st in roles.values():
            total = _add(total, st)
        grand = _add(grand, total)
        out[phase] = {**_dump(total), "roles": {r: _dump(st) for r, st in sorted(roles.items())}}
    out["total"] = _dump(grand)
    return out


def spent(path: str | Path) -> UsageStats:
    """Everything the run has spent so far, all phases and invocations."""
    total = UsageStats()
    for st in fold(path).values():
        total = _add(total, st)
    return total


def _add(a: UsageStats, b: UsageStats) -> UsageStats:
    return UsageStats(**{k: getattr(a, k) + getattr(b, k) for k in _FIELDS})


def _dump(st: UsageStats) -> dict[str, Any]:
    data = st.model_dump(exclude={"seconds"})  # timing: not a figure to compare runs by
    data["cost"] = round(data["cost"], 8)
    data["saved_cost"] = round(data["saved_cost"], 8)
    return data
