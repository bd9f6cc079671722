"""The four class environments end to end through the installed ``apigen-mt`` command:
``run --env-class … --env-config … --n 10`` offline yields 10 verified conversations, and
an independent replay (``apigen-mt env replay`` in another process, and the
conversation's own tool calls on a fresh copy) reaches each one's target state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apigen_mt.env.domain import load_environment
from tests.faults.conftest import cli_env, rows

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "classes"
COMMAND = str(Path(sys.executable).with_name("apigen-mt"))  # the installed entry point
CLASSES = [pytest.param("shell", "Shell", "mount", id="shell"),
           pytest.param("helpdesk", "HelpDesk", None, id="helpdesk"),
           pytest.param("feed", "Feed", None, id="feed"),
           pytest.param("vehicle", "Vehicle", None, id="vehicle")]


def installed(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The installed command, run from the repository (the classes import from there)."""
    return subprocess.run([COMMAND, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(("module", "cls", "init"), CLASSES)
def test_ten_verified_conversations_whose_replays_reach_their_targets(tmp_path, module, cls,
                                                                      init):
    out = tmp_path / module
    config = FIXTURES / f"{module}_init.json"
    target = f"tests.fixtures.classes.{module}:{cls}"
    flags = ["--env-init", init] if init else []
    result = installed("run", "--env-class", target, "--env-config", str(config), *flags,
                       "--n", "10", "--out", str(out), "--quiet", env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    kept = rows(out / "trajectories.jsonl")
    blueprints = {b["id"]: b for b in rows(out / "blueprints.jsonl")}
    assert len(kept) == 10
    # an independent process replays every blueprint's ground truth
    tasks = tmp_path / "tasks.jsonl"
    order = list(blueprints)
    tasks.write_text("".join(json.dumps(blueprints[i]) + "\n" for i in order))
    spec = f"class:{target}" + (f"@{init}" if init else "")
    replay = installed("env", "replay", "--env", spec, "--data-dir", str(config), "--tasks",
                       str(tasks), env=cli_env(tmp_path))
    assert replay.returncode == 0, replay.stderr
    replayed = {order[row["index"]]: row for row in map(json.loads, replay.stdout.splitlines())}
    env = load_environment(spec, data_dir=str(config))
    free_text = 0
    for trajectory in kept:
        bp = blueprints[trajectory["blueprint_id"]]
        assert not replayed[bp["id"]]["errors"]
        assert replayed[bp["id"]]["hash"] == trajectory["target_hash"] == \
            trajectory["final_hash"]
        conversation = env.fresh()
        for message in trajectory["messages"]:
            for call in message.get("tool_calls") or []:
                conversation.execute(call["function"]["name"],
                                     json.loads(call["function"]["arguments"]))
        assert conversation.hash() == trajectory["target_hash"]
        assert conversation.diff()  # every kept conversation changed something
        initial = json.dumps(env.state.materialize())
        free_text += any(isinstance(v, str) and len(v) > 12 and v not in initial
                         for a in bp["actions"] for v in a["arguments"].values())
    if module != "vehicle":  # the car takes no free text; the others need invented text
        assert free_text >= 3, free_text


def test_a_json_that_fits_nothing_is_one_clear_line(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text('{"colour": "red"}')
    result = installed("run", "--env-class", "tests.fixtures.classes.feed:Feed",
                       "--env-config", str(config), "--n", "1", "--out",
                       str(tmp_path / "out"), env=cli_env(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: Feed: the JSON keys (colour) match neither Feed.__init__'s parameters (none) "
        "nor its attributes (clock, posts, profiles); name a loader method with --env-init "
        "METHOD"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("module", "cls", "init"), CLASSES)
def test_the_walk_drafter_drafts_accepted_blueprints(tmp_path, module, cls, init):
    out = tmp_path / module
    flags = ["--env-init", init] if init else []
    result = installed("blueprint", "--drafter", "walk", "--env-class",
                       f"tests.fixtures.classes.{module}:{cls}", "--env-config",
                       str(FIXTURES / f"{module}_init.json"), *flags, "--n", "5", "--out",
                       str(out), "--quiet", env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    accepted = rows(out / "blueprints.jsonl")
    assert len(accepted) == 5
    env = load_environment(f"class:tests.fixtures.classes.{module}:{cls}"
                           + (f"@{init}" if init else ""),
                           data_dir=str(FIXTURES / f"{module}_init.json"))
    for bp in accepted:
        replayed = env.fresh()
        ran = replayed.replay(bp["actions"])
        assert all(step.ok for step in ran) and replayed.diff()
