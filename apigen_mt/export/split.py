"""``--split train=0.9,test=0.1``: parse it, and split by blueprint without leakage.

Every trajectory of a blueprint lands in one split. A recombined blueprint and the
blueprints it was built from form one group (they share actions), so they land
together too. Groups are shuffled with the seed and dealt by largest remainder, so the
same run, fractions and seed always give the same assignment.
"""

from __future__ import annotations

import math
import random
import re

from apigen_mt.errors import UsageError
from apigen_mt.records import Blueprint

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def parse_split(text: str | None) -> list[tuple[str, float]]:
    """``name=fraction,…`` → [(name, fraction)]; fractions are positive and sum to 1."""
    if text is None or not text.strip():
        return []
    out: list[tuple[str, float]] = []
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise UsageError(f"--split expects NAME=FRACTION pairs such as "
                             f"train=0.9,test=0.1, not {text!r}")
        try:
            frac = float(value)
        except ValueError:
            raise UsageError(f"--split: {value.strip()!r} is not a number (in {text!r})") \
                from None
        if not math.isfinite(frac) or frac <= 0 or frac > 1:
            raise UsageError(f"--split: the fraction of {name!r} must be in (0, 1], got "
                             f"{value.strip()}")
        if any(n == name for n, _ in out):
            raise UsageError(f"--split names {name!r} twice")
        out.append((name, frac))
    total = sum(f for _, f in out)
    if abs(total - 1.0) > 1e-6:
        raise UsageError(f"--split fractions must add up to 1, they add up to {total:g}")
    return out


def _groups(ids: list[str], blueprints: dict[str, Blueprint]) -> list[list[str]]:
    """Blueprint ids joined with those they were recombined from (union-find)."""
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in ids:
        bp = blueprints.get(i)
        sources = bp.provenance.recombined_from if bp and bp.provenance else []
        for src in sources:
            if src in parent:
                parent[find(src)] = find(i)
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: min(g))


def _deal(groups: list[list[str]], splits: list[tuple[str, float]],
          rng: random.Random) -> dict[str, str]:
    order = list(groups)
    rng.shuffle(order)
    n = len(order)
    raw = [f * n for _, f in splits]
    counts = [math.floor(r) for r in raw]
    by_remainder = sorted(range(len(splits)), key=lambda k: (-(raw[k] - counts[k]), k))
    for k in by_remainder[: n - sum(counts)]:
        counts[k] += 1
    # every split asked for gets at least one group when there are enough to go round
    while n >= len(splits) and 0 in counts:
        counts[counts.index(max(counts))] -= 1
        counts[counts.index(0)] += 1
    out: dict[str, str] = {}
    start = 0
    for (name, _), count in zip(splits, counts, strict=True):
        for group in order[start:start + count]:
            for bp_id in group:
                out[bp_id] = name
        start += count
    return out


def assign_splits(primary: list[str], secondary: list[str],
                  splits: list[tuple[str, float]], blueprints: dict[str, Blueprint],
                  seed: int) -> dict[str, str]:
    """Blueprint id → split name.

    ``primary`` are the blueprints with accepted trajectories (dealt first, so the
    fractions hold for the training data); ``secondary`` the rest (only failures), dealt
    among themselves. Adding failures to an export never moves an accepted blueprint.
    """
    rng = random.Random(seed)
    primary_ids = sorted(set(primary))
    out = _deal(_groups(primary_ids, blueprints), splits, rng)
    rest = sorted(set(secondary) - set(out))
    # a failure-only blueprint recombined from a dealt one follows it
    for group in _groups(sorted(set(rest) | set(out)), blueprints):
        dealt = {out[i] for i in group if i in out}
        if dealt:
            for i in group:
                out.setdefault(i, sorted(dealt)[0])
    remaining = [i for i in rest if i not in out]
    out.update(_deal(_groups(remaining, blueprints), splits, random.Random(seed + 1)))
    return out
