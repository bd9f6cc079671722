"""Reading the files users hand us, with errors that name the file.

Binary content, bad UTF-8, malformed JSON, nesting too deep for the parser and I/O
errors all become one line that says which file and what is wrong, never a traceback
and never a message without a path.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from apigen_mt.errors import UsageError


def read_text(path: Path, what: str, error: type[Exception] = UsageError) -> str:
    """The file's text; ``error`` (default :class:`UsageError`) naming the file otherwise."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{path}: {what} is a folder, not a file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if b"\x00" in data:
        raise error(f"{path}: the {what} is a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: the {what} is not UTF-8 text (byte {exc.start})") from None


def parse_json(text: str, path: Path, what: str, error: type[Exception] = UsageError) -> Any:
    """``json.loads`` with errors naming the file, the line and the problem."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}: the {what} is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise error(f"{path}: the {what} is nested too deeply to read") from None


def read_json(path: Path, what: str, error: type[Exception] = UsageError) -> Any:
    """Read and parse a JSON file (see :func:`read_text` and :func:`parse_json`)."""
    return parse_json(read_text(path, what, error), path, what, error)


def warn(message: str) -> None:
    """A one-line warning on stderr (data problems that do not stop the command)."""
    print(f"warning: {message}", file=sys.stderr)


class LineReport:
    """Duplicate and damaged lines of one JSONL file, told with file and line."""

    SHOWN = 3  # lines named one by one; the rest are counted

    def __init__(self, path: Path, say: Callable[[str], None] = warn):
        self.path = path
        self.say = say
        self.duplicates = 0
        self._first: dict[Any, int] = {}

    def seen(self, row: Any, line: bytes, lineno: int) -> bool:
        """True when ``row`` repeats an earlier record (same ``id``, or the same line)."""
        key = row.get("id") if isinstance(row, dict) and row.get("id") else line.strip()
        first = self._first.get(key)
        if first is None:
            self._first[key] = lineno
            return False
        self.duplicates += 1
        if self.duplicates <= self.SHOWN:
            what = f"record {key}" if isinstance(key, str) else "line"
            self.say(f"{self.path}:{lineno}: duplicate of line {first} ({what}); skipped")
        return True

    def close(self) -> None:
        """Say how many duplicates there were beyond those named."""
        if self.duplicates > self.SHOWN:
            self.say(f"{self.path}: {self.duplicates} duplicate line(s) in all; skipped")


def scan_jsonl(path: Path, *, torn_ok: bool) -> Iterator[tuple[int, Any]]:
    """(line number, record) for every complete line, duplicates skipped and reported.

    A complete line (one ending in a newline) that does not parse is damage: a
    :class:`UsageError` names the file and the line. A last line with no newline is
    a record being written (or cut by a crash): with ``torn_ok`` it is reported and
    skipped, otherwise it is an error too.
    """
    for lineno, _, _, row in scan_jsonl_spans(path, torn_ok=torn_ok):
        yield lineno, row


def scan_jsonl_spans(path: Path, *, torn_ok: bool) -> Iterator[tuple[int, int, int, Any]]:
    """:func:`scan_jsonl` with where each line is: (line number, byte offset, byte length
    of the line, record), so a reader can hold a record's place instead of the record."""
    report = LineReport(path)
    offset = 0
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                if not line.endswith(b"\n") and torn_ok:
                    warn(f"{path}:{lineno}: incomplete last line (still being written, or "
                         "cut by a crash); skipped")
                    break
                raise UsageError(f"{path}:{lineno}: corrupt record (not JSON); fix or remove "
                                 "that line") from None
            if report.seen(row, line, lineno):
                continue
            yield lineno, start, len(line), row
    report.close()
