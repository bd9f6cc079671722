"""The shipped example blueprints replay cleanly on the default generated data, and the
domain runs offline end to end."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from apigen_mt.cli import app
from apigen_mt.env.domain import load_domain
from apigen_mt.records import Blueprint
from tests.envs_bank.helpers import bank_env, run

EXAMPLES = load_domain("bank").examples()


def test_there_are_examples():
    assert 3 <= len(EXAMPLES) <= 5
    assert len({ex["user_id"] for ex in EXAMPLES}) == len(EXAMPLES)
    for ex in EXAMPLES:
        Blueprint.model_validate(ex)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda ex: ex["user_id"])
def test_example_replays_without_failures_or_violations(example):
    assert example["env"] == "bank"
    assert example["instruction"].startswith("You are ")
    env = bank_env()
    assert example["user_id"] in env.state["customers"]
    data = run(env, [(a["name"], a["arguments"]) for a in example["actions"]])
    assert [a.observation for a in data.actions if not a.ok] == []
    assert any(a.kind == "write" for a in data.actions)
    assert env.diff()
    for rule in load_domain("bank").rules:
        if not rule.conversation_only:
            assert rule.check(data) == [], rule.name
    # the lookup finds the example's customer, and every change is theirs
    assert data.actions[0].observation == example["user_id"]
    replies = " ".join(a.observation for a in data.actions).lower().replace(",", "")
    for output in example["outputs"]:
        assert output.lower().replace(",", "") in replies


def test_offline_run_accepts_trajectories(tmp_path, monkeypatch):
    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
    out = tmp_path / "bank"
    result = CliRunner().invoke(app, ["run", "--env", "bank", "--n", "12", "--out", str(out),
                                      "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    accepted = [json.loads(line) for line in (out / "trajectories.jsonl").open()]
    assert len(accepted) >= 12
    assert all(t["verdict"]["passed"] and t["final_hash"] == t["target_hash"] for t in accepted)
