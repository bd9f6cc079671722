"""Rejection reasons are shown whole wherever they are shown: the funnel `blueprint`
prints, `apigen-mt stats` and its HTML report (through the installed command)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from apigen_mt.reasons import Reasons, reason_key


def _cmd(*args: str, cwd: Path, columns: int = 2000) -> str:
    exe = shutil.which("apigen-mt")
    if exe is None:
        pytest.skip("the apigen-mt command is not installed")
    env = {**os.environ, "COLUMNS": str(columns), "APIGEN_MT_RUNS": str(cwd / "runs")}
    done = subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _failed_reasons(run: Path) -> dict[str, list[str]]:
    """Stage → the first reason of every failed verdict, in the run's files."""
    out: dict[str, list[str]] = {}
    verdicts = [v for line in (run / "blueprints.jsonl").read_text().splitlines()
                for v in json.loads(line)["provenance"]["verdicts"]]
    verdicts += [v for line in (run / "blueprints.rejected.jsonl").read_text().splitlines()
                 for v in json.loads(line).get("verdicts", [])]
    for v in verdicts:
        if not v["passed"] and v["reasons"]:
            out.setdefault(v["stage"], []).append(" ".join(v["reasons"][0].split()))
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("reasons")
    out = base / "run"
    printed = _cmd("blueprint", "--env", "airline", "--n", "12", "--out", str(out), cwd=base)
    return out, printed


def _cut_forms(reasons: list[str]) -> set[str]:
    """How a reason looked when it was cut at its first colon: ``head (count)``."""
    return {r.split(":", 1)[0] for r in reasons if ":" in r}


def test_blueprint_funnel_prints_whole_reasons(run):
    out, printed = run
    reasons = _failed_reasons(out)
    assert any(":" in r for rs in reasons.values() for r in rs), "the run is meant to fail drafts"
    text = " ".join(printed.split())
    for stage, said in reasons.items():
        # the row shows one whole reason of the stage (of its most common kind)
        assert any(r in text for r in said), stage
        for head in _cut_forms(said):
            assert not re.search(rf"\│ {re.escape(head)} *\│", printed), head


def test_stats_and_its_report_show_whole_reasons(run, tmp_path: Path):
    out, _ = run
    report = tmp_path / "report.html"
    printed = _cmd("stats", "--run", str(out), "--html", str(report), cwd=tmp_path)
    page = html.unescape(report.read_text())
    reasons = _failed_reasons(out)
    for shown in (" ".join(printed.split()), page):
        for stage, said in reasons.items():
            assert any(f"{r} (" in shown for r in said), stage
            for head in _cut_forms(said):
                assert f"{head} (" not in shown.replace(f"{head}:", ""), head


def test_wrapped_not_cut_at_80_columns(run, tmp_path: Path):
    out, _ = run
    printed = _cmd("stats", "--run", str(out), cwd=tmp_path, columns=80)
    assert max(len(line) for line in printed.splitlines()) <= 80
    words = set(re.findall(r"[A-Za-z_]{4,}", printed))
    # every word of a whole reason shown is somewhere in the wrapped table
    shown = [r for rs in _failed_reasons(out).values() for r in rs
             if all(w in words for w in re.findall(r"[A-Za-z_]{4,}", r))]
    assert shown and any(":" in r and len(r.split(":", 1)[1]) > 10 for r in shown)


def test_reasons_of_one_kind_are_counted_together_and_shown_whole():
    tally = Reasons()
    tally.add("action 2 (book_reservation) failed: Error: not enough seats on flight HAT030")
    tally.add("action 1 (book_reservation) failed: Error: not enough seats on flight HAT114")
    tally.add("committee: 'correctness' failed: the instruction never states 'Suite 5'")
    assert tally.top() == [
        ("action 2 (book_reservation) failed: Error: not enough seats on flight HAT030", 2),
        ("committee: 'correctness' failed: the instruction never states 'Suite 5'", 1)]
    assert reason_key("order #W123 is 'x'") == reason_key("order #W9 is 'yy'")
