"""Text diversity: distinct-n, and near-duplicates by Jaccard similarity of word shingles.

Near-duplicates are found exactly, without comparing every pair: a prefix-filtering
similarity join (AllPairs, Bayardo et al. 2007). Shingles are ordered rarest first;
two sets with Jaccard ≥ t must share a shingle among the first ``|s| - ⌈t·|s|⌉ + 1`` of
each, so only sets meeting in those prefixes (and of compatible sizes) are compared.
On typical instruction sets this inspects a tiny fraction of all pairs, and it needs
no random hashing, so results are deterministic.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")


def words(text: str) -> list[str]:
    """Lowercased word tokens (punctuation dropped)."""
    return _WORD.findall(text.lower())


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of all texts (0 when there are none)."""
    total = 0
    seen: set[tuple[str, ...]] = set()
    for text in texts:
        toks = words(text)
        grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def shingles(text: str, k: int = 3) -> frozenset[tuple[str, ...]]:
    """Word k-shingles (a text shorter than k words is one shingle)."""
    toks = words(text)
    if len(toks) < k:
        return frozenset([tuple(toks)]) if toks else frozenset()
    return frozenset(tuple(toks[i:i + k]) for i in range(len(toks) - k + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a ∩ b| / |a ∪ b| (1 for two empty sets)."""
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass
class NearDuplicates:
    """Pairs of texts at or above the threshold, and how many texts have a partner."""

    pairs: list[tuple[int, int, float]]
    with_partner: int
    total: int
    compared: int  # exact similarity computations done (vs all pairs)

    @property
    def rate(self) -> float:
        """Share of texts that have at least one near-duplicate."""
        return self.with_partner / self.total if self.total else 0.0


def near_duplicates(texts: list[str], threshold: float = 0.8, k: int = 3) -> NearDuplicates:
    """Every pair of texts whose word k-shingle sets have Jaccard ≥ ``threshold``."""
    sets = [shingles(t, k) for t in texts]
    freq: Counter = Counter()
    for s in sets:
        freq.update(s)
    rank = {tok: r for r, tok in enumerate(sorted(freq, key=lambda t: (freq[t], t)))}
    # identical sets are duplicates of each other; index one representative per set
    reps: dict[frozenset, list[int]] = {}
    for i, s in enumerate(sets):
        reps.setdefault(s, []).append(i)
    order = sorted(reps, key=lambda s: (len(s), sorted(rank[t] for t in s)))
    index: dict[tuple[str, ...], list[int]] = {}
    pairs: list[tuple[int, int, float]] = []
    compared = 0
    eps = 1e-9
    for x_pos, x in enumerate(order):
        members = reps[x]
        for a_i, a in enumerate(members):  # exact copies
            for b in members[a_i + 1:]:
                pairs.append((min(a, b), max(a, b), 1.0))
        if not x:
            continue
        toks = sorted(x, key=rank.__getitem__)
        prefix = len(toks) - math.ceil(threshold * len(toks) - eps) + 1
        candidates: set[int] = set()
        for tok in toks[:prefix]:
            for y_pos in index.get(tok, ()):
                if len(order[y_pos]) >= threshold * len(x) - eps:
                    candidates.add(y_pos)
            index.setdefault(tok, []).append(x_pos)
        for y_pos in candidates:
            compared += 1
            sim = jaccard(x, order[y_pos])
            if sim >= threshold - eps:
                for a in members:
                    for b in reps[order[y_pos]]:
                        pairs.append((min(a, b), max(a, b), sim))
    partners = {i for a, b, _ in pairs for i in (a, b)}
    return NearDuplicates(pairs=sorted(pairs), with_partner=len(partners), total=len(texts),
                          compared=compared)
