"""`apigen-mt eval`: pass^k on a fixed task set, with the rollout judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apigen_mt.stats.evaluate import task_to_blueprint
from apigen_mt.stats.passk import pass_hat_k
from tests.conftest import ANCHORS, needs_anchors
from tests.export.conftest import cli, cli_error, rows


def test_eval_on_a_runs_blueprints(run30: Path, tmp_path: Path):
    out = tmp_path / "eval"
    text = cli("eval", "--env", "retail", "--tasks", str(run30 / "blueprints.jsonl"),
               "--trials", "3", "--out", str(out), "--quiet")
    assert "pass^1" in text and "pass^2" in text and "pass^3" in text and "retail" in text
    results = json.loads((out / "results.json").read_text())
    blueprints = rows(run30 / "blueprints.jsonl")
    assert results["tasks"] == len(blueprints) == len(results["per_task"])
    assert [t["blueprint_id"] for t in results["per_task"]] == [b["id"] for b in blueprints]
    episodes = rows(out / "episodes.jsonl")
    assert len(episodes) == 3 * len(blueprints)
    counts = [(sum(e["verdict"]["passed"] for e in episodes if e["blueprint_id"] == b["id"]), 3)
              for b in blueprints]
    for k in (1, 2, 3):
        assert results["pass_hat_k"][str(k)] == pytest.approx(pass_hat_k(counts, k))
    assert results["per_domain"]["retail"]["pass_hat_k"] == results["pass_hat_k"]
    assert f"{results['pass_hat_k']['1']:.3f}" in text
    # the sim agent plays its own blueprints well
    assert results["pass_hat_k"]["1"] > 0.5


@needs_anchors
def test_eval_on_tau_bench_tasks_runs(tmp_path: Path):
    tasks = json.loads((ANCHORS / "tasks.json").read_text())["splits"]["retail_test"][:4]
    file = tmp_path / "tasks.json"
    file.write_text(json.dumps(tasks))
    out = tmp_path / "eval"
    text = cli("eval", "--env", "retail", "--data-dir", str(ANCHORS / "retail"), "--tasks",
               str(file), "--trials", "2", "--out", str(out), "--quiet")
    assert "pass^1" in text and "pass^2" in text
    results = json.loads((out / "results.json").read_text())
    assert results["tasks"] == 4 and [t["index"] for t in results["per_task"]] == [0, 1, 2, 3]
    bp = task_to_blueprint(tasks[0], "retail")
    assert bp.id == results["per_task"][0]["blueprint_id"] and bp.id.startswith("bp-")
    assert bp.actions[0].arguments == tasks[0]["actions"][0]["kwargs"]


def test_eval_bad_input(tmp_path: Path, monkeypatch, capsys):
    code, err = cli_error(monkeypatch, capsys, "eval", "--env", "retail", "--tasks",
                          str(tmp_path / "missing.json"), "--trials", "2")
    assert code == 2 and "not found" in err
    code, err = cli_error(monkeypatch, capsys, "eval", "--env", "retail", "--tasks",
                          str(tmp_path / "missing.json"), "--trials", "0")
    assert code == 2 and "--trials" in err


def test_eval_names_its_protocol_and_tau_is_taus(run30: Path, tmp_path: Path):
    from apigen_mt.rollout.settings import RolloutSettings

    tasks = str(run30 / "blueprints.jsonl")
    ours = cli("eval", "--env", "retail", "--tasks", tasks, "--trials", "1",
               "--out", str(tmp_path / "ours"), "--quiet")
    assert "protocol apigen-mt" in ours
    tau = cli("eval", "--env", "retail", "--tasks", tasks, "--trials", "1",
              "--out", str(tmp_path / "tau"), "--quiet", "--protocol", "tau")
    assert "protocol tau" in tau
    results = json.loads((tmp_path / "tau" / "results.json").read_text())
    assert results["protocol"] == "tau"
    assert json.loads((tmp_path / "ours" / "results.json").read_text())["protocol"] == \
        "apigen-mt"
    episodes = rows(tmp_path / "tau" / "episodes.jsonl")
    # one user sample per turn, so no critic scores
    assert all(turn == [] for e in episodes for turn in e["human_scores"])
    # a skipped confirmation or a recovered invalid call is not held against it
    # (as in τ-bench, a conversation cut off before its end earns nothing)
    assert all(e["verdict"]["passed"] == (e["verdict"]["state_match"]
                                          and not e["verdict"]["missing_outputs"]
                                          and e["end_reason"] in ("stop", "ending_tool"))
               for e in episodes)
    tau_settings = RolloutSettings().for_protocol("tau")
    assert tau_settings.best_of_n == 1 and not tau_settings.reject_invalid_tool_calls
    assert not (tau_settings.judge.consent or tau_settings.judge.identification)


def test_eval_refuses_an_unknown_protocol(monkeypatch, capsys, run30: Path):
    code, err = cli_error(monkeypatch, capsys, "eval", "--env", "retail", "--tasks",
                          str(run30 / "blueprints.jsonl"), "--protocol", "tau2")
    assert code == 2 and "--protocol" in err
