"""--max-cost / --max-calls stop a run at its budget; a rerun with more resumes; usage is
on disk as the run goes (a kill loses none of it)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from apigen_mt.llm.usage_log import USAGE_FILE, spent, summary
from tests.faults.conftest import apigen, cli_env, file_bytes, popen, rows, write_config

PRICES = {"price_input_per_m": 1.0, "price_output_per_m": 4.0}


def test_max_cost_stops_at_the_budget_and_a_higher_budget_resumes(tmp_path: Path, serve):
    server = serve()
    cfg = write_config(tmp_path, server.base_url, rollout_concurrency=8, timeout_s=300,
                       **PRICES)
    env = cli_env(tmp_path)
    whole = tmp_path / "whole"
    done = apigen("run", "--env", "retail", "--n", "6", "--config", str(cfg),
                  "--out", str(whole), "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    full_cost = spent(whole / USAGE_FILE).cost
    assert full_cost > 0

    budget = round(full_cost * 0.5, 4)
    run = tmp_path / "budget"
    args = ("run", "--env", "retail", "--n", "6", "--config", str(cfg), "--out", str(run),
            "--quiet")
    first = apigen(*args, "--max-cost", str(budget), env=env)
    assert first.returncode == 0, first.stderr
    stop = [line for line in first.stdout.splitlines() if line.startswith("stopped at the")]
    assert len(stop) == 1 and f"of --max-cost {budget:g}" in stop[0], first.stdout
    paid = spent(run / USAGE_FILE)
    # stops at the budget: what was in flight when it was reached may finish, no more
    assert budget <= paid.cost < budget + 0.25 * full_cost
    kept = len(rows(run / "trajectories.jsonl"))
    assert kept < 6
    manifest = json.loads((run / "manifest.json").read_text())
    assert abs(sum(u["cost"] for u in manifest["usage"].values()) - paid.cost) < 1e-6

    again = apigen(*args, "--max-cost", str(budget), env=env)  # same budget: nothing to do
    assert again.returncode == 0 and "stopped at the budget" in again.stdout
    assert len(rows(run / "trajectories.jsonl")) == kept

    more = apigen(*args, "--max-cost", str(round(full_cost * 3, 4)), env=env)
    assert more.returncode == 0, more.stderr
    assert "stopped at the budget" not in more.stdout
    assert len(rows(run / "trajectories.jsonl")) == 6
    # the stop and the resume leave the same data an uninterrupted run writes
    assert file_bytes(run) == file_bytes(whole)
    # the run's spend per role, in stats and in the dataset card
    shown = apigen("stats", "--run", str(run), env=env)
    assert shown.returncode == 0 and "Usage per role" in shown.stdout
    assert any(line.split()[:2] == ["rollout", "critic"] for line in
               shown.stdout.replace("│", " ").splitlines() if line.strip())
    assert apigen("export", "--run", str(run), "--format", "sharegpt", env=env).returncode == 0
    card = (run / "export" / "sharegpt" / "README.md").read_text()
    assert "| rollout | human |" in card and "| blueprint | drafter |" in card


def test_max_calls_offline_and_bad_budgets(tmp_path: Path):
    env = cli_env(tmp_path)
    run = tmp_path / "r"
    out = apigen("run", "--env", "retail", "--n", "5", "--out", str(run), "--quiet",
                 "--max-calls", "40", env=env)
    assert out.returncode == 0, out.stderr
    assert "stopped at the budget (40 model calls made of --max-calls 40)" in \
        " ".join(out.stdout.split())
    total = spent(run / USAGE_FILE)
    assert 40 <= total.calls < 40 + 64
    for bad in (("--max-cost", "-1"), ("--max-calls", "0")):
        res = apigen("run", "--env", "retail", "--n", "5", "--out", str(tmp_path / "x"),
                     *bad, env=env)
        assert res.returncode == 2 and bad[0] in res.stderr
        assert not (tmp_path / "x").exists()


def test_a_killed_run_keeps_the_usage_of_every_answered_call(tmp_path: Path, serve):
    server = serve(latency_ms=5)
    # a generous timeout: a retried attempt would be a second request for one call
    cfg = write_config(tmp_path, server.base_url, rollout_concurrency=8, timeout_s=300,
                       **PRICES)
    run = tmp_path / "killed"
    proc = popen("run", "--env", "retail", "--n", "40", "--config", str(cfg),
                 "--out", str(run), "--quiet", env=cli_env(tmp_path))
    deadline = time.monotonic() + 60
    while len(rows(run / "trajectories.jsonl")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    answered = server.stats()["requests"]
    usage = summary(run / USAGE_FILE)
    paid = usage["total"]["calls"] - usage["total"]["cache_hits"]
    # Every answer the client read is counted. Not counted: requests in flight at the kill
    # (≤ 8 episodes) and those cancelled when phase 1 stopped (≤ 8 slots × 3 reviewers).
    assert answered - 8 - 24 <= paid <= answered
    assert usage["total"]["cost"] > 0
    played = rows(run / "trajectories.jsonl") + rows(run / "trajectories.failed.jsonl")
    in_records = sum(t["usage"]["calls"] for t in played)
    assert 0 < in_records <= usage["rollout"]["calls"]
    for t in played:  # each trajectory carries its own calls and tokens, per role
        roles = t["usage"]["roles"]
        assert t["usage"]["calls"] == sum(r["calls"] for r in roles.values())
        assert roles["agent"]["prompt_tokens"] > 0
