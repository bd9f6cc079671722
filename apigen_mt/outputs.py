"""Where a command may write: never over an input, never over a run's files, never into
a non-empty folder it does not own.

Each command that takes an output path asks here first, before any work is done, so a
refused command leaves every file as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from apigen_mt.errors import UsageError

MANIFEST = "manifest.json"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def in_run_dir(path: Path) -> Path | None:
    """The run directory ``path`` lies in (any ancestor holding a manifest), if any."""
    for folder in [path.resolve().parent, *path.resolve().parents]:
        if (folder / MANIFEST).is_file():
            return folder
    return None


def check_output_file(path: Path, option: str, inputs: Iterable[Path | None] = (),
                      input_dirs: Iterable[Path | None] = ()) -> None:
    """Refuse an output file that is an input, lies in an input folder, or is (or would
    replace) a file of a run directory."""
    target = path.resolve()
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    for item in inputs:
        if item is not None and Path(item).exists() and Path(item).resolve() == target:
            raise UsageError(f"{option} {path} is this command's input; choose another file")
    for folder in input_dirs:
        if folder is not None and _inside(target, Path(folder).resolve()):
            raise UsageError(f"{option} {path} is inside the input folder {folder}; choose "
                             "another file")
    run = in_run_dir(path)
    if run is not None and target.exists() and target.parent == run:
        raise UsageError(f"{option} {path} is a file of the run {run}; choose another file")
    if run is not None and target.parent == run and target.name.endswith((".jsonl", ".json")):
        raise UsageError(f"{option} {path} would add a data file to the run {run}; choose "
                         "another file")


def check_output_folder(path: Path, option: str, owned: Iterable[str]) -> None:
    """Refuse an output folder that is a file, a run directory, or not empty without
    holding what this command writes (``owned``: the file names it writes there)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file; give a folder")
    if not path.is_dir():
        return
    if (path / MANIFEST).exists():
        raise UsageError(f"{option} {path} is a run directory; choose another folder")
    names = {e.name for e in path.iterdir()}
    owned = set(owned)
    if names and not names & owned:
        raise UsageError(f"{option} {path} is not empty and holds nothing this command "
                         "wrote; choose an empty or new folder")
