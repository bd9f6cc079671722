"""Statistics of a run, as pure functions over its records (no I/O, no printing).

:func:`compute` takes the rows of a run's files and returns a :class:`RunStats`, which
the terminal and HTML renderers draw. Everything here is a plain computation that can
be tested with hand-made rows.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.records import Trajectory, conversation_id
from apigen_mt.runner.funnel import STAGES, Funnel
from apigen_mt.runner.phase2 import failure_reason
from apigen_mt.stats.text import distinct_n, near_duplicates

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


def summarize(values: list[float]) -> Summary:
    """n, mean, std, min, median, p90, max and total."""
    if not values:
        return Summary()
    vals = sorted(values)
    n = len(vals)
    mean = sum(vals) / n
    var = sum((v - mean) ** 2 for v in vals) / n
    return Summary(n=n, mean=mean, std=math.sqrt(var), min=vals[0], p50=quantile(vals, 0.5),
                   p90=quantile(vals, 0.9), max=vals[-1], total=sum(vals))


def _nice_width(span: float, bins: int) -> float:
    raw = span / bins
    mag = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        if step * mag >= raw:
            return step * mag
    return 10 * mag


def histogram(values: list[float], max_bins: int = 20) -> list[tuple[float, float, int]]:
    """Bins as (low, high, count), ``low <= v < high``; one bin per value for small integers."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    integers = all(float(v).is_integer() for v in values)
    if integers and hi - lo + 1 <= max_bins:
        counts = Counter(int(v) for v in values)
        return [(float(v), float(v + 1), counts.get(v, 0)) for v in range(int(lo), int(hi) + 1)]
    if hi == lo:
        return [(lo, lo + 1, len(values))]
    width = _nice_width(hi - lo, max_bins)
    if integers:
        width = max(1.0, math.ceil(width))
    start = math.floor(lo / width) * width
    nbins = math.floor((hi - start) / width) + 1
    counts = [0] * nbins
    for v in values:
        counts[min(int((v - start) // width), nbins - 1)] += 1
    return [(start + i * width, start + (i + 1) * width, c) for i, c in enumerate(counts)]


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
    f = Funnel.from_records(blueprints, rejected)
    duplicates = sum(1 for r in ledger if r.get("outcome") == "duplicate")
    steps = [
        FunnelStep("contexts sampled", len(blueprints) + len(rejected) + blueprint_errors,
                   "blueprint"),
        FunnelStep("drafts written", f.reached["drafter"], "blueprint"),
    ]
    steps += [FunnelStep(f"passed {stage}", f.passed[stage], "blueprint")
              for stage in STAGES[1:]]
    steps += [
        FunnelStep("blueprints accepted", len(blueprints), "blueprint"),
        FunnelStep("episodes played", len(accepted) + len(failed) + duplicates + episode_errors,
                   "rollout"),
        FunnelStep("episodes passed the judge", len(accepted) + duplicates, "rollout"),
        FunnelStep("trajectories accepted", len(accepted), "rollout"),
        # equal to the above unless the run file predates refusing repeats
        FunnelStep("distinct conversations",
                   len({conversation_id(r.get("messages") or []) for r in accepted}),
                   "rollout"),
    ]
    return steps, f


def _phase1_reasons(f: Funnel) -> list[StageReasons]:
    return [StageReasons(stage, f.reached[stage], f.passed[stage],
                         f.reasons.get(stage, Counter()).most_common(5)) for stage in STAGES]


def _rejected_slots(rejected: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    by_stage: dict[str, Counter] = {}
    for r in rejected:
        reason = _short((r.get("reasons") or ["(no reason)"])[0])
        by_stage.setdefault(r.get("stage", "?"), Counter())[reason] += 1
    return sorted(((stage, sum(c.values()), c.most_common(1)[0][0])
                   for stage, c in by_stage.items()), key=lambda x: -x[1])


def _phase2_reasons(failed: list[dict[str, Any]], ledger: list[dict[str, Any]],
                    episode_errors: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    by_reason: dict[str, Counter] = {}
    for row in failed:
        t = Trajectory.model_validate(row)
        detail = _detail(t.verdict.reasons[0]) if t.verdict.reasons else t.end_reason
        by_reason.setdefault(failure_reason(t), Counter())[detail] += 1
    dups = sum(1 for r in ledger if r.get("outcome") == "duplicate")
    out = sorted(((reason, sum(c.values()), c.most_common(1)[0][0])
                  for reason, c in by_reason.items()), key=lambda x: -x[1])
    if dups:
        out.append(("duplicate success (not kept twice)", dups, "same conversation content"))
    if episode_errors:
        top = Counter(_detail(str(e.get("error", ""))) for e in episode_errors).most_common(1)
        out.append(("model error", len(episode_errors), top[0][0]))
    return out


def tool_usage(accepted: list[dict[str, Any]], blueprints: list[dict[str, Any]],
               tool_kinds: dict[str, str]) -> list[ToolUse]:
    """Calls per tool in accepted trajectories, against the environment's tools."""
    calls: Counter = Counter()
    trajs: Counter = Counter()
    for row in accepted:
        names = [(c.get("function") or {}).get("name", "")
                 for m in row.get("messages", []) for c in m.get("tool_calls") or []]
        calls.update(names)
        trajs.update(set(names))
    in_bp: Counter = Counter(a["name"] for b in blueprints for a in b.get("actions", []))
    names = list(tool_kinds) + sorted(set(calls) - set(tool_kinds))
    out = [ToolUse(name=n, kind=tool_kinds.get(n, "?"), calls=calls[n], trajectories=trajs[n],
                   in_blueprints=in_bp[n], declared=n in tool_kinds) for n in names]
    return sorted(out, key=lambda t: (-t.calls, t.name))


def diversity(blueprints: list[dict[str, Any]], threshold: float = 0.8) -> Diversity:
    """Action-pattern variety, distinct-1/2 and the near-duplicate rate of instructions."""
    patterns = Counter(" → ".join(a["name"] for a in b.get("actions", [])) for b in blueprints)
    texts = [b.get("instruction", "") for b in blueprints]
    dups = near_duplicates(texts, threshold)
    return Diversity(blueprints=len(blueprints), patterns=len(patterns),
                     top_patterns=patterns.most_common(8), distinct_1=distinct_n(texts, 1),
                     distinct_2=distinct_n(texts, 2), near_dup_rate=dups.rate,
                     near_dup_pairs=len(dups.pairs), near_dup_threshold=threshold,
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
    return Cost(by_phase=by_phase, total_cost=total_cost, total_tokens=total_tokens,
                per_trajectory_cost=total_cost / trajectories if trajectories else None,
                per_trajectory_tokens=total_tokens / trajectories if trajectories else None,
                per_blueprint_cost=bp_cost / blueprints if blueprints else None)


def compute(env: str, blueprints: list[dict[str, Any]], rejected: list[dict[str, Any]],
            accepted: list[dict[str, Any]], failed: list[dict[str, Any]],
            ledger: list[dict[str, Any]] | None = None,
            blueprint_errors: list[dict[str, Any]] | None = None,
            episode_errors: list[dict[str, Any]] | None = None,
            tool_kinds: dict[str, str] | None = None,
            usage: dict[str, dict[str, Any]] | None = None,
            near_dup_threshold: float = 0.8) -> RunStats:
    """All statistics of a run from its rows."""
    ledger = ledger or []
    episode_errors = episode_errors or []
    steps, f = funnel_steps(blueprints, rejected, len(blueprint_errors or []), accepted, failed,
                            ledger, len(episode_errors))
    metrics = [message_metrics(r.get("messages", [])) for r in accepted]
    known = [r.get("usage") or {} for r in accepted]
    if accepted and all(u.get("prompt_tokens") is not None for u in known):
        tokens = [float(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0))
                  for u in known]
        source = "usage"
        token_name = "tokens per trajectory (model usage)"
    else:
        tokens = [float(m["est_tokens"]) for m in metrics]
        source = f"estimate (characters / {CHARS_PER_TOKEN})"
        token_name = "tokens per trajectory (text, estimated)"
    dists = []
    for name, unit, values in (
            ("turns per trajectory", "messages", [float(m["turns"]) for m in metrics]),
            ("user turns per trajectory", "turns", [float(m["user_turns"]) for m in metrics]),
            ("tool calls per trajectory", "calls", [float(m["tool_calls"]) for m in metrics]),
            (token_name, "tokens", tokens)):
        dists.append(Distribution(name, unit, summarize(values), histogram(values)))
    used = {r.get("blueprint_id") for r in accepted}
    behind = [b for b in blueprints if b.get("id") in used] or blueprints
    return RunStats(
        env=env, funnel=steps, phase1=_phase1_reasons(f), rejected_slots=_rejected_slots(rejected),
        phase2=_phase2_reasons(failed, ledger, episode_errors), distributions=dists,
        tools=tool_usage(accepted, blueprints, tool_kinds or {}),
        diversity=diversity(behind, near_dup_threshold),
        cost=cost(usage or {}, len(accepted), len(blueprints)),
        counts={"blueprints": len(blueprints), "rejected_slots": len(rejected),
                "trajectories": len(accepted), "failed": len(failed),
                "blueprints_with_trajectories": len(used),
                "rescued": f.rescued, "recombined": f.recombined},
        tokens_source=source)
