"""The command line's habits, through the installed ``apigen-mt``: --version, -h, help on
every option, commands in workflow order, one name for the run directory, the progress
bar's width, the ``next:`` line, ``runs/latest`` and the commands a manifest records."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from apigen_mt import __version__
from apigen_mt.cli import app
from tests.faults.conftest import cli_env, rows

ENTRY = Path(sys.executable).parent / "apigen-mt"
WORKFLOW = ["env", "blueprint", "rollout", "run", "export", "stats", "eval", "verify",
            "serve", "check"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def cli(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    assert ENTRY.exists(), f"the apigen-mt entry point is not installed next to {sys.executable}"
    return subprocess.run([str(ENTRY), *args], env=cli_env(tmp_path, **extra), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_version(tmp_path: Path) -> None:
    done = cli(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"apigen-mt {__version__}"


def test_short_help_is_help_on_every_level(tmp_path: Path) -> None:
    for args in ((), ("run",), ("blueprint",), ("blueprint", "check"), ("env", "show")):
        short, long = cli(tmp_path, *args, "-h"), cli(tmp_path, *args, "--help")
        assert short.returncode == long.returncode == 0, short.stderr
        assert short.stdout == long.stdout and "Usage: apigen-mt" in short.stdout


def test_commands_are_listed_in_workflow_order(tmp_path: Path) -> None:
    text = cli(tmp_path, "--help").stdout
    listed = re.findall(r"^│ (\w+) ", text.split("Commands")[1], flags=re.M)
    assert listed == WORKFLOW


def _walk(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def test_every_option_has_help_and_flags_show_no_type(tmp_path: Path) -> None:
    root = typer.main.get_command(app)
    missing, seen = [], 0
    for path, command in _walk(root):
        for param in command.params:
            if param.param_type_name == "option":
                seen += 1
                if not (param.help or "").strip():
                    missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert seen > 100 and not missing, missing
    for path, flag in ((("run",), "--quiet"), (("rollout",), "--force-config"),
                       (("export",), "--include-failed"), (("",), "--debug")):
        text = cli(tmp_path, *filter(None, path), "--help").stdout
        assert flag in text and "<bool>" not in text, text


def test_run_and_out_name_the_same_run_directory(tmp_path: Path) -> None:
    first = cli(tmp_path, "blueprint", "--env", "retail", "--n", "3", "--out", "a", "--quiet")
    assert first.returncode == 0, first.stderr
    again = cli(tmp_path, "blueprint", "--env", "retail", "--n", "4", "--run", "a", "--quiet")
    assert again.returncode == 0, again.stderr
    assert len(rows(tmp_path / "a" / "blueprints.jsonl")) == 4
    for command in ("blueprint", "run"):  # both spellings in every command's help
        assert "--run,--out" in cli(tmp_path, command, "--help").stdout
    # an existing run needs no --env: the manifest says which environment it is
    more = cli(tmp_path, "run", "--run", "a", "--n", "2", "--quiet")
    assert more.returncode == 0, more.stderr
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["commands"] == ["blueprint --env retail --n 3 --out a --quiet",
                                    "blueprint --env retail --n 4 --run a --quiet",
                                    "run --run a --n 2 --quiet"]


def test_run_records_itself_tells_next_and_links_latest(tmp_path: Path) -> None:
    done = cli(tmp_path, "run", "--env", "retail", "--n", "4", "--quiet")
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "retail-seed0"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["commands"] == ["run --env retail --n 4 --quiet"]
    last = done.stdout.strip().splitlines()[-1]
    assert last == f"next: apigen-mt export --run {run} --format sharegpt"
    latest = tmp_path / "runs" / "latest"
    assert latest.is_symlink() and latest.resolve() == run.resolve()
    exported = subprocess.run(last.removeprefix("next: ").split(), env=cli_env(tmp_path),
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip().splitlines()[-1] == f"next: apigen-mt stats --run {run}"


def test_quiet_export_prints_nothing_and_still_writes(tmp_path: Path) -> None:
    assert cli(tmp_path, "run", "--env", "retail", "--n", "2", "--quiet").returncode == 0
    done = cli(tmp_path, "export", "--format", "sharegpt", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""
    out = tmp_path / "runs" / "retail-seed0" / "export" / "sharegpt"
    assert (out / "README.md").exists() and any(out.glob("*.json*"))


def test_blueprint_tells_the_rollout_to_run_next(tmp_path: Path) -> None:
    done = cli(tmp_path, "blueprint", "--env", "retail", "--n", "3", "--quiet")
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "retail-seed0"
    assert done.stdout.strip().splitlines()[-1] == \
        f"next: apigen-mt rollout --run {run} --n 3"


def test_latest_as_a_text_file_is_still_read(tmp_path: Path) -> None:
    assert cli(tmp_path, "run", "--env", "retail", "--n", "2", "--quiet",
               "--out", "r").returncode == 0
    latest = tmp_path / "runs" / "latest"
    latest.unlink()  # a filesystem without symbolic links gets a text file
    latest.write_text(str((tmp_path / "r").resolve()) + "\n")
    stats = cli(tmp_path, "stats")
    assert stats.returncode == 0, stats.stderr


def test_rollout_says_up_front_when_the_blueprints_cannot_reach_n(tmp_path: Path) -> None:
    assert cli(tmp_path, "blueprint", "--env", "retail", "--n", "2", "--quiet").returncode == 0
    done = cli(tmp_path, "rollout", "--n", "50", "--quiet")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("note: 2 blueprints × 3 trials can give at most 6")
    assert "apigen-mt run --run" in lines[0]


@pytest.mark.parametrize("columns", ["80", "200", "50"])
def test_progress_bar_fits_80_columns(tmp_path: Path, columns: str) -> None:
    done = cli(tmp_path, "run", "--env", "retail", "--n", "6",
               APIGEN_MT_PROGRESS="bar", COLUMNS=columns)
    assert done.returncode == 0, done.stderr
    frames = [f for f in re.split(r"[\r\n]", ANSI.sub("", done.stderr)) if f.strip()]
    bars = [f for f in frames if f.startswith(("blueprints ", "trajectories "))]
    assert bars, done.stderr
    assert max(len(f) for f in frames) <= min(80, int(columns))
    assert any(re.search(r"\d+/\d+ .*(/s|/min) (ETA \d+:\d\d|done)", f) for f in bars), bars


def test_quiet_and_pipes_show_no_bar(tmp_path: Path) -> None:
    quiet = cli(tmp_path, "run", "--env", "retail", "--n", "2", "--quiet",
                APIGEN_MT_PROGRESS="bar")
    piped = cli(tmp_path, "run", "--env", "retail", "--n", "2")
    assert quiet.returncode == piped.returncode == 0
    assert quiet.stderr == piped.stderr == ""


def test_import_is_cheap() -> None:
    code = "import sys, apigen_mt; print(len([m for m in sys.modules if m.startswith(" \
           "('pydantic', 'rich', 'typer', 'openai'))]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ}, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "0", done.stderr
