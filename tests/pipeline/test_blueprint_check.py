"""`apigen-mt blueprint check` on τ-bench's own test tasks."""

from __future__ import annotations

import json

from tests.conftest import ANCHORS, needs_anchors
from tests.pipeline.conftest import cli


def _rows(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@needs_anchors
def test_retail_test_tasks_pass_except_those_whose_ground_truth_write_fails():
    out = cli("blueprint", "check", "--env", "retail", "--data-dir", str(ANCHORS / "retail"),
              "--tasks", str(ANCHORS / "tasks.json"), "--split", "retail_test")
    rows = _rows(out)
    assert len(rows) == 115
    rejected = {r["index"]: r for r in rows if not r["accepted"]}
    assert sorted(rejected) == [12, 13, 64, 106]
    for r in rejected.values():
        assert r["stage"] == "execution"
        assert r["reasons"][0].split("failed: ", 1)[1].startswith("Error: ")
    assert "111/115 accepted" in out


@needs_anchors
def test_airline_test_tasks_all_pass():
    out = cli("blueprint", "check", "--env", "airline", "--data-dir", str(ANCHORS / "airline"),
              "--tasks", str(ANCHORS / "tasks.json"), "--split", "airline_test")
    rows = _rows(out)
    assert len(rows) == 50
    assert [r["index"] for r in rows if not r["accepted"]] == []
