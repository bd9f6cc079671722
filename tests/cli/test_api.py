"""The Python API: the same pipeline as the command line, typed results, same guarantees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import apigen_mt
from apigen_mt.errors import UsageError
from tests.faults.conftest import rows


@pytest.fixture(autouse=True)
def runs_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
    for key in ("APIGEN_MT_PROGRESS",):
        monkeypatch.delenv(key, raising=False)


def test_run_offline_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "r"
    first = apigen_mt.run(env="retail", n=4, run=out)
    assert isinstance(first, apigen_mt.RunResult)
    assert first.run_dir == out and first.reached and first.accepted >= 4
    kept = rows(out / "trajectories.jsonl")
    assert len(kept) == first.accepted == first.rollout.accepted
    assert first.blueprint.accepted == len(rows(out / "blueprints.jsonl"))
    assert first.rollout.usage.calls > 0 and first.blueprint.funnel.accepted > 0

    again = apigen_mt.run(env="retail", n=7, run=out)  # resumes: nothing redone or rewritten
    now = rows(out / "trajectories.jsonl")
    assert again.accepted == len(now) >= 7
    assert now[:len(kept)] == kept
    assert again.rollout.added == again.accepted - first.accepted
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["commands"] == [f"apigen_mt.run(env='retail', n=4, run={out!r})",
                                    f"apigen_mt.run(env='retail', n=7, run={out!r})"]
    assert manifest["trajectories"]["accepted"] == again.accepted

    exported = apigen_mt.export("sharegpt", run=out)
    assert sum(f["records"] for f in exported.files.values()) == again.accepted
    judged = apigen_mt.verify("retail", out / "blueprints.jsonl", out / "trajectories.jsonl")
    assert judged.judged == again.accepted and judged.passed == judged.judged
    assert not judged.problems


def test_phases_one_by_one_and_the_latest_run(tmp_path: Path) -> None:
    bp = apigen_mt.blueprint("retail", 3)
    assert isinstance(bp, apigen_mt.BlueprintResult) and bp.accepted == 3 and bp.reached
    notes: list[str] = []
    ro = apigen_mt.rollout(n=40, note=notes.append)  # the latest run; cannot reach 40
    assert ro.run_dir == bp.run_dir and ro.blueprints == 3 and ro.exhausted
    assert not ro.reached and ro.accepted == len(rows(bp.run_dir / "trajectories.jsonl"))
    assert notes and notes[0].startswith("note: 3 blueprints × 3 trials")


def test_same_errors_as_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--n must be between"):
        apigen_mt.run(env="retail", n=0)
    with pytest.raises(UsageError, match="--env is required"):
        apigen_mt.blueprint()
    with pytest.raises(UsageError, match="not a run directory"):
        apigen_mt.rollout(run=tmp_path)
    assert not (tmp_path / "runs").exists()  # refused before anything was written
