"""Bad input gets one line and a non-zero exit, and nothing half-written is left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.export.conftest import cli, cli_error, rows


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "xml"], "unknown --format 'xml'"),
    (["--format", "openai", "--split", "train=0.9,test=0.2"], "add up to 1"),
    (["--format", "openai", "--split", "train:0.9"], "NAME=FRACTION"),
    (["--format", "parquet", "--split", "a=0.5,a=0.5"], "twice"),
    (["--format", "dpo", "--include-failed"], "does not apply"),
])
def test_bad_flags(run30: Path, tmp_path: Path, monkeypatch, capsys, args, message):
    out = tmp_path / "out"
    code, err = cli_error(monkeypatch, capsys, "export", "--run", str(run30), "--out",
                          str(out), *args)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not out.exists() and _leftovers(tmp_path) == []


def test_run_without_trajectories(run30: Path, tmp_path: Path, monkeypatch, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("manifest.json", "config.json", "blueprints.jsonl"):
        shutil.copy(run30 / name, bare / name)
    code, err = cli_error(monkeypatch, capsys, "export", "--run", str(bare), "--format",
                          "sharegpt")
    assert code == 2 and "no accepted trajectories" in err and err.count("\n") == 1
    assert not (bare / "export").exists()
    code, err = cli_error(monkeypatch, capsys, "export", "--run", str(tmp_path / "nope"),
                          "--format", "sharegpt")
    assert code == 2 and "not a run directory" in err


def test_unwritable_or_foreign_out(run30: Path, tmp_path: Path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, err = cli_error(monkeypatch, capsys, "export", "--run", str(run30), "--format",
                          "openai", "--out", str(blocker / "sub"))
    assert code == 2 and "cannot write to" in err and err.count("\n") == 1
    code, err = cli_error(monkeypatch, capsys, "export", "--run", str(run30), "--format",
                          "openai", "--out", str(blocker))
    assert code == 2 and "is a file" in err
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, err = cli_error(monkeypatch, capsys, "export", "--run", str(run30), "--format",
                          "openai", "--out", str(foreign))
    assert code == 2 and "not empty" in err
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert _leftovers(tmp_path) == []


def test_an_earlier_export_is_replaced_whole(run30: Path, tmp_path: Path):
    out = tmp_path / "exp"
    cli("export", "--run", str(run30), "--format", "openai", "--out", str(out), "--split",
        "train=0.5,test=0.5")
    assert (out / "test.jsonl").exists()
    cli("export", "--run", str(run30), "--format", "openai", "--out", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "export.json", "train.jsonl"]
    assert _leftovers(tmp_path) == []


def test_invalid_tool_call_is_refused_naming_the_record(run30: Path, tmp_path: Path,
                                                        monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(run30, run, ignore=shutil.ignore_patterns("export", "cache", ".lock"))
    trajs = rows(run / "trajectories.jsonl")
    victim = next(t for t in trajs if any(m.get("tool_calls") for m in t["messages"]))
    call = next(m for m in victim["messages"] if m.get("tool_calls"))["tool_calls"][0]
    call["function"]["arguments"] = '{"order_id": "#W1'  # torn JSON, as a model might emit
    (run / "trajectories.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trajs))
    for fmt in ("openai", "sharegpt"):
        out = tmp_path / fmt
        code, err = cli_error(monkeypatch, capsys, "export", "--run", str(run), "--format",
                              fmt, "--out", str(out))
        assert code == 2 and victim["id"] in err and "refused" in err, err
        assert err.count("\n") == 1
        assert not out.exists() and _leftovers(tmp_path) == []
        cli("export", "--run", str(run), "--format", fmt, "--out", str(out), "--skip-invalid")
        written = json.loads((out / "export.json").read_text())["ids"]["train"]
        assert victim["id"] not in written and len(written) == len(trajs) - 1
        assert "invalid records skipped 1" in (out / "README.md").read_text()
