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


# τ-bench airline ground truths that break its own written policy (see envs/airline/README):
# 10/34 cancel ineligible economy bookings, 19 moves a destination and charges a free bag,
# 23 charges bags within a gold member's allowance, 26/27 cancel an already-flown trip.
AIRLINE_POLICY_BREAKS = {10: "cancellation_eligible", 19: "flight_change_keeps_trip",
                         23: "nonfree_bags_match_allowance", 26: "cancel_only_unflown_trips",
                         27: "cancel_only_unflown_trips", 34: "cancellation_eligible"}


@needs_anchors
def test_airline_test_tasks_pass_except_those_breaking_the_written_policy():
    out = cli("blueprint", "check", "--env", "airline", "--data-dir", str(ANCHORS / "airline"),
              "--tasks", str(ANCHORS / "tasks.json"), "--split", "airline_test")
    rows = _rows(out)
    assert len(rows) == 50
    rejected = {r["index"]: r for r in rows if not r["accepted"]}
    assert sorted(rejected) == sorted(AIRLINE_POLICY_BREAKS)
    for index, rule in AIRLINE_POLICY_BREAKS.items():
        assert rejected[index]["stage"] == "policy"
        assert any(reason.startswith(rule) for reason in rejected[index]["reasons"])


@needs_anchors
def test_a_task_acting_on_another_customers_records_is_rejected(tmp_path):
    """A blueprint whose changes are for someone other than its user can never pass the
    judge (the customer cannot identify as the owner), so phase 1 rejects it: here
    τ-bench's own tasks with their user swapped for another, in both domains."""
    splits = json.loads((ANCHORS / "tasks.json").read_text())["splits"]
    for env, split, index in (("airline", "airline_test", 1), ("retail", "retail_test", 0)):
        task = dict(splits[split][index])
        others = {t["user_id"] for t in splits[split]} - {task["user_id"]}
        moved = {**task, "user_id": sorted(others)[0]}
        path = tmp_path / f"{env}.json"
        path.write_text(json.dumps([task, moved]))
        out = cli("blueprint", "check", "--env", env, "--data-dir", str(ANCHORS / env),
                  "--tasks", str(path))
        own, foreign = _rows(out)
        assert own["accepted"], own
        assert not foreign["accepted"] and foreign["stage"] == "policy"
        assert any(r.startswith("one_user_per_task") and task["user_id"] in r
                   and "not for the task's user" in r for r in foreign["reasons"])
