"""README's Everyday use, run as printed (a smaller ``--n``) through the installed
``apigen-mt``, reaching what each command's comment promises."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.conftest import cli_env, rows

ROOT = Path(__file__).resolve().parents[2]
ENTRY = Path(sys.executable).parent / "apigen-mt"
SMALLER = {"500": "10", "200": "8"}  # the README's sizes, scaled down for the test


def block(marker: str) -> str:
    """The fenced block right after ``<!-- marker -->`` in the README."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", text, flags=re.S)
    assert found, f"README has no block marked {marker}"
    return found.group(1)


def commands(marker: str) -> list[list[str]]:
    """Each command of a shell block, without its comment, with smaller sizes."""
    out = []
    for line in block(marker).splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assert words[0] == "apigen-mt", line
        out.append([SMALLER.get(w, w) if i and words[i - 1] == "--n" else w
                    for i, w in enumerate(words)])
    return out


def play(tmp_path: Path, marker: str) -> list[subprocess.CompletedProcess]:
    done = []
    for words in commands(marker):
        result = subprocess.run([str(ENTRY), *words[1:]], env=cli_env(tmp_path), cwd=tmp_path,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (words, result.stderr)
        assert "Traceback" not in result.stderr
        done.append(result)
    return done


def export_records(folder: Path) -> int:
    return sum(len(rows(f)) for f in folder.glob("*.jsonl"))


def test_everyday_use_as_printed(tmp_path: Path) -> None:
    play(tmp_path, "everyday-use")
    run = tmp_path / "runs" / "retail-seed0"
    kept = rows(run / "trajectories.jsonl")
    assert len(kept) >= 10  # "until 500 trajectories are kept", scaled
    assert export_records(run / "export" / "sharegpt") == len(kept)
    assert (run / "export" / "sharegpt" / "README.md").exists()  # the dataset card
    report = (tmp_path / "report.html").read_text()
    assert "<html" in report.lower() and "retail" in report


def test_everyday_use_phase_by_phase_as_printed(tmp_path: Path) -> None:
    blueprint, rollout, _ = play(tmp_path, "everyday-use-phases")
    run = tmp_path / "runs" / "retail-seed0"
    assert len(rows(run / "blueprints.jsonl")) == 8
    assert (tmp_path / "runs" / "latest").resolve() == run.resolve()
    assert len(rows(run / "trajectories.jsonl")) >= 8  # one or more per blueprint
    assert "ran out" not in rollout.stdout and not rollout.stdout.startswith("note:")
    assert export_records(run / "export" / "openai") == len(rows(run / "trajectories.jsonl"))
    assert blueprint.stdout.strip().splitlines()[-1].startswith("next: apigen-mt rollout")


def test_python_api_block_as_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
    code = re.sub(r"\bn=(\d+)", lambda m: f"n={SMALLER.get(m.group(1), m.group(1))}",
                  block("everyday-use-python"))
    code = re.sub(r'"retail", (\d+)', lambda m: f'"retail", {SMALLER[m.group(1)]}', code)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].startswith("True ")  # reached, and the failures by reason
    assert re.fullmatch(r"\d+ of \d+ passed.*", printed[2])
    pass_hat = eval(printed[3])  # the dict printed as repr: {"1": …, "2": …}
    assert set(pass_hat) == {"1", "2"} and 0 < pass_hat["2"] <= pass_hat["1"] <= 1
    manifest = json.loads((tmp_path / "runs" / "mine" / "manifest.json").read_text())
    assert manifest["trajectories"]["accepted"] >= 8
