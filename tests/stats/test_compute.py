"""The pure statistics: near-duplicates (against brute force), distinct-n, histograms,
summaries, tool coverage and the funnel, on hand-made rows."""

from __future__ import annotations

import gc
import itertools
import random
import weakref

import pytest

from apigen_mt.stats.compute import compute, histogram, quantile, summarize, tool_usage
from apigen_mt.stats.spill import Spill
from apigen_mt.stats.text import distinct_n, jaccard, near_duplicates, shingles


def _brute(texts, threshold):
    sets = [shingles(t) for t in texts]
    return sorted((i, j) for i, j in itertools.combinations(range(len(texts)), 2)
                  if jaccard(sets[i], sets[j]) >= threshold - 1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_near_duplicates_match_brute_force(seed):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(40)]
    base = [" ".join(rng.choice(vocab) for _ in range(rng.randint(2, 30))) for _ in range(60)]
    texts = list(base)
    for t in base[:25]:  # near copies: one word changed, dropped or appended
        words = t.split()
        k = rng.randrange(len(words))
        choice = rng.randrange(3)
        if choice == 0:
            words[k] = rng.choice(vocab)
        elif choice == 1 and len(words) > 1:
            del words[k]
        else:
            words.append(rng.choice(vocab))
        texts.append(" ".join(words))
    texts += base[:5]  # exact copies
    for threshold in (0.5, 0.8, 0.95):
        found = near_duplicates(texts, threshold)
        assert sorted((a, b) for a, b, _ in found.pairs) == _brute(texts, threshold)
        assert found.with_partner == len({i for p in _brute(texts, threshold) for i in p})
    assert near_duplicates(texts, 0.8).compared < len(texts) * (len(texts) - 1) // 2


def test_distinct_n_and_shingles():
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n([], 1) == 0.0
    assert shingles("One two, three four!") == {("one", "two", "three"),
                                                ("two", "three", "four")}
    assert near_duplicates(["the cat sat on the mat today", "the cat sat on the mat today!",
                            "a completely different sentence here"]).rate == pytest.approx(2 / 3)


def test_histogram_and_summary():
    assert histogram([2, 2, 3, 5]) == [(2, 3, 2), (3, 4, 1), (4, 5, 0), (5, 6, 1)]
    wide = histogram([float(v) for v in range(0, 1000, 7)], max_bins=20)
    assert len(wide) <= 21 and sum(c for _, _, c in wide) == len(range(0, 1000, 7))
    assert all(lo < hi for lo, hi, _ in wide)
    s = summarize([1, 2, 3, 4])
    assert (s.n, s.mean, s.min, s.p50, s.max, s.total) == (4, 2.5, 1, 2.5, 4, 10)
    assert summarize([]).n == 0 and histogram([]) == []


def _call(name):
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": "{}"}}


