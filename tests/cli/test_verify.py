"""`apigen-mt verify`, through the installed command: three input formats, agreement
with recorded rewards, and bad input that is reported line by line, never a crash."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.rollout.conversations import cancel_blueprint, clean_cancel, pending_order, retail

EXE = shutil.which("apigen-mt")
pytestmark = pytest.mark.skipif(EXE is None, reason="apigen-mt is not installed")


def verify(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, "verify", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> Path:
    """A tasks file (blueprints JSONL) with the cancel task."""
    env = retail()
    path = tmp_path_factory.mktemp("tasks") / "blueprints.jsonl"
    path.write_text(cancel_blueprint(env).model_dump_json() + "\n")
    return path


def test_openai_chat_jsonl_by_blueprint_id_and_task_index(tasks: Path, tmp_path: Path):
    env = retail()
    bp = cancel_blueprint(env)
    good = clean_cancel(env).messages
    skipped = clean_cancel(env, ask=False).messages
    convs = tmp_path / "chats.jsonl"
    convs.write_text("\n".join(json.dumps(row) for row in [
        {"messages": good, "blueprint_id": bp.id},
        {"messages": skipped, "task_index": 0},
        {"messages": good, "task_index": 0}]) + "\n")
    done = verify("--env", "retail", "--tasks", str(tasks), "--conversations", str(convs),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = lines(done.stdout)
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert [r["passed"] for r in rows] == [True, False, True]
    assert rows[0]["task"] == bp.id and rows[1]["task"] == 0
    assert any("consent" in reason for reason in rows[1]["reasons"])
    assert "recorded_reward" not in rows[0]
    assert done.stdout.strip().splitlines()[-1].startswith("2 of 3 passed")


def test_tau_bench_results_json_with_recorded_rewards(tasks: Path, tmp_path: Path):
    env = retail()
    bp = cancel_blueprint(env)
    task = {"user_id": bp.user_id, "instruction": bp.instruction, "outputs": [],
            "actions": [{"name": a.name, "kwargs": a.arguments} for a in bp.actions]}
    skipped = clean_cancel(env, ask=False).messages
    results = [
        {"task_id": 0, "reward": 1.0, "info": {"task": task}, "traj": clean_cancel(env).messages},
        {"task_id": 7, "reward": 1.0, "info": {"task": task}, "traj": skipped},
        {"task_id": 0, "reward": 0.0, "info": {}, "traj": clean_cancel(env).messages},
    ]
    file = tmp_path / "results.json"
    file.write_text(json.dumps(results))
    out = tmp_path / "verdicts.jsonl"
    done = verify("--env", "retail", "--tasks", str(tasks), "--conversations", str(file),
                  "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = lines(out.read_text())
    judged, summary = rows[:-1], rows[-1]
    assert [r["passed"] for r in judged] == [True, False, True]
    assert [r["recorded_reward"] for r in judged] == [1.0, 1.0, 0.0]
    assert judged[1]["task"] == 7  # the task came from info.task, not the tasks file
    assert summary["agreement"] == [1, 3]
    assert "2 of 3 passed; agreement with recorded reward 1/3" in done.stdout
    # τ-bench's protocol judges state and outputs only: it agrees on the skipped consent
    tau = verify("--env", "retail", "--tasks", str(tasks), "--conversations", str(file),
                 "--protocol", "tau", cwd=tmp_path)
    assert [r["passed"] for r in lines(tau.stdout)] == [True, True, True]
    assert "agreement with recorded reward 2/3" in tau.stdout and "protocol tau" in tau.stdout


def test_the_projects_own_trajectories_agree_with_their_verdicts(tmp_path: Path):
    run = tmp_path / "run"
    # agents that get arguments wrong now and then, so both files have trajectories
    flaws = tmp_path / "flaws.yaml"
    flaws.write_text("sim:\n  flaws:\n    agent.wrong_argument: 0.5\n"
                     "    agent.bad_json: 0.0\n")
    made = subprocess.run([EXE, "run", "--env", "retail", "--n", "6", "--out", str(run),
                           "--quiet", "--config", str(flaws)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert made.returncode == 0, made.stderr
    for name in ("trajectories.jsonl", "trajectories.failed.jsonl"):
        done = verify("--env", "retail", "--tasks", str(run / "blueprints.jsonl"),
                      "--conversations", str(run / name), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        rows = lines(done.stdout)
        total = sum(1 for line in (run / name).read_text().splitlines() if line.strip())
        assert total and len(rows) == total
        assert f"agreement with recorded reward {total}/{total}" in done.stdout
    assert all(r["passed"] for r in lines(verify(
        "--env", "retail", "--tasks", str(run / "blueprints.jsonl"), "--conversations",
        str(run / "trajectories.jsonl"), cwd=tmp_path).stdout))


def test_bad_input_is_one_line_per_problem_and_the_rest_is_judged(tasks: Path, tmp_path: Path):
    env = retail()
    bp = cancel_blueprint(env)
    good = clean_cancel(env).messages
    ghost = clean_cancel(env).messages
    order_id, _, _ = pending_order(env)
    ghost.insert(-2, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "x", "type": "function", "function": {"name": "teleport_order",
                                                     "arguments": json.dumps({"id": order_id})}}]})
    convs = tmp_path / "mixed.jsonl"
    convs.write_text("\n".join([
        json.dumps({"messages": good, "blueprint_id": "bp-doesnotexist"}),
        '{"messages": [',
        json.dumps({"messages": ghost, "blueprint_id": bp.id}),
        json.dumps({"messages": good, "task_index": 0}),
        json.dumps({"messages": good}),
        json.dumps({"messages": ["hello", {"role": "user"}], "task_index": 0}),
        json.dumps({"messages": [{"role": "assistant", "tool_calls": ["x"]}], "task_index": 0}),
    ]) + "\n")
    done = verify("--env", "retail", "--tasks", str(tasks), "--conversations", str(convs),
                  cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    problems = [line for line in done.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 6, done.stderr
    assert f"{convs}:1: blueprint_id 'bp-doesnotexist' is not a task" in problems[0]
    assert f"{convs}:2: not valid JSON" in problems[1]
    assert "tool that does not exist: 'teleport_order'" in problems[2]
    assert f"{convs}:5: names no task" in problems[3]
    assert f"{convs}:6: message 0 is not an object with a 'role'" in problems[4]
    assert f"{convs}:7: message 0 has tool_calls" in problems[5]
    rows = lines(done.stdout)
    assert [(r["index"], r["passed"]) for r in rows] == [(2, False), (3, True)]
    assert any("invalid tool call" in reason for reason in rows[0]["reasons"])
    assert "1 of 2 passed; 6 problem(s) in the input" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("error: 6 problem(s)")


def test_missing_files_are_usage_errors(tasks: Path, tmp_path: Path):
    done = verify("--env", "retail", "--tasks", str(tasks), "--conversations",
                  str(tmp_path / "nope.jsonl"), cwd=tmp_path)
    assert done.returncode == 2 and "--conversations" in done.stderr
    done = verify("--env", "retail", "--tasks", str(tmp_path / "none.json"), "--conversations",
                  str(tasks), cwd=tmp_path)
    assert done.returncode == 2 and "none.json" in done.stderr
    done = verify("--env", "retail", "--tasks", str(tasks), "--conversations", str(tasks),
                  "--protocol", "nope", cwd=tmp_path)
    assert done.returncode == 2 and "--protocol" in done.stderr


def _tau_traj(task: dict, nested_extras: bool) -> list[dict]:
    """A τ-bench-style trajectory that makes the task's ground-truth calls and says its
    outputs; the recorded observations are made up (verify must not trust them)."""
    traj = [{"role": "system", "content": "policy"}, {"role": "user", "content": "Hi"}]
    for i, action in enumerate(task["actions"]):
        kwargs = dict(action["kwargs"])
        if nested_extras and action["name"] == "book_reservation":
            kwargs["flights"] = [{**f, "origin": "SFO", "destination": "JFK"}
                                 for f in kwargs["flights"]]
        traj.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function",
             "function": {"name": action["name"], "arguments": json.dumps(kwargs)}}]})
        traj.append({"role": "tool", "tool_call_id": f"c{i}", "name": action["name"],
                     "content": "all good"})
    traj.append({"role": "assistant", "content": " and ".join(task["outputs"]) or "Done."})
    return traj


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_tau_bench_results_replay_to_taus_reward(domain: str, tmp_path: Path):
    from tests.conftest import ANCHORS

    if not (ANCHORS / "tasks.json").exists():
        pytest.skip(f"τ-bench anchors not found at {ANCHORS}")
    split = f"{domain}_test"
    tasks = json.loads((ANCHORS / "tasks.json").read_text())["splits"][split]
    picked = [t for t in tasks if domain == "retail" or any(
        a["name"] == "book_reservation" for a in t["actions"])][:12]
    results = [{"task_id": t["index"], "reward": 1.0, "info": {"task": t},
                "traj": _tau_traj(t, nested_extras=True)} for t in picked]
    # a conversation that skips the last write: τ-bench would give it 0
    short = dict(picked[0], actions=picked[0]["actions"][:-1])
    results.append({"task_id": picked[0]["index"], "reward": 0.0, "info": {"task": picked[0]},
                    "traj": _tau_traj(short, nested_extras=False)})
    file = tmp_path / "results.json"
    file.write_text(json.dumps(results))
    done = verify("--env", domain, "--data-dir", str(ANCHORS / domain), "--tasks",
                  str(ANCHORS / "tasks.json"), "--split", split, "--conversations", str(file),
                  "--protocol", "tau", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = lines(done.stdout)
    assert [r["passed"] for r in rows] == [True] * len(picked) + [False]
    n = len(picked) + 1
    assert f"{len(picked)} of {n} passed; agreement with recorded reward {n}/{n}" in done.stdout
    # our own protocol also wants consent before each write: none was asked for here
    ours = lines(verify("--env", domain, "--data-dir", str(ANCHORS / domain), "--tasks",
                        str(ANCHORS / "tasks.json"), "--split", split, "--conversations",
                        str(file), cwd=tmp_path).stdout)
    writes = [any(a["name"] not in ("find_user_id_by_email", "find_user_id_by_name_zip")
                  and not a["name"].startswith(("get_", "search_", "list_", "calculate",
                                                "think", "transfer_to_human"))
                  for a in t["actions"]) for t in picked]
    assert [r["passed"] for r in ours[:len(picked)]] == [not w for w in writes]
