"""Statistics of a run, as pure functions over its records (no I/O, no printing).

:func:`compute` takes the rows of a run's files and returns a :class:`RunStats`, which
the terminal and HTML renderers draw. Everything here is a plain computation that can
be tested with hand-made rows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from apigen_mt.records import Trajectory, conversation_id
from apigen_mt.runner.funnel import STAGES, Funnel
from apigen_mt.runner.phase2 import failure_reason
from apigen_mt.stats.spill import Spill

CHARS_PER_TOKEN = 4  # the usual rough estimate for English text when usage is unknown


@dataclass
class Summary:
    """Summary statistics of one distribution."""

    n: int = 0
    mean: float = 0.0
    std: float = 0.0
    min: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    max: float = 0.0
    total: float = 0.0


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(values: Iterable[float]) -> Summary:
    """n, mean, std, min, median, p90, max and total."""
    return summarize_counts(Counter(values))


def _ascending(counts: Counter) -> Iterator[float]:
    """Every value as often as it was counted, smallest first (the sorted list, lazily)."""
    for v in sorted(counts):
        yield from repeat(v, counts[v])


def _nth(counts: Counter, k: int) -> float:
    for v in sorted(counts):
        k -= counts[v]
        if k < 0:
            return v
    raise IndexError(k)


def _quantile_counts(counts: Counter, n: int, q: float) -> float:
    """:func:`quantile` of the sorted values the counts stand for."""
    pos = (n - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    low, high = _nth(counts, lo), _nth(counts, hi)
    return low + (high - low) * (pos - lo)


def summarize_counts(counts: Counter) -> Summary:
    """:func:`summarize` of the values a ``{value: times seen}`` tally stands for: memory
    in the number of distinct values, and the same floating-point sums in the same order
    as over the sorted list, so the same figures to the last bit."""
    n = sum(counts.values())
    if not n:
        return Summary()
    total = sum(_ascending(counts))
    mean = total / n
    var = sum((v - mean) ** 2 for v in _ascending(counts)) / n
    return Summary(n=n, mean=mean, std=math.sqrt(var), min=min(counts),
                   p50=_quantile_counts(counts, n, 0.5), p90=_quantile_counts(counts, n, 0.9),
                   max=max(counts), total=total)


def _nice_width(span: float, bins: int) -> float:
    raw = span / bins
    mag = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        if step * mag >= raw:
            return step * mag
    return 10 * mag


def histogram(values: Iterable[float], max_bins: int = 20) -> list[tuple[float, float, int]]:
    """Bins as (low, high, count), ``low <= v < high``; one bin per value for small integers."""
    return histogram_counts(Counter(values), max_bins)


def histogram_counts(counts: Counter, max_bins: int = 20) -> list[tuple[float, float, int]]:
    """:func:`histogram` of the values a ``{value: times seen}`` tally stands for."""
    if not counts:
        return []
    lo, hi = min(counts), max(counts)
    integers = all(float(v).is_integer() for v in counts)
    if integers and hi - lo + 1 <= max_bins:
        ints = Counter()
        for v, c in counts.items():
            ints[int(v)] += c
        return [(float(v), float(v + 1), ints.get(v, 0)) for v in range(int(lo), int(hi) + 1)]
    if hi == lo:
        return [(lo, lo + 1, sum(counts.values()))]
    width = _nice_width(hi - lo, max_bins)
    if integers:
        width = max(1.0, math.ceil(width))
    start = math.floor(lo / width) * width
    nbins = math.floor((hi - start) / width) + 1
    bins = [0] * nbins
    for v, c in counts.items():
        bins[min(int((v - start) // width), nbins - 1)] += c
    return [(start + i * width, start + (i + 1) * width, c) for i, c in enumerate(bins)]


@dataclass
class Distribution:
    """One per-trajectory quantity: its summary and histogram."""

    name: str
    unit: str
    summary: Summary
    bins: list[tuple[float, float, int]]


@dataclass
class FunnelStep:
    """One bar of the funnel from contexts to accepted trajectories."""

    label: str
    count: int
    phase: str


@dataclass
class StageReasons:
    """Why a stage rejected: reached, passed, and the reasons with their counts."""

    stage: str
    reached: int
    passed: int
    reasons: list[tuple[str, int]]


@dataclass
class ToolUse:
    """How often one tool is called in the accepted data."""

    name: str
    kind: str
    calls: int
    trajectories: int  # accepted trajectories calling it at least once
    in_blueprints: int  # ground-truth actions naming it
    declared: bool = True


@dataclass
class Diversity:
    """How varied the tasks behind the data are."""

    blueprints: int
    patterns: int  # distinct action-sequence patterns (tuples of tool names)
    top_patterns: list[tuple[str, int]]
    distinct_1: float
    distinct_2: float
    near_dup_rate: float
    near_dup_pairs: int
    near_dup_threshold: float
    near_dup_compared: int


@dataclass
class Cost:
    """Usage and spend, per phase and per accepted item."""

    by_phase: dict[str, dict[str, float]]
    total_cost: float
    total_tokens: int
    per_trajectory_cost: float | None
    per_trajectory_tokens: float | None
    per_blueprint_cost: float | None
    # (phase, role) → calls, cache hits, prompt / cached / completion tokens, cost
    by_role: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)


@dataclass
class RunStats:
    """Everything ``apigen-mt stats`` shows."""

    env: str
    funnel: list[FunnelStep]
    phase1: list[StageReasons]
    rejected_slots: list[tuple[str, int, str]]  # final stage, count, top reason
    phase2: list[tuple[str, int, str]]  # failure reason, count, top detail
    distributions: list[Distribution]
    tools: list[ToolUse]
    diversity: Diversity
    cost: Cost
    counts: dict[str, int] = field(default_factory=dict)
    tokens_source: str = "usage"


def _short(text: str, limit: int = 70) -> str:
    head = text.split(":", 1)[0] if ":" in text else text
    return head[:limit]


def _detail(text: str, limit: int = 70) -> str:
    """A reason shortened to its kind and the first part of its detail."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_metrics(messages: list[dict[str, Any]]) -> dict[str, int]:
    """Turns (non-system messages), user turns, tool calls and an estimated token count."""
    chars = 0
    calls = 0
    for m in messages:
        chars += len(m.get("content") or "")
        for c in m.get("tool_calls") or []:
            calls += 1
            fn = c.get("function") or {}
            chars += len(fn.get("name") or "") + len(str(fn.get("arguments") or ""))
    return {"turns": sum(1 for m in messages if m.get("role") != "system"),
            "user_turns": sum(1 for m in messages if m.get("role") == "user"),
            "tool_calls": calls,
            "est_tokens": math.ceil(chars / CHARS_PER_TOKEN)}


