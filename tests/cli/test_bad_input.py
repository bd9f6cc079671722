"""Bad input through the real command line (a subprocess, for real exit codes).

Every mistake gets one clear ``error: …`` line on stderr, exit code 2 for usage errors
and 1 for runtime ones, no traceback unless ``--debug``, and nothing already written is
damaged (every file of an existing run directory is hashed before and after).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.faults.conftest import ROLES, apigen, cli_env, rows

LOCK = ".lock"  # holds the pid of the last process that opened the run: not data


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (the lock file excepted)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK}


def one_error_line(result, code: int, *needles: str) -> str:
    """The single ``error: …`` line of a failed command."""
    assert result.returncode == code, (result.returncode, result.stderr, result.stdout)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A small finished offline run, copied by each test that needs an existing run."""
    root = tmp_path_factory.mktemp("cli")
    out = root / "done"
    result = apigen("run", "--env", "retail", "--n", "3", "--out", str(out), "--quiet",
                    env=cli_env(root))
    assert result.returncode == 0, result.stderr
    blueprints = rows(out / "blueprints.jsonl")
    tasks = [{k: b[k] for k in ("user_id", "instruction", "actions", "outputs")}
             for b in blueprints]
    return out, tasks


@pytest.fixture
def existing(finished, tmp_path):
    """A copy of the finished run, and its files' hashes."""
    out = tmp_path / "existing"
    shutil.copytree(finished[0], out)
    return out, snapshot(out)