def test_tool_usage_and_funnel_from_rows():
    accepted = [{"id": "t1", "blueprint_id": "b1", "messages": [
        {"role": "system", "content": "p"}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [_call("get"), _call("get")]},
        {"role": "assistant", "content": None, "tool_calls": [_call("ghost")]}]}]
    tools = tool_usage(accepted, [{"actions": [{"name": "set"}]}],
                       {"get": "read", "set": "write"})
    by = {t.name: t for t in tools}
    assert (by["get"].calls, by["get"].trajectories) == (2, 1)
    assert by["set"].calls == 0 and by["set"].in_blueprints == 1
    assert not by["ghost"].declared

    blueprints = [{"id": "b1", "instruction": "x y z", "actions": [{"name": "get"}],
                   "provenance": {"rounds": 2, "verdicts": [
                       {"stage": "format", "passed": False, "reasons": ["bad: arg"]},
                       {"stage": "format", "passed": True, "reasons": []},
                       {"stage": "execution", "passed": True, "reasons": []},
                       {"stage": "policy", "passed": True, "reasons": []},
                       {"stage": "committee", "passed": True, "reasons": []}]}}]
    rejected = [{"slot": 1, "stage": "policy", "reasons": ["rule broken: why"], "verdicts": [
        {"stage": "format", "passed": True, "reasons": []},
        {"stage": "execution", "passed": True, "reasons": []},
        {"stage": "policy", "passed": False, "reasons": ["rule broken: why"]}]}]
    stats = compute("toy", blueprints, rejected, accepted, failed=[],
                    ledger=[{"outcome": "duplicate"}], tool_kinds={"get": "read"},
                    usage={"rollout": {"calls": 10, "prompt_tokens": 100,
                                       "completion_tokens": 20, "cost": 0.5}})
    steps = {s.label: s.count for s in stats.funnel}
    assert steps["contexts sampled"] == 2 and steps["drafts written"] == 3
    assert steps["passed format"] == 2 and steps["passed policy"] == 1
    assert steps["episodes played"] == 2 and steps["trajectories accepted"] == 1
    fmt = next(s for s in stats.phase1 if s.stage == "format")
    assert (fmt.reached, fmt.passed, fmt.reasons) == (3, 2, [("bad", 1)])
    assert stats.rejected_slots == [("policy", 1, "rule broken")]
    assert stats.cost.per_trajectory_cost == 0.5 and stats.cost.per_trajectory_tokens == 120
    assert stats.tokens_source.startswith("estimate")


def _texts(seed):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(30)]
    base = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25))) for _ in range(50)]
    near = [t + " " + rng.choice(vocab) for t in base[:20]]
    return base + near + base[:4] + ["", "!"]  # copies, and two texts without words


@pytest.mark.parametrize("seed", [0, 1])
def test_spilled_text_figures_equal_the_in_memory_ones(seed):
    texts = _texts(seed)
    for threshold in (0.5, 0.8):
        with Spill() as spill:
            got = spill.near_duplicates(iter(texts), threshold)
        want = near_duplicates(texts, threshold)
        assert (got.pairs, got.with_partner, got.total) == (len(want.pairs), want.with_partner,
                                                             len(texts))
        assert got.pairs == len(_brute(texts, threshold))
    with Spill() as spill:
        got = spill.distinct_n(iter(texts))
    assert got == {1: distinct_n(texts, 1), 2: distinct_n(texts, 2)}


def test_summaries_from_tallies_match_the_sorted_list():
    rng = random.Random(3)
    values = [float(rng.randint(0, 40)) for _ in range(501)] + [0.5, 1e6]
    s = summarize(values)
    vals = sorted(values)
    assert s.mean == sum(vals) / len(vals) and s.p90 == quantile(vals, 0.9)
    assert s.p50 == quantile(vals, 0.5) and (s.min, s.max, s.n) == (0.0, 1e6, 503)
    assert sum(c for _, _, c in histogram(values)) == len(values)


class _Row(dict):
    """A dict that can be weakly referenced, to see whether anything still holds it."""


def _watched(rows, seen):
    for row in rows:
        item = _Row(row)
        seen.append(weakref.ref(item))
        yield item
        del item
        gc.collect()
        # every record before the one just handed over is gone: nothing keeps records
        assert all(ref() is None for ref in seen[:-1]), "compute kept a record"


def test_compute_reads_records_one_at_a_time():
    bps = [{"id": f"b{i}", "instruction": f"task {i} for customer {i * 7}",
            "actions": [{"name": "get"}]} for i in range(30)]
    kept = [{"id": f"t{i}", "blueprint_id": f"b{i % 30}", "messages": [
        {"role": "user", "content": f"hello {i}"},
        {"role": "assistant", "content": None, "tool_calls": [_call("get")]}]}
        for i in range(60)]
    seen: dict[str, list] = {"bp": [], "kept": []}
    stats = compute("toy", _watched(bps, seen["bp"]), [], _watched(kept, seen["kept"]), [],
                    tool_kinds={"get": "read"})
    assert len(seen["bp"]) == 30 and len(seen["kept"]) == 60
    assert stats.counts["trajectories"] == 60 and stats.diversity.blueprints == 30
    assert stats.funnel[-1].count == 60  # distinct conversations, counted without the records
