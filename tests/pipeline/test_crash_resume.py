"""kill -9 at random points, rerun the same command: the files equal an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.faults.conftest import DATA_FILES, kill_repeatedly


def _command(out: Path) -> list[str]:
    return [sys.executable, "-m", "apigen_mt", "run", "--env", "retail", "--n", "40",
            "--out", str(out), "--quiet", "--concurrency", "8"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["APIGEN_MT_RUNS"] = str(tmp_path / "runs")
    env["APIGEN_MT_CACHE__SIM"] = "true"  # so a resumed run can prove it pays nothing twice
    return env


def test_killed_runs_resume_to_identical_files(tmp_path):
    env = _env(tmp_path)
    reference = tmp_path / "reference"
    subprocess.run(_command(reference), env=env, check=True, capture_output=True, timeout=300)

    crashed = tmp_path / "crashed"
    kills = kill_repeatedly(_command(crashed), env, crashed, seed=11, tries=5, most=4000)
    assert kills >= 1
    final = subprocess.run(_command(crashed), env=env, capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr
    for name in DATA_FILES:
        assert (crashed / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_second_process_on_the_same_run_directory_is_refused(tmp_path):
    from apigen_mt.runner.store import RunDir

    out = tmp_path / "busy"
    with RunDir(out):  # this test process holds the run directory
        second = subprocess.run(_command(out), env=_env(tmp_path), capture_output=True,
                                text=True, timeout=60)
    assert second.returncode == 1
    assert "in use by another apigen-mt process" in second.stderr
    assert "Traceback" not in second.stderr
    assert not (out / "blueprints.jsonl").exists()
