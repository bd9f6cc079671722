"""`run` with its phases overlapped (first trials played while phase 1 still drafts)
writes the same files as the phases one after the other, at any concurrency, and when
killed and resumed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.faults.conftest import cli_env, file_bytes, kill_repeatedly

# Small chunks of the playing order, so that a run of a few dozen blueprints has places
# that are sure to be played before the round's last blueprint is drafted (with the
# default of 100 a run this small plays nothing early).
PATCHED_CLI = ("import sys; import apigen_mt.runner.trials as t; t.CHUNK = 4; "
               "from apigen_mt.cli import app; sys.argv[0] = 'apigen-mt'; app()")


def _command(out: Path, concurrency: int, n: int = 24) -> list[str]:
    return [sys.executable, "-c", PATCHED_CLI, "run", "--env", "retail", "--n", str(n),
            "--out", str(out), "--quiet", "--concurrency", str(concurrency)]


def test_overlapped_run_plays_early_and_writes_what_the_phases_in_turn_write(
        tmp_path: Path, monkeypatch):
    from apigen_mt import api
    from apigen_mt.runner import overlap, pipeline, trials

    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(trials, "CHUNK", 4)
    handed = []
    take = overlap.Prefetch.take

    def counting_take(self, blueprint_id):
        task = take(self, blueprint_id)
        if task is not None:
            handed.append(blueprint_id)
        return task

    monkeypatch.setattr(overlap.Prefetch, "take", counting_take)
    api.run("retail", 24, run=tmp_path / "overlapped", concurrency=16)
    assert len(handed) >= 3, "no first trial was played while phase 1 drafted"

    real = pipeline.run_pipeline
    monkeypatch.setattr(pipeline, "run_pipeline",
                        lambda *a, **kw: real(*a, **kw, overlap=False))
    api.run("retail", 24, run=tmp_path / "in-turn", concurrency=16)
    overlapped, in_turn = file_bytes(tmp_path / "overlapped"), file_bytes(tmp_path / "in-turn")
    assert overlapped["trajectories.jsonl"].count(b"\n") == 24
    assert overlapped == in_turn


def test_overlapped_run_killed_and_resumed_or_at_another_concurrency_gives_the_same_files(
        tmp_path: Path):
    env = cli_env(tmp_path, APIGEN_MT_CACHE__SIM="true")
    reference = tmp_path / "reference"
    done = subprocess.run(_command(reference, 16), env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    expected = file_bytes(reference)
    assert expected["trajectories.jsonl"].count(b"\n") == 24

    other = tmp_path / "other"
    done = subprocess.run(_command(other, 3), env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert file_bytes(other) == expected

    crashed = tmp_path / "crashed"
    kills = kill_repeatedly(_command(crashed, 16), env, crashed, seed=5, tries=4, most=6000)
    assert kills >= 1
    final = subprocess.run(_command(crashed, 16), env=env, capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr
    assert file_bytes(crashed) == expected
