"""Helpers for end-to-end offline runs of the command line, in-process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apigen_mt.cli import app


def cli(*args: str) -> str:
    """Run ``apigen-mt ARGS`` in-process; fail the test on a non-zero exit."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def model_calls(output: str) -> int:
    """The "N model calls" figure of a command's closing line."""
    found = re.findall(r"(\d+) model\s+calls", output)
    assert found, output
    return int(found[-1])


@pytest.fixture(autouse=True)
def _runs_root(tmp_path: Path, monkeypatch):
    """Default run directories and the `latest` pointer go to a temporary folder."""
    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
