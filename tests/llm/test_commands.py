"""`serve` and `check`, through a typer app built with register()."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
import typer
from typer.testing import CliRunner

from apigen_mt.commands_model import register
from apigen_mt.errors import RunFailure
from apigen_mt.llm.server import serve_in_thread
from apigen_mt.sim import SimModel


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def write_config(tmp_path: Path, base_url: str, model: str = "sim") -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(f"""roles:
  agent: {{model: "local:{model}"}}
  human: {{model: "sim:sim"}}
endpoints:
  local: {{base_url: "{base_url}", api_key_env: LOCAL_KEY, max_retries: 0}}
""")
    return path


def test_check_passes_against_served_sim(app: typer.Typer, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_in_thread(SimModel(), api_key="k") as handle:
        monkeypatch.setenv("LOCAL_KEY", "k")
        result = CliRunner().invoke(app, ["check", "--config",
                                          str(write_config(tmp_path, handle.base_url))])
    assert result.exit_code == 0, result.output
    assert re.search(r"^ok +local \(http://127\.0\.0\.1:\d+/v1\): sim: ok, tool call in \d+ ms; "
                     r"sim: n=2 ok \(best-of-N candidates in one request\)$", result.output, re.M)
    assert "ok    sim: built in" in result.output


@pytest.mark.parametrize(("problem", "expected"), [
    ("unknown-model", "unknown model 'gpt-x' (server lists: sim)"),
    ("bad-key", "API key rejected (HTTP 401; LOCAL_KEY)"),
    ("no-key", "needs the environment variable LOCAL_KEY"),
    ("unreachable", "unreachable"),
])
def test_check_reports_each_failure_on_one_line(app: typer.Typer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                problem: str, expected: str) -> None:
    with serve_in_thread(SimModel(), api_key="k") as handle:
        base_url = handle.base_url
        monkeypatch.setenv("LOCAL_KEY", "wrong" if problem == "bad-key" else "k")
        if problem == "no-key":
            monkeypatch.delenv("LOCAL_KEY")
        if problem == "unreachable":
            handle.stop()
        config = write_config(tmp_path, base_url, "gpt-x" if problem == "unknown-model" else "sim")
        result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 1 and isinstance(result.exception, RunFailure)
    fail = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and expected in fail[0], result.output


def test_serve_command_prints_its_url_and_serves(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "apigen_mt.commands_model", "serve", "--port", "0",
         "--faults", "500", "--fault-first", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:\d+/v1)", line)
        assert url, line
        body = {"model": "sim", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx2.post(url[1] + "/chat/completions", json=body).status_code == 500
        ok = httpx2.post(url[1] + "/chat/completions", json=body).json()
        assert ok["choices"][0]["message"]["content"].startswith("OK.")
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_rejects_unknown_faults(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["serve", "--faults", "429,meteor", "--port", "0"])
    assert result.exit_code == 2 and "meteor" in result.output
