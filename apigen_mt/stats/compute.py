"""Statistics of a run, as pure functions over its records (no I/O, no printing).

:func:`compute` takes the rows of a run's files and returns a :class:`RunStats`, which
the terminal and HTML renderers draw. Everything here is a plain computation that can
be tested with hand-made rows.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.reasons import Reasons, first_reason
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
                         f.reasons.get(stage, Reasons()).top(5)) for stage in STAGES]


def _rejected_slots(rejected: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    by_stage: dict[str, Reasons] = {}
    for r in rejected:
        by_stage.setdefault(r.get("stage", "?"), Reasons()).add(first_reason(r.get("reasons")))
    return sorted(((stage, sum(c.values()), c.top(1)[0][0])
                   for stage, c in by_stage.items()), key=lambda x: -x[1])


def _phase2_reasons(failed: Iterable[dict[str, Any]], duplicates: int,
                    episode_errors: list[dict[str, Any]]) -> tuple[list[tuple[str, int, str]],
                                                                    int]:
    """Failure reasons with their top detail, and how many failures there were."""
    by_reason: dict[str, Reasons] = {}
    count = 0
    for row in failed:
        count += 1
        t = Trajectory.model_validate(row)
        detail = first_reason(t.verdict.reasons) if t.verdict.reasons else t.end_reason
        by_reason.setdefault(failure_reason(t), Reasons()).add(detail)
    out = sorted(((reason, sum(c.values()), c.top(1)[0][0])
                  for reason, c in by_reason.items()), key=lambda x: -x[1])
    if duplicates:
        out.append(("duplicate success (not kept twice)", duplicates,
                    "same conversation content"))
    if episode_errors:
        errors = Reasons()
        for e in episode_errors:
            errors.add(first_reason([str(e.get("error", ""))]))
        out.append(("model error", len(episode_errors), errors.top(1)[0][0]))
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
    return _diversity([(" → ".join(a["name"] for a in b.get("actions", [])),
                        b.get("instruction", "")) for b in blueprints], threshold)


def _diversity(items: list[tuple[str, str]], threshold: float) -> Diversity:
    """The same from (action pattern, instruction) pairs."""
    patterns = Counter(p for p, _ in items)
    texts = [t for _, t in items]
    dups = near_duplicates(texts, threshold)
    return Diversity(blueprints=len(items), patterns=len(patterns),
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
    by_role = {(phase, role): {k: float(r.get(k, 0) or 0) for k in
                               ("calls", "cache_hits", "prompt_tokens", "cached_tokens",
                                "completion_tokens", "cost")}
               for phase, u in usage.items() for role, r in (u.get("roles") or {}).items()}
    return Cost(by_phase=by_phase, total_cost=total_cost, total_tokens=total_tokens,
                per_trajectory_cost=total_cost / trajectories if trajectories else None,
                per_trajectory_tokens=total_tokens / trajectories if trajectories else None,
                per_blueprint_cost=bp_cost / blueprints if blueprints else None,
                by_role=by_role)


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
    large run): what is kept per record is a handful of numbers, and per blueprint its
    id, action pattern and instruction.
    """
    episode_errors = episode_errors or []
    duplicates = sum(1 for r in (ledger or ()) if r.get("outcome") == "duplicate")
    slim: list[tuple[str, str, str]] = []  # (id, action pattern, instruction)
    in_bp: Counter = Counter()

    def read_blueprints() -> Iterable[dict[str, Any]]:
        for b in blueprints:
            names = [a["name"] for a in b.get("actions", [])]
            in_bp.update(names)
            slim.append((b.get("id", ""), " → ".join(names), b.get("instruction", "")))
            yield b

    rejected_rows: list[dict[str, Any]] = []

    def read_rejected() -> Iterable[dict[str, Any]]:
        for r in rejected:  # keep only what the per-stage table needs
            rejected_rows.append({"stage": r.get("stage", "?"),
                                  "reasons": (r.get("reasons") or ["(no reason)"])[:1]})
            yield r

    f = Funnel.from_records(read_blueprints(), read_rejected())
    turns, user_turns, tool_calls = array("d"), array("d"), array("d")
    est, used_tokens = array("d"), array("d")
    all_usage = True
    calls: Counter = Counter()
    trajs: Counter = Counter()
    used: set[str] = set()
    conversations: set[str] = set()  # one id per record: the "distinct conversations" row
    kept = 0
    for row in accepted:
        kept += 1
        conversations.add(conversation_id(row.get("messages") or []))
        m = message_metrics(row.get("messages", []))
        turns.append(m["turns"])
        user_turns.append(m["user_turns"])
        tool_calls.append(m["tool_calls"])
        est.append(m["est_tokens"])
        u = row.get("usage") or {}
        if u.get("prompt_tokens") is None:
            all_usage = False
        else:
            used_tokens.append(float(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0)))
        _count_calls(row, calls, trajs)
        used.add(row.get("blueprint_id"))
    reasons, n_failed = _phase2_reasons(failed, duplicates, episode_errors)
    steps, _ = funnel_counts(f, len(slim), len(rejected_rows), len(blueprint_errors or []),
                             kept, n_failed, duplicates, len(episode_errors), len(conversations))
    if kept and all_usage:
        tokens = list(used_tokens)
        source = "usage"
        token_name = "tokens per trajectory (model usage)"
    else:
        tokens = list(est)
        source = f"estimate (characters / {CHARS_PER_TOKEN})"
        token_name = "tokens per trajectory (text, estimated)"
    dists = []
    for name, unit, values in (
            ("turns per trajectory", "messages", list(turns)),
            ("user turns per trajectory", "turns", list(user_turns)),
            ("tool calls per trajectory", "calls", list(tool_calls)),
            (token_name, "tokens", tokens)):
        dists.append(Distribution(name, unit, summarize(values), histogram(values)))
    behind = [(p, t) for i, p, t in slim if i in used] or [(p, t) for _, p, t in slim]
    return RunStats(
        env=env, funnel=steps, phase1=_phase1_reasons(f),
        rejected_slots=_rejected_slots(rejected_rows), phase2=reasons, distributions=dists,
        tools=_tool_rows(calls, trajs, in_bp, tool_kinds or {}),
        diversity=_diversity(behind, near_dup_threshold),
        cost=cost(usage or {}, kept, len(slim)),
        counts={"blueprints": len(slim), "rejected_slots": len(rejected_rows),
                "trajectories": kept, "failed": n_failed,
                "blueprints_with_trajectories": len(used),
                "rescued": f.rescued, "recombined": f.recombined},
        tokens_source=source)
