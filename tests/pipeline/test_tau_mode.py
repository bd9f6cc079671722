"""Which tools a run gets: corrected ones on generated data, τ-bench's exact ones on
τ-bench's data, with `tau_compat: true`, and for `env replay --hash tau`; a run keeps the
tools it was made with."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ANCHORS, needs_anchors
from tests.faults.conftest import apigen, cli_env


def _mode(run: Path) -> bool:
    return json.loads((run / "manifest.json").read_text())["env"]["tau_compat"]


def test_generated_data_gets_corrected_tools_unless_the_config_asks(tmp_path: Path):
    env = cli_env(tmp_path)
    plain, tau = tmp_path / "plain", tmp_path / "tau"
    done = apigen("blueprint", "--env", "airline", "--n", "2", "--out", str(plain), "--quiet",
                  env=env)
    assert done.returncode == 0, done.stderr
    assert _mode(plain) is False
    config = tmp_path / "tau.yaml"
    config.write_text("tau_compat: true\n")
    done = apigen("blueprint", "--env", "airline", "--n", "2", "--out", str(tau), "--quiet",
                  "--config", str(config), env=env)
    assert done.returncode == 0, done.stderr
    assert _mode(tau) is True
    # the same setting from the environment, as for every config key
    again = apigen("blueprint", "--env", "airline", "--n", "2", "--out", str(tau), "--quiet",
                   env={**env, "APIGEN_MT_TAU_COMPAT": "true"})
    assert again.returncode == 0, again.stderr
    # resuming with other tools would change what its blueprints mean: refused, untouched
    before = (tau / "blueprints.jsonl").read_bytes()
    refused = apigen("blueprint", "--env", "airline", "--n", "4", "--out", str(tau),
                     "--quiet", env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: {tau} was made with tau_compat: true; its blueprints need the same tools, "
        "so use another --out or the same setting"]
    assert (tau / "blueprints.jsonl").read_bytes() == before


def test_replay_with_tau_hash_uses_tau_bench_tools(tmp_path: Path):
    # fewer bags than booked: τ-bench takes it, the corrected tools refuse it
    env = cli_env(tmp_path)
    from apigen_mt.env.domain import load_environment

    db = load_environment("airline").state
    rid, res = next((r, v) for r, v in db["reservations"].items() if v["total_baggages"] > 0)
    card = next(p for p, m in db["users"][res["user_id"]]["payment_methods"].items()
                if m["source"] == "credit_card")
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([{"user_id": res["user_id"], "actions": [
        {"name": "update_reservation_baggages", "kwargs": {
            "reservation_id": rid, "total_baggages": 0, "nonfree_baggages": 0,
            "payment_id": card}}]}]))
    out = {}
    for method in ("tau", "canonical"):
        done = apigen("env", "replay", "--env", "airline", "--tasks", str(tasks), "--hash",
                      method, env=env)
        assert done.returncode == 0, done.stderr
        out[method] = json.loads(done.stdout.splitlines()[0])
    assert out["tau"]["errors"] == []
    assert [e["observation"] for e in out["canonical"]["errors"]] == [
        "Error: checked bags can be added but not removed"]


@needs_anchors
def test_tau_bench_data_gets_tau_bench_tools(tmp_path: Path):
    out = tmp_path / "run"
    done = apigen("blueprint", "--env", "retail", "--n", "2", "--out", str(out), "--quiet",
                  "--data-dir", str(ANCHORS / "retail"), env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert _mode(out) is True
