"""Built-in retail and airline reproduce τ-bench hash for hash on τ-bench's own data."""

from __future__ import annotations

import json

import pytest

from apigen_mt.env.domain import load_environment
from apigen_mt.env.tasks import load_tasks, replay_task
from tests.conftest import ANCHORS, needs_anchors

SPLITS = [("retail", "retail_test"), ("retail", "retail_train"), ("retail", "retail_dev"),
          ("airline", "airline_test")]


@needs_anchors
def test_initial_hash_matches():
    hashes = json.loads((ANCHORS / "gt_hashes.json").read_text())
    for domain in ("retail", "airline"):
        env = load_environment(domain, data_dir=ANCHORS / domain)
        assert env.hash("tau") == hashes["initial_hash"][domain]


@needs_anchors
@pytest.mark.parametrize(("domain", "split"), SPLITS)
def test_every_task_reaches_its_ground_truth_hash(domain, split):
    truth = json.loads((ANCHORS / "gt_hashes.json").read_text())["splits"][split]
    tasks = load_tasks(ANCHORS / "tasks.json", split=split)
    env = load_environment(domain, data_dir=ANCHORS / domain)
    mismatched, wrong_errors = [], []
    for task, expected in zip(tasks, truth, strict=True):
        result = replay_task(env, task, method="tau")
        if result["hash"] != expected["gt_data_hash"]:
            mismatched.append(task["index"])
        want = [{"action_index": e["action_index"], "observation": e["observation"]}
                for e in expected["gt_action_errors"]]
        if result["errors"] != want:
            wrong_errors.append((task["index"], result["errors"], want))
    assert mismatched == [], f"{split}: tasks whose hash differs: {mismatched}"
    assert wrong_errors == [], f"{split}: error texts differ: {wrong_errors[:3]}"


@needs_anchors
def test_tau_bench_data_switches_tau_compat_on_and_it_matters():
    tasks = load_tasks(ANCHORS / "tasks.json", split="airline_test")
    truth = json.loads((ANCHORS / "gt_hashes.json").read_text())["splits"]["airline_test"]
    auto = load_environment("airline", data_dir=ANCHORS / "airline")
    assert auto.state.options["tau_compat"] is True
    assert load_environment("airline").state.options["tau_compat"] is False
    # τ-bench's data with the corrected tools: tasks that book, change flights or cabin
    # no longer reach τ-bench's hashes (so the hashes above really need τ-bench mode)
    fixed = load_environment("airline", data_dir=ANCHORS / "airline", tau_compat=False)
    assert fixed.state.options["tau_compat"] is False
    differ = [t["index"] for t, want in zip(tasks, truth, strict=True)
              if replay_task(fixed, t, method="tau")["hash"] != want["gt_data_hash"]]
    assert len(differ) >= 10, differ
