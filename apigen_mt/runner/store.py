"""The run directory: append-only JSONL files, a lock, and a manifest.

Only the driver process writes here. Lines are appended whole and flushed; after a
crash the last line may be torn (no newline), and reading the file detects that, drops
it and truncates the file back to its last complete record, so a torn line is never
parsed as data. A complete line that does not parse is damage, not a crash: it is
reported with its line number and nothing is cut.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from apigen_mt.atomic import TMP_MARK, describe, write_atomic
from apigen_mt.errors import RunFailure, UsageError
from apigen_mt.fileio import read_json, scan_jsonl_spans, warn

M = TypeVar("M", bound=BaseModel)

RUNS_ROOT_ENV = "APIGEN_MT_RUNS"
LATEST = "latest"


def runs_root() -> Path:
    """Where default run directories live (``./runs`` unless APIGEN_MT_RUNS says)."""
    return Path(os.environ.get(RUNS_ROOT_ENV, "runs"))


def default_run_dir(env_name: str, seed: int) -> Path:
    """The run directory used when ``--out`` is not given."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in Path(env_name).name)
    return runs_root() / f"{safe}-seed{seed}"


def remember_latest(run_dir: Path) -> None:
    """Point ``runs/latest`` at this run so later commands find it without ``--run``.

    A symbolic link (``cd runs/latest`` works; relative when the run is under the runs
    folder, so moving the folder keeps it right) where the filesystem allows one, else a
    text file holding the path; :func:`resolve_run` reads both.
    """
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    target = run_dir.resolve()
    try:
        link: Path | str = target.relative_to(root.resolve())
    except ValueError:
        link = target
    pointer = root / LATEST
    tmp = root / f".{LATEST}.{os.getpid()}{TMP_MARK}"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(link, tmp, target_is_directory=True)
        os.replace(tmp, pointer)  # one step: readers see the old pointer or the new one
    except OSError:
        tmp.unlink(missing_ok=True)
        write_atomic(pointer, str(target) + "\n")


def resolve_run(run: Path | None) -> Path:
    """The run directory a command works on: ``--run``, else the latest one."""
    if run is not None:
        if not (run / "manifest.json").exists():
            raise UsageError(f"{run} is not a run directory (no manifest.json)")
        return run
    pointer = runs_root() / LATEST
    if not os.path.lexists(pointer):
        raise UsageError("no run yet: start with `apigen-mt run --env NAME` or pass --run")
    if pointer.is_symlink():
        path = pointer.parent / os.readlink(pointer)
    else:
        path = Path(pointer.read_text().strip())
    if not (path / "manifest.json").exists():
        raise UsageError(f"the latest run {path} is gone; pass --run")
    return path