def funnel_steps(blueprints: list[dict[str, Any]], rejected: list[dict[str, Any]],
                 blueprint_errors: int, accepted: list[dict[str, Any]],
                 failed: list[dict[str, Any]], ledger: list[dict[str, Any]],
                 episode_errors: int) -> tuple[list[FunnelStep], Funnel]:
    """The bars from sampled contexts to accepted trajectories, and the phase-1 tally."""
    duplicates = sum(1 for r in ledger if r.get("outcome") == "duplicate")
    return funnel_counts(Funnel.from_records(blueprints, rejected), len(blueprints),
                         len(rejected), blueprint_errors, len(accepted), len(failed),
                         duplicates, episode_errors,
                         len({conversation_id(r.get("messages") or []) for r in accepted}))


def funnel_counts(f: Funnel, blueprints: int, rejected: int, blueprint_errors: int,
                  accepted: int, failed: int, duplicates: int,
                  episode_errors: int, distinct: int | None = None,
                  ) -> tuple[list[FunnelStep], Funnel]:
    """:func:`funnel_steps` from counts and an already tallied :class:`Funnel`;
    ``distinct`` is how many distinct conversations the accepted ones hold (None: all)."""
    steps = [
        FunnelStep("contexts sampled", blueprints + rejected + blueprint_errors, "blueprint"),
        FunnelStep("drafts written", f.reached["drafter"], "blueprint"),
    ]
    steps += [FunnelStep(f"passed {stage}", f.passed[stage], "blueprint")
              for stage in STAGES[1:]]
    steps += [
        FunnelStep("blueprints accepted", blueprints, "blueprint"),
        FunnelStep("episodes played", accepted + failed + duplicates + episode_errors,
                   "rollout"),
        FunnelStep("episodes passed the judge", accepted + duplicates, "rollout"),
        FunnelStep("trajectories accepted", accepted, "rollout"),
        # equal to the above unless the run file predates refusing repeats
        FunnelStep("distinct conversations", accepted if distinct is None else distinct,
                   "rollout"),
    ]
    return steps, f


