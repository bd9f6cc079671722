"""Nothing lost, mixed or leaked: each case through the installed ``apigen-mt`` command.

Every test runs the console script pip installed (not ``python -m``), so the exit-code
contract is checked where users meet it, whatever click typer vendors. Each asserts the
exit code, the one ``error: …`` line, and that every file that was there before is
byte-identical afterwards. No test depends on the machine's speed: servers answer at
once or fail on purpose, timeouts are generous, and waits poll for a file, not a clock.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_bad_input import one_error_line, snapshot
from tests.faults.conftest import ROLES, cli_env, rows

ENTRY = Path(sys.executable).parent / "apigen-mt"


def cli(*args: str, env: dict[str, str], timeout: float = 300,
        preexec=None) -> subprocess.CompletedProcess:
    """The installed console script, in a subprocess."""
    assert ENTRY.exists(), f"the apigen-mt entry point is not installed next to {sys.executable}"
    return subprocess.run([str(ENTRY), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A small finished offline run (copied by each test that changes anything)."""
    root = tmp_path_factory.mktemp("reliable")
    out = root / "run"
    result = cli("run", "--env", "retail", "--n", "3", "--out", str(out), "--quiet",
                 env=cli_env(root))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def run(done, tmp_path):
    """A copy of the finished run and the hashes of its files."""
    out = tmp_path / "run"
    shutil.copytree(done, out)
    return out, snapshot(out)


def unchanged(folder: Path, before: dict[str, str]) -> None:
    after = snapshot(folder)
    assert {k: after.get(k) for k in before} == before


def _endpoint_config(folder: Path, base_url: str, headers: str = "",
                     name: str = "local.yaml", retries: int = 2) -> Path:
    roles = "\n".join(f'  {r}: {{model: "local:sim"}}' for r in ROLES)
    extra = f", extra_headers: {{{headers}}}" if headers else ""
    path = folder / name
    path.write_text(f'roles:\n{roles}\n  reviewers: [{{model: "local:sim"}}]\nendpoints:\n'
                    f'  local: {{base_url: "{base_url}", api_key_required: false, '
                    f'timeout_s: 300, max_retries: {retries}, retry_backoff_s: 0.01{extra}}}\n')
    return path


# --- usage errors: exit 2, naming the option -------------------------------------------------

@pytest.mark.parametrize(("args", "option"), [
    (("run", "--env", "retail", "--n", "abc"), "'--n'"),
    (("run", "--env", "retail", "--bogus"), "--bogus"),
    (("run", "--env", "retail", "--n"), "--n"),
    (("export",), "'--format'"),
    (("rollout", "--trials", "1000000000"), "--trials must be between 1 and 1,000"),
    (("rollout", "--best-of-n", "1000000"), "--best-of-n must be between 1 and 64"),
    (("run", "--env", "retail", "--concurrency", "100000000"), "--concurrency must be between"),
    (("run", "--env", "retail", "--n", "100000000000000000000000"), "--n must be between"),
    (("eval", "--env", "retail", "--tasks", "t.json", "--trials", "0"), "--trials must be"),
    (("env", "data", "retail", "--out", "d", "--users", "0"), "--users must be between"),
])
def test_usage_errors_exit_2_and_name_the_option(args, option, run, tmp_path):
    out, before = run
    env = cli_env(tmp_path)
    started = time.monotonic()
    result = cli(*args, *(("--run", str(out)) if args[0] in ("rollout", "export") else ()),
                 env=env)
    one_error_line(result, 2, option)
    assert time.monotonic() - started < 120  # refused before any work, never a long run
    unchanged(out, before)


def test_typer_exit_codes_hold_for_the_vendored_click():
    """The boundary recognises the parser's exceptions whatever module defines them."""
    from apigen_mt.errors import parser_exit

    class UsageError(Exception):
        exit_code = 1

        def format_message(self) -> str:
            return "Missing option '--format'."

    assert parser_exit(UsageError()) == (2, "Missing option '--format'.")
    assert parser_exit(ValueError("x")) is None


# --- outputs never overwrite inputs or run files ----------------------------------------------

def test_stats_html_refuses_a_run_file(run, tmp_path):
    out, before = run
    result = cli("stats", "--run", str(out), "--html", str(out / "trajectories.jsonl"),
                 env=cli_env(tmp_path))
    one_error_line(result, 2, "--html", "trajectories.jsonl")
    unchanged(out, before)


def test_replay_dump_state_refuses_its_own_tasks_file(run, tmp_path):
    out, before = run
    tasks = out / "blueprints.jsonl"
    result = cli("env", "replay", "--env", "retail", "--tasks", str(tasks), "--dump-state",
                 str(tasks), env=cli_env(tmp_path))
    one_error_line(result, 2, "--dump-state", "input")
    unchanged(out, before)