class JsonlLog:
    """An append-only JSONL file of one record type."""

    def __init__(self, path: Path):
        self.path = path
        self.dropped_torn = 0

    def repair(self) -> int:
        """Drop a torn last line (one without its newline); returns how many bytes were cut.

        Records are appended as whole ``line + newline`` writes, so a crash can only leave
        a last line that lacks its newline: that tail was never committed and is redone on
        resume. A newline-terminated line that does not parse was not left by a crash
        (the file was damaged or edited): it is reported with its line number by
        :meth:`rows`, and the file is left as it is.
        """
        if not self.path.exists():
            return 0
        with open(self.path, "r+b") as fh:  # only the tail is read: files grow large
            size = fh.seek(0, 2)
            if size == 0:
                return 0
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return 0
            end, pos = 0, size
            while pos > 0:  # back to the last newline, a block at a time
                start = max(0, pos - 65536)
                fh.seek(start)
                found = fh.read(pos - start).rfind(b"\n")
                if found >= 0:
                    end = start + found + 1
                    break
                pos = start
            fh.truncate(end)
        self.dropped_torn += 1
        return size - end

    def _numbered(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for lineno, _, _, row in self._spans():
            yield lineno, row

    def _spans(self) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
        cut = self.repair()
        if cut:
            warn(f"{self.path}: dropped an incomplete last line ({cut} bytes) left by an "
                 "interrupted write; that record is redone")
        if not self.path.exists():
            return
        # a corrupt complete line is damage, like a bad tasks file: exit 2 (export agrees);
        # a duplicated line is reported with its line number and read once
        yield from scan_jsonl_spans(self.path, torn_ok=False)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every complete record as a dict (the torn tail, if any, is repaired first)."""
        for _, row in self._numbered():
            yield row

    def read(self, model: type[M]) -> list[M]:
        """Every complete record validated as ``model`` (a bad one is named by its line)."""
        return list(self.iter_read(model))

    def iter_read(self, model: type[M], drop: tuple[str, ...] = ()) -> Iterator[M]:
        """The same, one record at a time; ``drop`` leaves those fields out (to their
        defaults) so a long file's records stay small in memory."""
        for _, _, record in self.iter_spans(model, drop):
            yield record

    def iter_spans(self, model: type[M], drop: tuple[str, ...] = ()
                   ) -> Iterator[tuple[int, int, M]]:
        """:meth:`iter_read` with each record's place in the file: (byte offset, byte
        length of its line, record)."""
        for lineno, offset, size, row in self._spans():
            yield offset, size, self._validated(row, model, drop, f"{self.path}:{lineno}")

    @staticmethod
    def _validated(row: dict[str, Any], model: type[M], drop: tuple[str, ...], where: str) -> M:
        for name in drop:
            row.pop(name, None)
        try:
            return model.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "record"
            raise UsageError(f"{where}: not a valid {model.__name__} record "
                             f"({field}: {err['msg']}); fix or remove that line") from None

    def append(self, records: list[BaseModel | dict[str, Any]]) -> list[tuple[int, int]]:
        """Append whole lines and flush them to the OS; returns where each landed (byte
        offset, byte length of its line), for :meth:`read_at`."""
        if not records:
            return []
        chunks = []
        for rec in records:
            body = rec.model_dump_json() if isinstance(rec, BaseModel) else orjson.dumps(
                rec).decode()
            chunks.append((body + "\n").encode())
        try:
            with open(self.path, "ab") as fh:
                offset = fh.tell()  # the file's end: the run directory has one writer
                fh.write(b"".join(chunks))
                fh.flush()
        except OSError as exc:  # a part-written line is a torn tail: repaired on resume
            raise RunFailure(f"cannot write {self.path}: {describe(exc)}; what was written "
                             "before is kept, free space and rerun to resume") from None
        spans = []
        for chunk in chunks:
            spans.append((offset, len(chunk)))
            offset += len(chunk)
        return spans

    def read_at(self, offset: int, size: int, model: type[M], drop: tuple[str, ...] = ()) -> M:
        """The record whose line :meth:`append` or :meth:`iter_spans` placed there, read
        as :meth:`iter_spans` reads it."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                row = orjson.loads(fh.read(size))
        except (OSError, orjson.JSONDecodeError) as exc:
            raise RunFailure(f"cannot read back a record of {self.path} (byte {offset}): "
                             f"{describe(exc) if isinstance(exc, OSError) else exc}; was the "
                             "file changed while the run was going?") from None
        return self._validated(row, model, drop, f"{self.path} (byte {offset})")


class RunDir:
    """A run directory held exclusively by one process."""

    def __init__(self, path: Path):
        self.path = path
        self._lock_fh = None

    def open(self) -> RunDir:
        """Create (if needed) and lock; a second process gets a clear refusal."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:  # a bad --out/--run: exit 2, like export's unwritable --out
            raise UsageError(f"cannot write to the run directory {self.path}: "
                             f"{exc.strerror or exc}") from None
        fh = open(self.path / ".lock", "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise RunFailure(f"{self.path} is in use by another apigen-mt process; wait for it "
                             "to finish or use another --out/--run") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_fh = fh
        # we hold the lock, so any temporary file here was left by a killed process
        for entry in self.path.iterdir():
            if entry.name.startswith(".") and (entry.name.endswith(".tmp")
                                               or TMP_MARK in entry.name) and entry.is_file():
                entry.unlink(missing_ok=True)
        return self

    def close(self) -> None:
        """Release the lock."""
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> RunDir:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(self, name: str) -> JsonlLog:
        """One of the run's JSONL files (created empty, so users always find it)."""
        path = self.path / name
        if not path.exists():
            path.touch()
        return JsonlLog(path)

    def manifest(self) -> dict[str, Any]:
        """The manifest (empty for a new run)."""
        file = self.path / "manifest.json"
        if not file.exists():
            return {}
        data = read_json(file, "run manifest")
        if not isinstance(data, dict):
            raise UsageError(f"{file}: the run manifest is not a JSON object")
        return data

    def write_json(self, name: str, data: Any) -> None:
        """Write a JSON file atomically (temp file, then rename)."""
        write_atomic(self.path / name, json.dumps(data, indent=1, default=str) + "\n")

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        """Merge fields into the manifest."""
        data = self.manifest()
        data.update(fields)
        self.write_json("manifest.json", data)
        return data
