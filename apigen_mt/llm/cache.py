"""On-disk response cache: a crash or a rerun never pays twice for the same call.

Storage choice: an append-only JSONL file, loaded into a dict when opened. Why not sqlite:
the access pattern is "read everything once, then append", from one process driving
hundreds of coroutines on one event loop. An in-memory dict answers hits in nanoseconds
with no executor hop or connection sharing, and an append is one buffered ``write`` +
``flush`` (into the OS page cache, so it survives ``kill -9`` of the process; we do not
fsync per line — losing the last few entries to a power cut only costs a re-ask).
A torn last line (the process died mid-write) fails to parse on load; it is dropped and
the file is truncated back to the last complete line before new appends.

One process writes a cache file: it holds an exclusive ``flock``; a second process that
opens the same file gets the entries already there, read-only, with a warning.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import orjson

from apigen_mt.llm.base import ChatModel, Completion, Settings

log = logging.getLogger("apigen_mt.llm")
CACHE_FILE = "responses.jsonl"
KEY_VERSION = 2  # 2: the model identity includes the endpoint


def model_identity(ref: str, base_url: str | None = None) -> str:
    """What the cache keys a model by: its reference and, for a served model, the
    endpoint's base URL (credentials masked), so pointing a role at another server never
    answers from the old one."""
    if base_url is None:
        return ref
    from apigen_mt.redact import redact_url

    return f"{ref}@{redact_url(base_url)}"


_KEY_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_KEY_TAIL = b',"v":' + orjson.dumps(KEY_VERSION) + b"}"
# tool listings already serialised for a key, by the identities of their entries: every
# conversation of a run offers the same tool definitions (the same dict objects, see
# ``Tool.schema``); listings of other objects are serialised, and remembered, as well
_TOOL_BLOBS: dict[tuple[int, ...], tuple[list[Any], bytes]] = {}


def _tools_blob(tools: list[dict[str, Any]] | None) -> bytes:
    if not tools:
        return orjson.dumps(tools, option=_KEY_OPTIONS)
    ids = tuple(map(id, tools))
    known = _TOOL_BLOBS.get(ids)
    if known is not None:
        return known[1]
    blob = orjson.dumps(tools, option=_KEY_OPTIONS)
    if len(_TOOL_BLOBS) >= 64:  # a handful of listings per run; never grows without bound
        _TOOL_BLOBS.clear()
    _TOOL_BLOBS[ids] = (list(tools), blob)  # holding the entries keeps their ids valid
    return blob


def request_key(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                settings: Settings) -> str:
    """sha256 of everything that determines the answer (model, prompt, tools, settings).

    The hashed bytes are those of ``{"v", "model", "messages", "tools", "settings"}``
    serialised with sorted keys, written part by part (the keys in sorted order) so a
    tool listing serialised once is reused on every call that offers it.
    """
    blob = b"".join((
        b'{"messages":', orjson.dumps(messages, option=_KEY_OPTIONS),
        b',"model":', orjson.dumps(model),
        b',"settings":', orjson.dumps(settings.model_dump(mode="json"), option=_KEY_OPTIONS),
        b',"tools":', _tools_blob(tools), _KEY_TAIL))
    return hashlib.sha256(blob).hexdigest()


class ResponseCache:
    """Key → stored completion (JSON-able dict); ``path`` None keeps it in memory only."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.hits = 0
        self.misses = 0
        self.dropped_lines = 0  # torn or corrupt lines ignored on load
        self.first_dropped_line = 0  # line number of the first of those, for the report
        self.invalid = 0  # entries whose value was not a valid completion (asked again)
        self.read_only = False
        # key → where the entry's line is in the file (offset << 32 | length), or the line
        # itself when there is no file to read it back from. A long run caches hundreds of
        # thousands of replies: an index of ints costs a fraction of the memory of the
        # replies (and parsed dicts would also make every full garbage collection slow).
        self._data: dict[str, Any] = {}
        self._end = 0  # size of the file: where the next line goes
        self._inflight: dict[str, asyncio.Future[Completion]] = {}
        self._lock = threading.Lock()
        self._fh: Any = None
        if self.path is not None:
            self._open(self.path)

    def __len__(self) -> int:
        return len(self._data)

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "a+b")  # noqa: SIM115 - held open for appends until close()
        if not _try_lock(self._fh):
            log.warning("response cache %s is in use by another process; using it read-only",
                        path)
            self.read_only = True
        self._fh.seek(0)
        good_end = pos = 0
        last = b""
        for lineno, raw in enumerate(self._fh, 1):  # line by line: the file can be large
            end = pos + len(raw)
            line = raw.strip()
            if line:
                try:
                    row = orjson.loads(line)
                    if "v" not in row:
                        raise KeyError("v")
                    self._data[row["k"]] = self._ref(pos, raw.rstrip(b"\r\n"))
                    good_end = end
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    self.dropped_lines += 1
                    self.first_dropped_line = self.first_dropped_line or lineno
            else:
                good_end = end
            pos, last = end, raw
        if self.dropped_lines:
            log.warning("response cache %s:%d: ignored %d torn/corrupt line(s) from here on",
                        path, self.first_dropped_line, self.dropped_lines)
        self._end = pos
        if not self.read_only:
            if good_end < pos:  # a torn tail: cut it so appends start clean
                self._fh.truncate(good_end)
                self._end = good_end
            elif last and not last.endswith(b"\n"):
                self._fh.write(b"\n")
                self._fh.flush()
                self._end += 1
            self._fh.seek(0, 2)

    def preload(self, entries: dict[str, dict[str, Any]]) -> None:
        """Add entries held in memory only (e.g. a worker's copy of the driver's cache)."""
        with self._lock:
            for key, value in entries.items():
                self._data[key] = orjson.dumps({"k": key, "v": value})

    def _ref(self, offset: int, line: bytes) -> int | bytes:
        if self.read_only:  # the file belongs to another process: keep the line itself
            return line
        return offset << 32 | len(line)

    def get(self, key: str) -> dict[str, Any] | None:
        ref = self._data.get(key)
        if ref is None:
            return None
        if isinstance(ref, dict):  # put there directly (older callers): already a value
            return ref
        if isinstance(ref, int):
            offset, size = ref >> 32, ref & 0xFFFFFFFF
            if self._fh is not None:
                ref = os.pread(self._fh.fileno(), size, offset)
            else:  # closed: read it back all the same
                with open(self.path, "rb") as fh:  # type: ignore[arg-type]
                    fh.seek(offset)
                    ref = fh.read(size)
        return orjson.loads(ref)["v"]

    def lookup(self, key: str) -> Completion | None:
        """The stored completion for ``key``, validated; a bad entry is a miss.

        An entry whose value is not a usable completion (the file was damaged or edited,
        or an older version wrote it) is counted in ``invalid``, reported once, and asked
        again; the fresh answer is appended and wins on the next load.
        """
        try:
            stored = self.get(key)
            if stored is None:
                return None
            completion = Completion.model_validate(stored)
            if completion.text is None and not completion.tool_calls:
                raise ValueError("empty completion")
            return completion
        except (ValueError, TypeError, KeyError, OSError):  # ValidationError is a ValueError
            self.invalid += 1
            if self.invalid == 1:
                log.warning("response cache %s: an entry is not a valid completion; it is "
                            "ignored and the request asked again", self.path or "(memory)")
            with self._lock:
                self._data.pop(key, None)
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        line = orjson.dumps({"k": key, "v": value})
        with self._lock:
            if self._fh is not None and not self.read_only:
                try:
                    self._fh.write(line + b"\n")
                    self._fh.flush()  # in the OS page cache now: it survives kill -9
                except OSError as exc:  # disk full: name the file (a torn tail is cut later)
                    from apigen_mt.atomic import describe
                    from apigen_mt.errors import RunFailure

                    raise RunFailure(f"cannot write {self.path}: {describe(exc)}") from None
                self._data[key] = self._end << 32 | len(line)
                self._end += len(line) + 1
            else:
                self._data[key] = line

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def _try_lock(fh: Any) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one writer is the caller's promise
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class CachedModel:
    """A :class:`ChatModel` that answers repeated requests from a :class:`ResponseCache`.

    Identical concurrent requests are coalesced: one goes to the model, the others wait
    for it and count as hits. Failures are never cached. A semantic retry by a role must
    change the messages or ``settings.sample``, or it would get the same answer back.
    """

    def __init__(self, inner: ChatModel, cache: ResponseCache, fingerprint: str | None = None):
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        # What identifies the model's behaviour; a sim model includes its seed and flaws.
        self.fingerprint = fingerprint or getattr(inner, "fingerprint", None) or inner.name

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        settings = settings or Settings()
        key = request_key(self.fingerprint, messages, tools, settings)
        while True:
            stored = self.cache.lookup(key)
            if stored is not None:
                self.cache.hits += 1
                return _as_hit(stored)
            pending = self.cache._inflight.get(key)
            if pending is None:
                break
            await asyncio.wait({pending})  # raises only if *this* task is cancelled
            if pending.cancelled():
                continue  # the caller that was asking gave up: ask ourselves
            exc = pending.exception()
            if exc is not None:
                raise exc
            self.cache.hits += 1
            return _as_hit(pending.result())
        self.cache.misses += 1
        fut: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self.cache._inflight[key] = fut
        try:
            completion = await self.inner.complete(messages, tools, settings)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self.cache._inflight.pop(key, None)
        self.cache.put(key, completion.model_dump(mode="json"))
        fut.set_result(completion)
        return completion


def _as_hit(completion: Completion) -> Completion:
    return completion.model_copy(
        update={"cached": True, "saved_cost": completion.cost, "cost": 0.0})