def _phase1_reasons(f: Funnel) -> list[StageReasons]:
    return [StageReasons(stage, f.reached[stage], f.passed[stage],
                         f.reasons.get(stage, Counter()).most_common(5)) for stage in STAGES]


def _slot_rows(by_stage: dict[str, Counter]) -> list[tuple[str, int, str]]:
    return sorted(((stage, sum(c.values()), c.most_common(1)[0][0])
                   for stage, c in by_stage.items()), key=lambda x: -x[1])


def _phase2_reasons(failed: Iterable[dict[str, Any]], duplicates: int,
                    episode_errors: list[dict[str, Any]]) -> tuple[list[tuple[str, int, str]],
                                                                    int]:
    """Failure reasons with their top detail, and how many failures there were."""
    by_reason: dict[str, Counter] = {}
    count = 0
    for row in failed:
        count += 1
        t = Trajectory.model_validate(row)
        detail = _detail(t.verdict.reasons[0]) if t.verdict.reasons else t.end_reason
        by_reason.setdefault(failure_reason(t), Counter())[detail] += 1
    out = sorted(((reason, sum(c.values()), c.most_common(1)[0][0])
                  for reason, c in by_reason.items()), key=lambda x: -x[1])
    if duplicates:
        out.append(("duplicate success (not kept twice)", duplicates,
                    "same conversation content"))
    if episode_errors:
        top = Counter(_detail(str(e.get("error", ""))) for e in episode_errors).most_common(1)
        out.append(("model error", len(episode_errors), top[0][0]))
    return out, count


def tool_usage(accepted: list[dict[str, Any]], blueprints: list[dict[str, Any]],
               tool_kinds: dict[str, str]) -> list[ToolUse]:
    """Calls per tool in accepted trajectories, against the environment's tools."""
    calls: Counter = Counter()
    trajs: Counter = Counter()
    for row in accepted:
        _count_calls(row, calls, trajs)
    in_bp: Counter = Counter(a["name"] for b in blueprints for a in b.get("actions", []))
    return _tool_rows(calls, trajs, in_bp, tool_kinds)


def _count_calls(row: dict[str, Any], calls: Counter, trajs: Counter) -> None:
    names = [(c.get("function") or {}).get("name", "")
             for m in row.get("messages", []) for c in m.get("tool_calls") or []]
    calls.update(names)
    trajs.update(set(names))


def _tool_rows(calls: Counter, trajs: Counter, in_bp: Counter,
               tool_kinds: dict[str, str]) -> list[ToolUse]:
    names = list(tool_kinds) + sorted(set(calls) - set(tool_kinds))
    out = [ToolUse(name=n, kind=tool_kinds.get(n, "?"), calls=calls[n], trajectories=trajs[n],
                   in_blueprints=in_bp[n], declared=n in tool_kinds) for n in names]
    return sorted(out, key=lambda t: (-t.calls, t.name))