def _config(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- configuration -------------------------------------------------------------------------

CONFIGS = {
    "malformed-yaml": ('roles:\n  agent: {model: "sim:sim"\n  human: x\n',
                       ["bad.yaml:3: malformed YAML"]),
    "unknown-key": ('roles:\n  agent: {model: "sim:sim"}\nsim:\n  seeed: 3\n',
                    ["bad.yaml:4: sim.seeed: unknown key"]),
    "unknown-role": ('roles:\n  planner: {model: "sim:sim"}\n',
                     ["bad.yaml:2: roles.planner: unknown key"]),
    "not-a-model-ref": ('roles:\n  agent: {model: "gpt-4o"}\n',
                        ["bad.yaml:2: roles.agent.model", "not 'provider:model'"]),
    "unknown-provider": ('roles:\n  agent: {model: "nowhere:gpt"}\n',
                         ["unknown provider 'nowhere'"]),
    "bad-blueprint-setting": ('blueprint: {committee_size: 0}\n',
                              ["blueprint.committee_size"]),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_bad_config_is_one_line_and_touches_nothing(case, existing, tmp_path):
    out, before = existing
    text, needles = CONFIGS[case]
    config = _config(tmp_path, text)
    result = apigen("run", "--env", "retail", "--n", "5", "--out", str(out), "--quiet",
                    "--config", str(config), env=cli_env(tmp_path))
    one_error_line(result, 2, *needles)
    assert snapshot(out) == before


def test_a_missing_config_file_and_a_bad_environment_variable(existing, tmp_path):
    out, before = existing
    missing = apigen("run", "--env", "retail", "--n", "5", "--out", str(out),
                     "--config", str(tmp_path / "nope.yaml"), env=cli_env(tmp_path))
    one_error_line(missing, 2, "nope.yaml: config file not found")
    bad_env = apigen("run", "--env", "retail", "--n", "5", "--out", str(out),
                     env=cli_env(tmp_path, APIGEN_MT_SIM__SEED="many"))
    one_error_line(bad_env, 2, "sim.seed")
    assert snapshot(out) == before


def test_a_key_written_into_a_config_is_refused_without_echoing_it(tmp_path):
    secret = f"sk-in-config-{uuid.uuid4().hex}"
    config = _config(tmp_path, f'endpoints:\n  x: {{base_url: "http://127.0.0.1:9/v1", '
                               f'api_key: "{secret}"}}\n')
    result = apigen("run", "--env", "retail", "--n", "5", "--config", str(config),
                    env=cli_env(tmp_path))
    one_error_line(result, 2, "endpoints.x.api_key: unknown key", "api_key_env")
    assert secret not in result.stderr + result.stdout
    assert not (tmp_path / "runs").exists()


def test_a_missing_api_key_variable_fails_before_the_run_directory_is_touched(
        existing, tmp_path):
    out, before = existing
    config = _config(tmp_path, 'roles:\n  agent: {model: "keyed:m"}\nendpoints:\n'
                               '  keyed: {base_url: "http://127.0.0.1:9/v1", '
                               'api_key_env: APIGEN_TEST_MISSING_KEY}\n')
    for args in (("run", "--env", "retail", "--n", "5", "--out", str(out)),
                 ("blueprint", "--env", "retail", "--n", "5", "--out", str(out)),
                 ("rollout", "--run", str(out), "--n", "5")):
        result = apigen(*args, "--config", str(config), env=cli_env(tmp_path))
        one_error_line(result, 2, "endpoint 'keyed' needs the environment variable "
                                  "APIGEN_TEST_MISSING_KEY")
        assert snapshot(out) == before, args  # manifest and config.json included
    fresh = tmp_path / "fresh"
    result = apigen("run", "--env", "retail", "--n", "5", "--out", str(fresh),
                    "--config", str(config), env=cli_env(tmp_path))
    one_error_line(result, 2)
    assert not fresh.exists()


# --- names, numbers and paths --------------------------------------------------------------

@pytest.mark.parametrize(("args", "needles"), [
    (("run", "--env", "nowhere"), ["unknown environment 'nowhere'", "retail"]),
    (("blueprint", "--env", "nowhere"), ["unknown environment 'nowhere'"]),
    (("run", "--env", "retail", "--n", "0"), ["--n must be between 1 and 10,000,000, got 0"]),
    (("run", "--env", "retail", "--n", "-4"), ["--n must be between 1 and 10,000,000, got -4"]),
    (("blueprint", "--env", "retail", "--n", "0"), ["--n must be between 1 and"]),
    (("blueprint", "--env", "retail", "--n", "-1"), ["--n must be between 1 and"]),
    (("run", "--env", "retail", "--concurrency", "0"), ["--concurrency must be between 1"]),
    (("run", "--env", "retail", "--trials", "-2"), ["--trials must be between 1 and 1,000"]),
])
def test_bad_names_and_numbers(args, needles, existing, tmp_path):
    out, before = existing
    result = apigen(*args, "--out", str(out), env=cli_env(tmp_path))
    one_error_line(result, 2, *needles)
    assert snapshot(out) == before


@pytest.mark.parametrize("n", ["0", "-3"])
def test_rollout_n_zero_or_negative(n, existing, tmp_path):
    out, before = existing
    result = apigen("rollout", "--run", str(out), "--n", n, env=cli_env(tmp_path))
    one_error_line(result, 2, f"--n must be between 1 and 10,000,000, got {n}")
    assert snapshot(out) == before


def test_a_run_directory_that_cannot_be_written(tmp_path):
    # tests run as root, which ignores permission bits: use places no one can write
    a_file = tmp_path / "plain-file"
    a_file.write_text("not a directory\n")
    for out, why in ((a_file / "run", "Not a directory"), (Path("/proc/apigen-mt-run"), "")):
        result = apigen("run", "--env", "retail", "--n", "3", "--out", str(out),
                        env=cli_env(tmp_path))
        one_error_line(result, 2, f"cannot write to the run directory {out}", why)
    assert a_file.read_text() == "not a directory\n"


def test_rollout_without_a_run(tmp_path):
    result = apigen("rollout", "--n", "3", env=cli_env(tmp_path))
    one_error_line(result, 2, "no run yet")
    result = apigen("rollout", "--run", str(tmp_path), "--n", "3", env=cli_env(tmp_path))
    one_error_line(result, 2, "is not a run directory")


def test_debug_shows_the_traceback(tmp_path):
    result = apigen("--debug", "run", "--env", "nowhere", env=cli_env(tmp_path))
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: unknown environment")


# --- tasks and blueprints files ------------------------------------------------------------

def test_a_tasks_file_with_a_bad_line_names_the_line(finished, tmp_path):
    _, tasks = finished
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(tasks[0]) + "\n" + '{"user_id": "x", "actions": [\n'
                    + json.dumps(tasks[1]) + "\n")
    before = path.read_bytes()
    for args in (("blueprint", "check", "--env", "retail"), ("env", "replay", "--env", "retail"),
                 ("eval", "--env", "retail", "--trials", "1", "--out", str(tmp_path / "ev"))):
        result = apigen(*args, "--tasks", str(path), env=cli_env(tmp_path))
        one_error_line(result, 2, f"{path}:2: not valid JSON")
    assert path.read_bytes() == before


def test_an_unknown_tool_in_a_tasks_file_is_named(finished, tmp_path):
    _, tasks = finished
    tasks = json.loads(json.dumps(tasks))[:2]
    tasks[1]["actions"][0]["name"] = "teleport_order"
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))
    # the linter reports it as that task's finding, one JSON line per task
    result = apigen("blueprint", "check", "--env", "retail", "--tasks", str(path),
                    env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    found = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert [r["accepted"] for r in found] == [i != 1 for i in range(len(tasks))]
    assert found[1]["stage"] == "format"
    assert found[1]["reasons"] == ["action 0: unknown tool 'teleport_order'"]
    # replay reports the failing call in that task's row
    result = apigen("env", "replay", "--env", "retail", "--tasks", str(path),
                    env=cli_env(tmp_path))
    assert result.returncode == 0
    assert "unknown tool 'teleport_order'" in result.stdout.splitlines()[1]


def test_eval_refuses_a_task_with_an_unknown_tool(finished, tmp_path):
    _, tasks = finished
    tasks = json.loads(json.dumps(tasks))[:2]
    tasks[1]["actions"][0]["name"] = "teleport_order"
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))
    result = apigen("eval", "--env", "retail", "--tasks", str(path), "--trials", "1",
                    "--out", str(tmp_path / "ev"), "--quiet", env=cli_env(tmp_path))
    one_error_line(result, 2, "teleport_order")


