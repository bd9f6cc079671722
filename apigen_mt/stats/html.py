"""One self-contained HTML page with inline SVG plots (no scripts, no external files)."""

from __future__ import annotations

import math
from html import escape

from apigen_mt.stats.compute import Distribution, RunStats

_COLORS = {"blueprint": "#4c78a8", "rollout": "#f58518", "read": "#54a24b", "write": "#e45756",
           "?": "#9d9d9d"}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1040px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plot{border:1px solid #eee;padding:.5rem}
svg text{font-size:11px;fill:#333}.muted{color:#777;font-size:.85rem}
"""


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def hbar_svg(items: list[tuple[str, float, str]], title: str, width: int = 760) -> str:
    """Horizontal bars: (label, value, color) per row."""
    row, label_w, pad = 22, 230, 50
    height = row * len(items) + 34
    top = max((v for _, v, _ in items), default=0) or 1
    span = width - label_w - pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>']
    for i, (label, value, color) in enumerate(items):
        y = 24 + i * row
        w = max(span * value / top, 0.5 if value else 0)
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">'
                     f'{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" '
                     f'fill="{color}"><title>{escape(label)}: {_fmt(value)}</title></rect>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{_fmt(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(dist: Distribution, width: int = 480, height: int = 240) -> str:
    """Vertical bars with axes: counts of trajectories per bin."""
    left, bottom, top_pad, right = 44, 38, 26, 10
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    bins = dist.bins
    top = max((c for _, _, c in bins), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(dist.name)}">',
             f'<text x="0" y="14" font-weight="bold">{escape(dist.name)}</text>',
             f'<path d="M{left},{top_pad} V{top_pad + plot_h} H{left + plot_w}" '
             f'stroke="#555" fill="none"/>']
    for tick in sorted({0, top // 2, top}):
        y = top_pad + plot_h - plot_h * tick / top
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    n = max(len(bins), 1)
    bw = plot_w / n
    widest = max((len(_fmt(lo)) for lo, _, _ in bins), default=1) * 6.5 + 8
    step = max(1, math.ceil(n / max(plot_w / widest, 1)))  # labels that do not overlap
    for i, (lo, hi, count) in enumerate(bins):
        h = plot_h * count / top
        x = left + i * bw
        label = _fmt(lo) if hi - lo == 1 else f"{_fmt(lo)}–{_fmt(hi)}"
        parts.append(f'<rect x="{x + 1:.1f}" y="{top_pad + plot_h - h:.1f}" '
                     f'width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="#4c78a8">'
                     f'<title>{escape(label)}: {count}</title></rect>')
        if i % step == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{top_pad + plot_h + 14}" '
                         f'text-anchor="middle">{escape(_fmt(lo))}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">'
                 f'{escape(dist.unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f'<td class="n">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
        for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(stats: RunStats, title: str) -> str:
    """The whole report page."""
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{escape(title)}</h1>",
           f"<p class='muted'>environment {escape(stats.env)} · "
           f"{stats.counts.get('trajectories', 0)} accepted trajectories from "
           f"{stats.counts.get('blueprints_with_trajectories', 0)} of "
           f"{stats.counts.get('blueprints', 0)} accepted blueprints</p>"]

    out.append("<h2>Funnel</h2>")
    out.append(hbar_svg([(s.label, s.count, _COLORS[s.phase]) for s in stats.funnel],
                        "From sampled contexts to accepted trajectories"))
    out.append(_table(["check", "reached", "passed", "rejected", "top reasons"],
                      [[s.stage, str(s.reached), str(s.passed), str(s.reached - s.passed),
                        "; ".join(f"{r} ({c})" for r, c in s.reasons)] for s in stats.phase1],
                      {1, 2, 3}))
    if stats.rejected_slots:
        out.append(_table(["final stage of rejected slots", "slots", "top reason"],
                          [[a, str(b), c] for a, b, c in stats.rejected_slots], {1}))
    out.append(_table(["rollouts not kept", "episodes", "most common detail"],
                      [[a, str(b), c] for a, b, c in stats.phase2] or [["(none)", "0", ""]],
                      {1}))

    out.append("<h2>Per accepted trajectory</h2><div class='plots'>")
    for d in stats.distributions:
        out.append(f"<div class='plot'>{histogram_svg(d)}</div>")
    out.append("</div>")
    out.append(_table(["quantity", "n", "mean", "std", "min", "median", "p90", "max"],
                      [[d.name, str(d.summary.n), _fmt(d.summary.mean), _fmt(d.summary.std),
                        _fmt(d.summary.min), _fmt(d.summary.p50), _fmt(d.summary.p90),
                        _fmt(d.summary.max)] for d in stats.distributions],
                      {1, 2, 3, 4, 5, 6, 7}))
    out.append(f"<p class='muted'>token counts: {escape(stats.tokens_source)}</p>")

    out.append("<h2>Tool coverage</h2>")
    out.append(hbar_svg([(t.name if t.declared else f"{t.name} (undeclared)", t.calls,
                          _COLORS.get(t.kind, _COLORS["?"])) for t in stats.tools],
                        "Calls per tool in accepted trajectories (green: read, red: write)"))
    out.append(_table(["tool", "kind", "calls", "trajectories", "in blueprints"],
                      [[t.name, t.kind, str(t.calls), str(t.trajectories), str(t.in_blueprints)]
                       for t in stats.tools], {2, 3, 4}))

    d = stats.diversity
    out.append("<h2>Diversity</h2>")
    out.append(_table(["measure", "value"], [
        ["blueprints behind the data", str(d.blueprints)],
        ["distinct action patterns", f"{d.patterns}"],
        ["distinct-1 / distinct-2 of instructions", f"{d.distinct_1:.3f} / {d.distinct_2:.3f}"],
        [f"near-duplicate instructions (Jaccard ≥ {d.near_dup_threshold:g} on word 3-shingles)",
         f"{d.near_dup_rate:.1%} ({d.near_dup_pairs} pairs)"]]))
    if d.top_patterns:
        out.append(_table(["count", "most common action patterns"],
                          [[str(c), p] for p, c in d.top_patterns], {0}))

    c = stats.cost
    out.append("<h2>Cost</h2>")
    out.append(_table(["phase", "calls", "prompt tokens", "completion tokens", "cost (USD)"],
                      [[p, _fmt(u["calls"]), _fmt(u["prompt_tokens"]),
                        _fmt(u["completion_tokens"]), f"${u['cost']:.4f}"]
                       for p, u in c.by_phase.items()], {1, 2, 3, 4}))
    if c.per_trajectory_tokens is not None:
        out.append(f"<p>Per accepted trajectory: {c.per_trajectory_tokens:,.0f} tokens, "
                   f"${c.per_trajectory_cost:.5f} (all phases).</p>")
    out.append("</body></html>")
    return "\n".join(out)