def diversity(blueprints: list[dict[str, Any]], threshold: float = 0.8) -> Diversity:
    """Action-pattern variety, distinct-1/2 and the near-duplicate rate of instructions."""
    with Spill() as spill:
        for b in blueprints:
            spill.add_blueprint(b.get("id", ""), _pattern(b), b.get("instruction", ""))
        return _diversity(spill, threshold)


def _pattern(blueprint: dict[str, Any]) -> str:
    return " → ".join(a["name"] for a in blueprint.get("actions", []))


def _diversity(spill: Spill, threshold: float) -> Diversity:
    """The same over the spilled blueprints behind the kept data (all when none is used)."""
    patterns, top = spill.patterns()
    distinct = spill.distinct_n(t for _, t in spill.behind())
    dups = spill.near_duplicates((t for _, t in spill.behind()), threshold)
    return Diversity(blueprints=dups.total, patterns=patterns, top_patterns=top,
                     distinct_1=distinct[1], distinct_2=distinct[2], near_dup_rate=dups.rate,
                     near_dup_pairs=dups.pairs, near_dup_threshold=threshold,
                     near_dup_compared=dups.compared)


def cost(usage: dict[str, dict[str, Any]], trajectories: int, blueprints: int) -> Cost:
    """Spend and tokens per phase, per accepted trajectory and per accepted blueprint."""
    by_phase = {phase: {k: float(u.get(k, 0) or 0) for k in
                        ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost")}
                for phase, u in usage.items()}
    total_cost = sum(p["cost"] for p in by_phase.values())
    total_tokens = int(sum(p["prompt_tokens"] + p["completion_tokens"]
                           for p in by_phase.values()))
    bp_cost = by_phase.get("blueprint", {}).get("cost", 0.0)
    by_role = {(phase, role): {k: float(r.get(k, 0) or 0) for k in
                               ("calls", "cache_hits", "prompt_tokens", "cached_tokens",
                                "completion_tokens", "cost")}
               for phase, u in usage.items() for role, r in (u.get("roles") or {}).items()}
    return Cost(by_phase=by_phase, total_cost=total_cost, total_tokens=total_tokens,
                per_trajectory_cost=total_cost / trajectories if trajectories else None,
                per_trajectory_tokens=total_tokens / trajectories if trajectories else None,
                per_blueprint_cost=bp_cost / blueprints if blueprints else None,
                by_role=by_role)


@dataclass
class _Kept:
    """What ``compute`` keeps of the accepted trajectories: tallies, not records."""

    turns: Counter = field(default_factory=Counter)
    user_turns: Counter = field(default_factory=Counter)
    tool_calls: Counter = field(default_factory=Counter)
    est: Counter = field(default_factory=Counter)
    used_tokens: Counter = field(default_factory=Counter)
    all_usage: bool = True
    calls: Counter = field(default_factory=Counter)
    trajs: Counter = field(default_factory=Counter)
    n: int = 0

    def add(self, row: dict[str, Any], spill: Spill) -> None:
        self.n += 1
        spill.add_kept(row.get("blueprint_id"), conversation_id(row.get("messages") or []))
        m = message_metrics(row.get("messages", []))
        self.turns[m["turns"]] += 1
        self.user_turns[m["user_turns"]] += 1
        self.tool_calls[m["tool_calls"]] += 1
        self.est[m["est_tokens"]] += 1
        u = row.get("usage") or {}
        if u.get("prompt_tokens") is None:
            self.all_usage = False
        else:
            self.used_tokens[float(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0))] += 1
        _count_calls(row, self.calls, self.trajs)

    def distributions(self) -> tuple[list[Distribution], str]:
        """The per-trajectory distributions, and where the token counts come from."""
        if self.n and self.all_usage:
            tokens, source = self.used_tokens, "usage"
            token_name = "tokens per trajectory (model usage)"
        else:
            tokens, source = self.est, f"estimate (characters / {CHARS_PER_TOKEN})"
            token_name = "tokens per trajectory (text, estimated)"
        dists = [Distribution(name, unit, summarize_counts(c), histogram_counts(c))
                 for name, unit, c in (("turns per trajectory", "messages", self.turns),
                                       ("user turns per trajectory", "turns", self.user_turns),
                                       ("tool calls per trajectory", "calls", self.tool_calls),
                                       (token_name, "tokens", tokens))]
        return dists, source


