"""kill -9 at random points, rerun the same command: the files equal an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

DATA_FILES = ("blueprints.jsonl", "blueprints.rejected.jsonl", "trajectories.jsonl",
              "trajectories.failed.jsonl")


def _command(out: Path) -> list[str]:
    return [sys.executable, "-m", "apigen_mt", "run", "--env", "retail", "--n", "40",
            "--out", str(out), "--quiet", "--concurrency", "8"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["APIGEN_MT_RUNS"] = str(tmp_path / "runs")
    env["APIGEN_MT_CACHE__SIM"] = "true"  # so a resumed run can prove it pays nothing twice
    return env


def _written(run: Path) -> int:
    """Bytes in the run's data files so far."""
    return sum((run / name).stat().st_size for name in DATA_FILES if (run / name).exists())


def test_killed_runs_resume_to_identical_files(tmp_path):
    env = _env(tmp_path)
    reference = tmp_path / "reference"
    subprocess.run(_command(reference), env=env, check=True, capture_output=True, timeout=300)

    crashed = tmp_path / "crashed"
    rng = random.Random(11)
    kills = 0
    for _ in range(5):
        # Kill once the run has written something new, not after a fixed sleep: a fast
        # machine would finish first and a slow one would never get past start-up.
        before = _written(crashed)
        proc = subprocess.Popen(_command(crashed), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        grow = rng.randint(1, 4000)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _written(crashed) < before + grow \
                and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
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
