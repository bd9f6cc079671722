"""Offline runs built once per session, and helpers to drive the CLI in-process."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

# `datasets` must never look for anything online in these tests (set before it is imported).
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from apigen_mt.cli import app
from apigen_mt.errors import guarded

# Failures on purpose (for --include-failed and dpo), but no malformed tool calls in the
# accepted data, so every accepted trajectory must come out of every format.
FLAWS = "sim:\n  flaws:\n    agent.wrong_argument: 0.25\n    agent.bad_json: 0.0\n"


def cli(*args: str) -> str:
    """Run ``apigen-mt ARGS`` in-process; fail the test on a non-zero exit."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def cli_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
              *args: str) -> tuple[int, str]:
    """Run through the real entry point's error boundary: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["apigen-mt", *args])
    code = guarded(app)
    return code, capsys.readouterr().err


def rows(path: Path) -> list[dict]:
    """A JSONL file's records."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _make_run(tmp_path_factory: pytest.TempPathFactory, name: str, n: int,
              flaws: bool) -> Path:
    base = tmp_path_factory.mktemp(name)
    out = base / "run"
    args = ["run", "--env", "retail", "--n", str(n), "--out", str(out), "--quiet"]
    if flaws:
        config = base / "flaws.yaml"
        config.write_text(FLAWS)
        args += ["--config", str(config)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APIGEN_MT_RUNS", str(base / "runs"))
        cli(*args)
    return out


@pytest.fixture(scope="session")
def run_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Preference-pair material: ``blueprint --n 12`` then ``rollout --n 30`` offline with
    failures on purpose, so the tasks whose first trial failed are played again (``run``
    spends on new tasks instead, so it rarely leaves a task with both outcomes)."""
    base = tmp_path_factory.mktemp("pairs")
    out, config = base / "run", base / "flaws.yaml"
    config.write_text(FLAWS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APIGEN_MT_RUNS", str(base / "runs"))
        cli("blueprint", "--env", "retail", "--n", "12", "--out", str(out), "--quiet",
            "--config", str(config))
        cli("rollout", "--run", str(out), "--n", "30", "--quiet")
    return out


@pytest.fixture(scope="session")
def run30(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``run --env retail --n 30`` offline, with some failed trials."""
    return _make_run(tmp_path_factory, "run30", 30, flaws=True)


@pytest.fixture(autouse=True)
def _runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Default run directories and the `latest` pointer go to a temporary folder."""
    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
