"""`apigen-mt stats` on an offline run of 200: the funnel in the terminal and an HTML report
whose plots are really there."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from tests.export.conftest import cli


class _Svgs(HTMLParser):
    """Each <svg>'s label and the tags inside it; plus anything that loads from outside."""

    def __init__(self):
        super().__init__()
        self.svgs: list[dict] = []
        self.depth = 0
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if attrs.get(key):
                self.external.append(attrs[key])
        if tag == "svg":
            self.depth += 1
            self.svgs.append({"label": attrs.get("aria-label", ""), "children": []})
        elif self.depth:
            self.svgs[-1]["children"].append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "svg":
            self.depth -= 1


def test_stats_prints_the_funnel_and_writes_a_self_contained_report(run200: Path,
                                                                     tmp_path: Path):
    report = tmp_path / "report" / "report.html"
    out = cli("stats", "--run", str(run200), "--html", str(report))
    for text in ("Funnel", "contexts sampled", "blueprints accepted", "episodes played",
                 "trajectories accepted", "Blueprint checks", "Rollouts not kept",
                 "Tool coverage", "near-duplicate", "distinct-1", "per accepted trajectory"):
        assert text in out, text
    assert "200" in out
    parser = _Svgs()
    parser.feed(report.read_text())
    assert parser.scripts == 0 and parser.external == []
    labels = {s["label"]: s["children"] for s in parser.svgs}
    wanted = ["From sampled contexts to accepted trajectories", "turns per trajectory",
              "tool calls per trajectory", "Calls per tool"]
    for want in wanted:
        (children,) = [c for label, c in labels.items() if label.startswith(want)]
        assert "rect" in children, want
    token_plots = [c for label, c in labels.items() if label.startswith("tokens per")]
    assert len(token_plots) == 1 and "rect" in token_plots[0]
    histograms = [c for label, c in labels.items() if "per trajectory" in label]
    assert len(histograms) >= 3 and all("path" in c and c.count("rect") >= 1
                                        for c in histograms)


def test_stats_uses_the_latest_run_by_default(run30: Path, monkeypatch, tmp_path: Path):
    from apigen_mt.runner.store import remember_latest

    remember_latest(run30)
    out = cli("stats")
    assert "trajectories accepted" in out


def test_stats_names_the_write_tools_no_blueprint_uses(run30: Path, tmp_path: Path):
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run30, run)
    kept = [json.loads(x) for x in (run / "blueprints.jsonl").read_text().splitlines()]
    names = {a["name"] for b in kept for a in b["actions"]}
    drop = sorted(names & {"cancel_pending_order", "modify_user_address"})[0]
    kept = [b for b in kept if all(a["name"] != drop for a in b["actions"])]
    (run / "blueprints.jsonl").write_text("".join(json.dumps(b) + "\n" for b in kept))
    out = cli("stats", "--run", str(run))
    line = next(x for x in out.splitlines() if x.startswith("write tools in accepted"))
    assert drop in line and "never:" in line
