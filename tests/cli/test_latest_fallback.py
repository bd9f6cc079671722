"""``runs/latest`` where the filesystem refuses symbolic links: a text file holding the
run's path, and ``rollout`` / ``export`` without ``--run`` still find the run through it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apigen_mt.cli import app
from tests.faults.conftest import rows


def _no_symlinks(*_args, **_kwargs) -> None:
    raise OSError(1, "Operation not permitted")  # as on a filesystem without links


def test_latest_falls_back_to_a_text_file(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("APIGEN_MT_PROGRESS", raising=False)
    monkeypatch.setattr(os, "symlink", _no_symlinks)
    runner = CliRunner()
    run = tmp_path / "elsewhere"  # outside the runs folder: the file holds an absolute path

    made = runner.invoke(app, ["blueprint", "--env", "retail", "--n", "3", "--out", str(run),
                               "--quiet"])
    assert made.exit_code == 0, made.output
    latest = tmp_path / "runs" / "latest"
    assert latest.is_file() and not latest.is_symlink()
    assert Path(latest.read_text().strip()) == run.resolve()
    assert not [p.name for p in latest.parent.iterdir() if p.name != "latest"]  # no temp left

    played = runner.invoke(app, ["rollout", "--n", "2", "--quiet"])
    assert played.exit_code == 0, played.output
    kept = rows(run / "trajectories.jsonl")
    assert len(kept) >= 2

    exported = runner.invoke(app, ["export", "--format", "sharegpt"])
    assert exported.exit_code == 0, exported.output
    written = rows(run / "export" / "sharegpt" / "train.jsonl")
    assert len(written) == len(kept)
    assert latest.is_file() and not latest.is_symlink()  # still the text file