def test_verify_out_refuses_its_own_conversations_file(run, tmp_path):
    out, before = run
    conversations = out / "trajectories.jsonl"
    result = cli("verify", "--env", "retail", "--tasks", str(out / "blueprints.jsonl"),
                 "--conversations", str(conversations), "--out", str(conversations),
                 env=cli_env(tmp_path))
    one_error_line(result, 2, "--out", "input")
    unchanged(out, before)


def test_eval_out_refuses_a_run_directory(run, tmp_path):
    out, before = run
    result = cli("eval", "--env", "retail", "--tasks", str(out / "blueprints.jsonl"),
                 "--trials", "1", "--out", str(out), env=cli_env(tmp_path))
    one_error_line(result, 2, "--out", "run directory")
    unchanged(out, before)


def test_blueprint_out_refuses_a_foreign_non_empty_folder(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}\n')
    (mine / "notes.txt").write_text("keep me\n")
    before = snapshot(mine)
    result = cli("blueprint", "--env", "retail", "--n", "2", "--out", str(mine),
                 env=cli_env(tmp_path))
    one_error_line(result, 2, "not empty", "not a run directory")
    unchanged(mine, before)
    assert sorted(p.name for p in mine.iterdir()) == ["config.json", "notes.txt"]


def test_a_run_without_its_manifest_refuses_another_env(run, tmp_path):
    out, _ = run
    (out / "manifest.json").unlink()
    before = snapshot(out)
    result = cli("run", "--env", "airline", "--n", "3", "--out", str(out), "--quiet",
                 env=cli_env(tmp_path))
    one_error_line(result, 2, "blueprints.jsonl:1", "'retail'", "'airline'")
    unchanged(out, before)


# --- one configuration per run ----------------------------------------------------------------

def test_a_resume_with_another_configuration_is_refused_with_a_diff(run, tmp_path):
    out, before = run
    env = cli_env(tmp_path, APIGEN_MT_SIM__SEED="5")
    result = cli("run", "--env", "retail", "--n", "4", "--out", str(out), "--quiet", env=env)
    one_error_line(result, 2, "another blueprint configuration", "sim.seed 0 → 5",
                   "--force-config")
    unchanged(out, before)

    forced = cli("run", "--env", "retail", "--n", "4", "--out", str(out), "--quiet",
                 "--force-config", env=env)
    assert forced.returncode == 0, forced.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    changes = manifest["config_changes"]
    assert {c["phase"] for c in changes} == {"blueprint", "rollout"}
    assert all("sim.seed 0 → 5" in c["changed"] for c in changes)
    assert manifest["fingerprint"]["rollout"]["values"]["sim.seed"] == 5


def test_what_only_changes_speed_or_extends_a_run_is_not_a_new_configuration(run, tmp_path):
    out, _ = run
    result = cli("rollout", "--run", str(out), "--n", "3", "--trials", "5", "--concurrency",
                 "2", "--quiet", env=cli_env(tmp_path, APIGEN_MT_SIM__LATENCY_MS="0"))
    assert result.returncode == 0, result.stderr
    assert "config_changes" not in json.loads((out / "manifest.json").read_text())


def test_every_record_names_the_models_that_made_it(done):
    for traj in rows(done / "trajectories.jsonl") + rows(done / "trajectories.failed.jsonl"):
        assert traj["models"] == {"human": "sim:sim", "critic": "sim:sim", "agent": "sim:sim"}
    for bp in rows(done / "blueprints.jsonl"):
        assert bp["provenance"]["models"]["drafter"] == "sim:sim"


# --- readers report damage with file and line -----------------------------------------------

