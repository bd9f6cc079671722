"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every whole-file write goes to a temporary sibling (``.NAME.tmp-PID``) that is renamed
over the target, which POSIX makes atomic on one file system. A process killed between
the two leaves only the temporary file behind; :func:`clean_stale_temps` removes those
left by processes that are gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

TMP_MARK = ".tmp-"


def temp_path(path: Path) -> Path:
    """The temporary sibling this process writes ``path`` through."""
    return path.parent / f".{path.name}{TMP_MARK}{os.getpid()}"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    An ``OSError`` (disk full, file too large, read-only folder) is re-raised as
    :class:`OSError` whose message names ``path``, and the temporary file is removed.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OSError(exc.errno, f"cannot write {path}: {describe(exc)}") from None


def describe(exc: OSError) -> str:
    """A short reason for a failed write (``disk full`` rather than errno 28's text)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if exc.errno == errno.EFBIG:
        return "file too large for the file system or the size limit"
    return exc.strerror or str(exc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove temporary files in ``folder`` left by processes that no longer run."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        name = entry.name
        if not name.startswith(".") or TMP_MARK not in name:
            continue
        pid = name.rsplit(TMP_MARK, 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                if entry.is_file():
                    entry.unlink()
                    removed.append(entry)
    return removed


def clean_stale_folders(out: Path) -> None:
    """Remove ``.OUT.tmp-PID`` folders (and ``.OUT.old-PID`` ones once ``out`` exists)
    left next to ``out`` by processes that no longer run: half-written exports."""
    import shutil

    if not out.parent.is_dir():
        return
    for entry in out.parent.iterdir():
        for mark in (TMP_MARK, ".old-"):
            prefix = f".{out.name}{mark}"
            if not entry.name.startswith(prefix) or not entry.is_dir():
                continue
            pid = entry.name[len(prefix):]
            if mark == ".old-" and not out.exists():
                continue  # the previous export, mid-swap: keep it
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