def _read_phase1(blueprints: Iterable[dict[str, Any]], rejected: Iterable[dict[str, Any]],
                 spill: Spill, in_bp: Counter, by_stage: dict[str, Counter]) -> Funnel:
    """The funnel of both blueprint files, spilling each accepted blueprint's id, action
    pattern and instruction and tallying rejected slots by stage and first reason."""
    def read_blueprints() -> Iterator[dict[str, Any]]:
        for b in blueprints:
            in_bp.update(a["name"] for a in b.get("actions", []))
            spill.add_blueprint(b.get("id", ""), _pattern(b), b.get("instruction", ""))
            yield b

    def read_rejected() -> Iterator[dict[str, Any]]:
        for r in rejected:
            reason = _short((r.get("reasons") or ["(no reason)"])[0])
            by_stage.setdefault(r.get("stage", "?"), Counter())[reason] += 1
            yield r

    return Funnel.from_records(read_blueprints(), read_rejected())


def compute(env: str, blueprints: Iterable[dict[str, Any]], rejected: Iterable[dict[str, Any]],
            accepted: Iterable[dict[str, Any]], failed: Iterable[dict[str, Any]],
            ledger: Iterable[dict[str, Any]] | None = None,
            blueprint_errors: list[dict[str, Any]] | None = None,
            episode_errors: list[dict[str, Any]] | None = None,
            tool_kinds: dict[str, str] | None = None,
            usage: dict[str, dict[str, Any]] | None = None,
            near_dup_threshold: float = 0.8) -> RunStats:
    """All statistics of a run from its rows.

    Each iterable is read once, one row at a time (pass file readers, not lists, for a
    large run). Memory is flat in the number of records: per record only tallies are
    kept, and the sets exact figures need (distinct conversations, the blueprints behind
    the data and their instructions' n-grams) go to a temporary database (:class:`Spill`).
    """
    episode_errors = episode_errors or []
    duplicates = sum(1 for r in (ledger or ()) if r.get("outcome") == "duplicate")
    in_bp: Counter = Counter()
    by_stage: dict[str, Counter] = {}
    kept = _Kept()
    with Spill() as spill:
        f = _read_phase1(blueprints, rejected, spill, in_bp, by_stage)
        for row in accepted:
            kept.add(row, spill)
        reasons, n_failed = _phase2_reasons(failed, duplicates, episode_errors)
        rejected_slots = sum(sum(c.values()) for c in by_stage.values())
        steps, _ = funnel_counts(f, spill.blueprints, rejected_slots, len(blueprint_errors or []),
                                 kept.n, n_failed, duplicates, len(episode_errors),
                                 spill.count("conv"))
        dists, source = kept.distributions()
        used = spill.count("used")
        return RunStats(
            env=env, funnel=steps, phase1=_phase1_reasons(f),
            rejected_slots=_slot_rows(by_stage), phase2=reasons, distributions=dists,
            tools=_tool_rows(kept.calls, kept.trajs, in_bp, tool_kinds or {}),
            diversity=_diversity(spill, near_dup_threshold),
            cost=cost(usage or {}, kept.n, spill.blueprints),
            counts={"blueprints": spill.blueprints, "rejected_slots": rejected_slots,
                    "trajectories": kept.n, "failed": n_failed,
                    "blueprints_with_trajectories": used,
                    "rescued": f.rescued, "recombined": f.recombined},
            tokens_source=source)
