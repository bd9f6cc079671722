"""Rich tables for ``apigen-mt stats``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from apigen_mt.stats.compute import RunStats, Summary

_BAR = "█"


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _bar(value: float, top: float, width: int = 24) -> str:
    return _BAR * (round(width * value / top) if top else 0)


def _summary_row(name: str, s: Summary) -> list[str]:
    return [name, str(s.n), _num(s.mean), _num(s.min), _num(s.p50), _num(s.p90), _num(s.max)]


def print_stats(stats: RunStats, console: Console) -> None:
    """Funnel, rejection reasons, distributions, tool coverage, diversity and cost."""
    for section in (_print_funnel, _print_phase1, _print_phase2, _print_distributions,
                    _print_tools, _print_diversity, _print_cost):
        section(stats, console)


def _print_funnel(stats: RunStats, console: Console) -> None:
    top = max((s.count for s in stats.funnel), default=0)
    table = Table(title=f"Funnel: contexts → accepted trajectories ({stats.env})")
    for col in ("phase", "step", "count", ""):
        table.add_column(col)
    for step in stats.funnel:
        table.add_row(step.phase, step.label, f"{step.count:,}", _bar(step.count, top))
    console.print(table)


def _print_phase1(stats: RunStats, console: Console) -> None:
    table = Table(title="Blueprint checks (every draft of every round)")
    for col in ("check", "reached", "passed", "rejected", "top reasons"):
        table.add_column(col)
    for st in stats.phase1:
        reasons = "; ".join(f"{r} ({c})" for r, c in st.reasons[:3])
        table.add_row(st.stage, str(st.reached), str(st.passed), str(st.reached - st.passed),
                      reasons)
    console.print(table)
    if stats.rejected_slots:
        table = Table(title="Rejected blueprint slots, by final stage")
        for col in ("stage", "slots", "top reason"):
            table.add_column(col)
        for stage, count, reason in stats.rejected_slots:
            table.add_row(stage, str(count), reason)
        console.print(table)


def _print_phase2(stats: RunStats, console: Console) -> None:
    table = Table(title="Rollouts not kept, by reason")
    for col in ("reason", "episodes", "most common detail"):
        table.add_column(col)
    for reason, count, detail in stats.phase2:
        table.add_row(reason, str(count), detail)
    if not stats.phase2:
        table.add_row("(none)", "0", "")
    console.print(table)


def _print_distributions(stats: RunStats, console: Console) -> None:
    table = Table(title="Per accepted trajectory")
    for col in ("quantity", "n", "mean", "min", "median", "p90", "max"):
        table.add_column(col, justify="right" if col != "quantity" else "left")
    for d in stats.distributions:
        table.add_row(*_summary_row(d.name, d.summary))
    console.print(table)
    if stats.distributions and stats.distributions[0].bins:
        for d in stats.distributions:
            if d.name.startswith(("turns", "tool calls")):
                _print_hist(d.name, d.bins, console)


def _print_tools(stats: RunStats, console: Console) -> None:
    table = Table(title="Tool coverage (accepted trajectories)")
    table.add_column("tool", no_wrap=True)
    for col in ("kind", "calls", "trajectories", "in blueprints", ""):
        table.add_column(col, no_wrap=col == "")
    top_calls = max((t.calls for t in stats.tools), default=0)
    for t in stats.tools:
        name = t.name if t.declared else f"{t.name} (not an env tool)"
        style = "red" if t.declared and t.calls == 0 else None
        table.add_row(name, t.kind, str(t.calls), str(t.trajectories), str(t.in_blueprints),
                      _bar(t.calls, top_calls, 12), style=style)
    console.print(table)
    unused = [t.name for t in stats.tools if t.declared and t.calls == 0]
    declared = sum(t.declared for t in stats.tools)
    console.print(f"tools used: {declared - len(unused)}/{declared}"
                  + (f" (never called: {', '.join(unused)})" if unused else ""))
    writes = [t for t in stats.tools if t.declared and t.kind == "write"]
    absent = [t.name for t in writes if t.in_blueprints == 0]
    console.print(f"write tools in accepted blueprints: {len(writes) - len(absent)}/"
                  f"{len(writes)}" + (f" (never: {', '.join(absent)})" if absent else ""))


def _print_diversity(stats: RunStats, console: Console) -> None:
    d = stats.diversity
    table = Table(title="Diversity of the tasks behind the data")
    table.add_column("measure")
    table.add_column("value")
    table.add_row("blueprints", str(d.blueprints))
    table.add_row("distinct action patterns", f"{d.patterns} ({d.patterns / d.blueprints:.0%})"
                  if d.blueprints else "0")
    table.add_row("distinct-1 / distinct-2 (instructions)",
                  f"{d.distinct_1:.3f} / {d.distinct_2:.3f}")
    table.add_row(f"near-duplicate instructions (Jaccard ≥ {d.near_dup_threshold:g}, "
                  "word 3-shingles)", f"{d.near_dup_rate:.1%} ({d.near_dup_pairs} pairs)")
    console.print(table)
    if d.top_patterns:
        table = Table(title="Most common action patterns")
        table.add_column("count")
        table.add_column("tools, in order")
        for pattern, count in d.top_patterns:
            table.add_row(str(count), pattern)
        console.print(table)


def _print_cost(stats: RunStats, console: Console) -> None:
    c = stats.cost
    table = Table(title="Cost and tokens")
    for col in ("phase", "calls", "prompt tokens", "completion tokens", "cost (USD)"):
        table.add_column(col, justify="right" if col != "phase" else "left")
    for phase, u in c.by_phase.items():
        table.add_row(phase, _num(u["calls"]), _num(u["prompt_tokens"]),
                      _num(u["completion_tokens"]), f"${u['cost']:.4f}")
    console.print(table)
    if c.by_role:
        _print_roles(stats, console)
    if c.per_trajectory_tokens is not None:
        console.print(f"per accepted trajectory: {c.per_trajectory_tokens:,.0f} tokens, "
                      f"${c.per_trajectory_cost:.5f} (all phases); per accepted blueprint: "
                      f"${c.per_blueprint_cost or 0:.5f}")
    console.print(f"token counts per trajectory: {stats.tokens_source}")


def _print_roles(stats: RunStats, console: Console) -> None:
    kept = stats.counts.get("trajectories", 0)
    table = Table(title="Usage per role" + (" (per accepted trajectory)" if kept else ""))
    for col in ("phase", "role", "calls", "prompt tokens", "cached tokens",
                "completion tokens", "cost (USD)"):
        table.add_column(col, justify="left" if col in ("phase", "role") else "right")
    div = kept or 1
    for (phase, role), u in stats.cost.by_role.items():
        table.add_row(phase, role, f"{u['calls'] / div:,.2f}" if kept else _num(u["calls"]),
                      f"{u['prompt_tokens'] / div:,.0f}", f"{u['cached_tokens'] / div:,.0f}",
                      f"{u['completion_tokens'] / div:,.0f}", f"${u['cost'] / div:.5f}")
    console.print(table)


def _print_hist(name: str, bins: list[tuple[float, float, int]], console: Console) -> None:
    top = max(c for _, _, c in bins) or 1
    lines = [f"[bold]{name}[/bold]"]
    for lo, hi, count in bins:
        label = _num(lo) if hi - lo == 1 else f"{_num(lo)}–{_num(hi)}"
        lines.append(f"  {label:>9} {_bar(count, top, 30)} {count}")
    console.print("\n".join(lines))