def test_a_duplicated_line_is_exported_once_and_reported(run, tmp_path):
    out, _ = run
    trajectories = out / "trajectories.jsonl"
    first = trajectories.read_bytes().splitlines(keepends=True)[0]
    trajectories.write_bytes(trajectories.read_bytes() + first)
    dest = tmp_path / "export"
    result = cli("export", "--run", str(out), "--format", "sharegpt", "--out", str(dest),
                 env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    kept = len(trajectories.read_bytes().splitlines()) - 1
    assert f"{trajectories}:{kept + 1}: duplicate of line 1" in result.stderr
    exported = sum(len(rows(p)) for p in dest.glob("*.jsonl"))
    assert exported == kept


def test_a_corrupt_last_complete_line_is_an_error_not_skipped(run, tmp_path):
    out, _ = run
    trajectories = out / "trajectories.jsonl"
    trajectories.write_bytes(trajectories.read_bytes() + b'{"id": "traj-cut", "mess\n')
    before = snapshot(out)
    lines = len(trajectories.read_bytes().splitlines())
    result = cli("export", "--run", str(out), "--format", "sharegpt", "--out",
                 str(tmp_path / "export"), env=cli_env(tmp_path))
    one_error_line(result, 2, f"{trajectories}:{lines}: corrupt record")
    unchanged(out, before)


# --- files that cannot be read, or written, are named -----------------------------------------

def test_a_corrupt_manifest_is_named(run, tmp_path):
    out, _ = run
    (out / "manifest.json").write_bytes(b"\x00\x01binary")
    before = snapshot(out)
    result = cli("rollout", "--run", str(out), "--n", "4", env=cli_env(tmp_path))
    one_error_line(result, 2, str(out / "manifest.json"), "binary")
    unchanged(out, before)


def test_a_binary_config_and_a_binary_data_file_are_named(run, tmp_path):
    out, before = run
    config = tmp_path / "bin.yaml"
    config.write_bytes(b"\x7fELF\x00\x00binary")
    result = cli("run", "--env", "retail", "--out", str(out), "--config", str(config),
                 env=cli_env(tmp_path))
    one_error_line(result, 2, str(config), "binary")
    data = tmp_path / "data"
    made = cli("env", "data", "retail", "--out", str(data), "--users", "5",
               env=cli_env(tmp_path))
    assert made.returncode == 0, made.stderr
    (data / "users.json").write_bytes(b'{"a": \xff\xfe}')
    result = cli("env", "replay", "--env", "retail", "--tasks", str(out / "blueprints.jsonl"),
                 "--data-dir", str(data), env=cli_env(tmp_path))
    one_error_line(result, 2, str(data / "users.json"))
    unchanged(out, before)


def test_a_tasks_file_nested_too_deeply_is_named(tmp_path):
    tasks = tmp_path / "deep.json"
    tasks.write_text("[" * 200_000 + "]" * 200_000)
    result = cli("env", "replay", "--env", "retail", "--tasks", str(tasks),
                 env=cli_env(tmp_path))
    one_error_line(result, 2, str(tasks), "nested too deeply")


def test_an_environment_variable_error_names_the_variable_not_the_file(run, tmp_path):
    out, before = run
    result = cli("run", "--env", "retail", "--out", str(out),
                 env=cli_env(tmp_path, APIGEN_MT_SEED="abc"))
    line = one_error_line(result, 2, "environment variable APIGEN_MT_SEED")
    assert "sim.yaml" not in line
    unchanged(out, before)


def _file_size_limit(size: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


def test_a_full_disk_names_the_file_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "run"
    env = cli_env(tmp_path)
    args = ("run", "--env", "retail", "--n", "20", "--out", str(out), "--quiet")
    full = cli(*args, env=env, preexec=_file_size_limit(30_000))
    one_error_line(full, 1, f"cannot write {out}", "too large", "rerun")
    again = cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    ids = [t["id"] for t in rows(out / "trajectories.jsonl")]
    assert len(ids) == len(set(ids)) >= 20


def test_stale_temporary_files_are_cleaned(run, tmp_path):
    out, _ = run
    (out / ".manifest.json.tmp-999999999").write_text("{half")
    (out / ".config.json.tmp").write_text("{half")
    result = cli("run", "--env", "retail", "--n", "3", "--out", str(out), "--quiet",
                 env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


# --- secrets ----------------------------------------------------------------------------------

def test_credentials_in_a_url_and_any_header_appear_nowhere(serve, tmp_path):
    url_secret, header_secret = "sk-in-the-url-7f3a", "org-credential-91c2"
    handle = serve()
    host = handle.base_url.split("://", 1)[1]
    good = _endpoint_config(tmp_path, f"http://user:{url_secret}@{host}",
                            f'X-Org-Credential: "{header_secret}"')
    env = cli_env(tmp_path)
    outputs = []
    ok = cli("run", "--env", "retail", "--n", "2", "--out", str(tmp_path / "runs" / "ok"),
             "--quiet", "--config", str(good), env=env)
    assert ok.returncode == 0, ok.stderr
    outputs += [ok.stdout, ok.stderr, cli("check", "--config", str(good), env=env).stdout]
    handle.stop()
    # a server that is reachable but fails every completion: errors files and error lines
    failing = serve(faults=("500",), fault_first=10**6)
    failing_host = failing.base_url.split("://", 1)[1]
    broken = _endpoint_config(tmp_path, f"http://user:{url_secret}@{failing_host}",
                              f'X-Org-Credential: "{header_secret}"', name="broken.yaml")
    bad = cli("run", "--env", "retail", "--n", "2", "--out", str(tmp_path / "runs" / "bad"),
              "--quiet", "--config", str(broken), env=env)
    one_error_line(bad, 1, "http://***@")
    assert rows(tmp_path / "runs" / "bad" / "blueprints.errors.jsonl")
    # an unreachable one: the probe before the run, and check's FAIL line
    down = cli("run", "--env", "retail", "--n", "2", "--out", str(tmp_path / "runs" / "down"),
               "--quiet", "--config", str(good), env=env)
    one_error_line(down, 1, "***@")
    check = cli("check", "--config", str(good), env=env)
    assert check.returncode == 1 and "FAIL" in check.stdout and "***@" in check.stdout
    outputs += [bad.stdout, bad.stderr, down.stdout, down.stderr, check.stdout, check.stderr]
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert any(p.name == "config.json" for p in files)
    for secret in (url_secret, header_secret):
        assert not [p for p in files if secret.encode() in p.read_bytes()]
        assert not [text for text in outputs if secret in text]


# --- transport faults never become data -----------------------------------------------------

def test_a_reply_that_is_not_json_is_retried_not_recorded(done, serve, tmp_path):
    def evaluate(handle, name):
        folder = tmp_path / name
        folder.mkdir()
        config = _endpoint_config(folder, handle.base_url, retries=6)
        result = cli("eval", "--env", "retail", "--tasks", str(done / "blueprints.jsonl"),
                     "--trials", "1", "--config", str(config), "--out", str(folder / "eval"),
                     "--quiet", env=cli_env(tmp_path))
        assert result.returncode == 0, result.stderr
        return folder / "eval"

    handle = serve(faults=("bad-json",), fault_first=6)
    # best-of-N is one request per turn: one request may meet all six faults in a row
    out = evaluate(handle, "faulty")
    assert handle.stats()["faults"]["bad-json"] == 6
    # the same tasks against a healthy server: the sim agent's own (named) malformed calls
    # show in both; the server's broken replies were retried, so they add none
    clean = evaluate(serve(), "clean")
    calls = [[t["invalid_tool_calls"] for t in rows(o / "episodes.jsonl")] for o in (out, clean)]
    assert calls[0] and calls[0] == calls[1]
    assert b"chatcmpl-cut" not in (out / "cache" / "responses.jsonl").read_bytes()


def test_the_cache_is_keyed_by_endpoint_and_a_bad_entry_is_a_counted_miss(done, serve,
                                                                         tmp_path):
    first, second = serve(), serve()
    out = tmp_path / "eval"
    tasks = str(done / "blueprints.jsonl")

    def evaluate(handle):
        config = _endpoint_config(tmp_path, handle.base_url)
        return cli("eval", "--env", "retail", "--tasks", tasks, "--trials", "1", "--config",
                   str(config), "--out", str(out), env=cli_env(tmp_path))

    assert evaluate(first).returncode == 0
    asked = first.stats()["requests"]
    assert asked > 0
    moved = evaluate(second)  # same models, another server: nothing comes from the old one
    assert moved.returncode == 0, moved.stderr
    assert second.stats()["requests"] == asked

    cache = out / "cache" / "responses.jsonl"
    lines = cache.read_bytes().splitlines()
    row = json.loads(lines[-1])  # an entry of the second server
    row["v"] = {"tool_calls": "not a list"}  # a valid key, a malformed value
    lines[-1] = json.dumps(row).encode()
    cache.write_bytes(b"\n".join(lines) + b"\n")
    again = evaluate(second)
    assert again.returncode == 0, again.stderr
    assert second.stats()["requests"] == asked + 1  # the bad entry was asked again, once
    assert "1 invalid entries ignored and asked again" in again.stdout
    assert "not a valid completion" in again.stderr


# --- Ctrl-C -----------------------------------------------------------------------------------

def test_ctrl_c_says_what_was_saved_and_how_to_resume(tmp_path):
    out = tmp_path / "run"
    args = [str(ENTRY), "run", "--env", "retail", "--n", "1000000", "--out", str(out),
            "--quiet"]

    def interruptible() -> None:  # a background job may inherit an ignored SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(args, env=cli_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    try:
        deadline = time.monotonic() + 600
        blueprints = out / "blueprints.jsonl"
        while not (blueprints.exists() and blueprints.stat().st_size):  # wait for data
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), err
    saved = len(rows(out / "blueprints.jsonl"))
    assert f"{saved} blueprints" in lines[0] and str(out) in lines[0]
    assert "rerun `apigen-mt run --env retail --n 1000000" in lines[0]
    assert json.loads((out / "manifest.json").read_text())["usage"]["blueprint"]["calls"] > 0