BAD_LINES = {
    "not-json-in-the-middle": (1, b'{"id": "bp-broken", "actions": [\n'),
    "not-json-last-line": (None, b"this is not json\n"),
    "json-but-not-a-blueprint": (1, b'{"hello": "world"}\n'),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_bad_line_in_a_runs_blueprints_file_is_named_and_left_alone(case, existing,
                                                                      tmp_path):
    out, _ = existing
    index, bad = BAD_LINES[case]
    path = out / "blueprints.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    if index is None:
        lines.append(bad)
    else:
        lines[index] = bad
    path.write_bytes(b"".join(lines))
    lineno = len(lines) if index is None else index + 1
    before = snapshot(out)
    result = apigen("rollout", "--run", str(out), "--n", "9", "--quiet", env=cli_env(tmp_path))
    one_error_line(result, 2, f"{path}:{lineno}:")
    assert snapshot(out) == before  # neither cut nor rewritten


# --- endpoints -----------------------------------------------------------------------------

def _endpoint_config(tmp_path: Path, base_url: str, **extra: str) -> Path:
    settings = {"base_url": f'"{base_url}"', "timeout_s": "2", "max_retries": "1",
                "retry_backoff_s": "0.01", "retry_backoff_max_s": "0.02", **extra}
    ep = ", ".join(f"{k}: {v}" for k, v in settings.items())
    roles = "\n".join(f'  {r}: {{model: "local:sim"}}' for r in ROLES)
    return _config(tmp_path, f"roles:\n{roles}\n  reviewers: [{{model: \"local:sim\"}}]\n"
                             f"endpoints:\n  local: {{{ep}}}\n", "local.yaml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_stops_the_run_with_one_line(existing, tmp_path):
    out, before = existing
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nobody listens there
    config = _endpoint_config(tmp_path, url, api_key_required="false")
    for args in (("run", "--env", "retail", "--n", "6", "--out", str(out)),
                 ("blueprint", "--env", "retail", "--n", "6", "--out", str(out)),
                 ("rollout", "--run", str(out), "--n", "6")):
        started = time.monotonic()
        # --force-config: the run was made with the sim; this resume points it at a server
        result = apigen(*args, "--quiet", "--config", str(config), "--force-config",
                        env=cli_env(tmp_path), timeout=60)
        # probed once before the run: the same words as `apigen-mt check`, in seconds
        one_error_line(result, 1, f"local ({url}): unreachable", "nothing was run")
        assert time.monotonic() - started < 20, args
        assert snapshot(out) == before, args  # not a byte written


def test_a_planted_api_key_appears_in_no_file_log_or_export(serve, tmp_path):
    secret = f"sk-planted-{uuid.uuid4().hex}"
    handle = serve(api_key=secret)
    # a generous timeout: a loaded machine must not turn a slow reply into a failure
    config = _endpoint_config(tmp_path, handle.base_url, api_key_env="APIGEN_TEST_PLANTED_KEY",
                              timeout_s="300", max_retries="3")
    env = cli_env(tmp_path, APIGEN_TEST_PLANTED_KEY=secret)
    out = tmp_path / "runs" / "planted"
    outputs = []
    for args in (("run", "--env", "retail", "--n", "4", "--out", str(out), "--quiet"),
                 ("export", "--run", str(out), "--format", "sharegpt"),
                 ("export", "--run", str(out), "--format", "openai", "--include-failed"),
                 ("stats", "--run", str(out), "--html", str(tmp_path / "report.html")),
                 ("check",)):
        result = apigen(*args, "--config", str(config), env=env) if args[0] in (
            "run", "check") else apigen(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        outputs.append(result.stdout + result.stderr)
    assert handle.stats()["requests"] > 0 and handle.stats()["unauthorized"] == 0
    # a wrong key is refused, and the refusal does not echo either key
    wrong = apigen("run", "--env", "retail", "--n", "5", "--out", str(out.parent / "wrong"),
                   "--quiet",
                   "--config", str(config), env=cli_env(tmp_path,
                                                        APIGEN_TEST_PLANTED_KEY="sk-wrong"))
    one_error_line(wrong, 1, "rejected the API key (HTTP 401)")
    outputs.append(wrong.stdout + wrong.stderr)

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "responses.jsonl" for p in files)  # the cache was searched too
    assert any("export" in p.parts for p in files)
    leaks = [str(p) for p in files if secret.encode() in p.read_bytes()
             and p.name != "local.yaml"]
    assert leaks == []
    assert not any(secret in text for text in outputs)
    assert secret not in (tmp_path / "local.yaml").read_text()  # the config names the variable
