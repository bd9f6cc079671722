"""An opt-in log of what every role asked and what it got back (``requests.jsonl``).

Turned on with ``request_log: true`` (or ``--log-requests``). One JSON line per call, in
the order calls finish: role, model, the messages as sent (after fitting to the context
window), the settings, the reply (text and tool calls), usage, latency, whether it came
from the cache, how the prompt was fitted, or the error. A tool listing is written in
full the first time it appears and referred to by its digest afterwards, so an agent's
forty calls do not repeat the same schemas forty times.

Secrets removed: the values of the endpoints' key variables, and anything shaped like an
API key or a bearer token, are replaced by ``***`` before a line is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from apigen_mt.llm.base import ChatModel, Completion, ModelError, Settings

REQUEST_LOG = "requests.jsonl"
_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{12,}|Bearer\s+[A-Za-z0-9._\-]{8,}|"
                     r"(?:api[_-]?key|token|secret|password)\"?\s*[:=]\s*\"?[^\s\",}]{6,})",
                     re.IGNORECASE)


def _listed_digests(path: Path) -> set[str]:
    """Digests of the tool listings an existing log already holds in full."""
    seen: set[str] = set()
    if not path.exists():
        return seen
    with path.open("rb") as file:
        for line in file:
            if b'"tools":' not in line:
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:  # a torn last line
                continue
            if isinstance(row, dict) and row.get("tools") and row.get("tools_digest"):
                seen.add(row["tools_digest"])
    return seen


class RequestLog:
    """Append-only JSONL of requests and replies; safe to share between roles."""

    def __init__(self, path: str | Path, secrets: list[str] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.secrets = sorted({s for s in secrets or [] if s and len(s) >= 4}, key=len,
                              reverse=True)
        # a resumed run, or the next round of `run`, appends to the same log: listings it
        # already holds are referred to by digest, not written again
        self._tools_seen: set[str] = _listed_digests(self.path)
        self._file = self.path.open("ab")
        self._lock = threading.Lock()
        self.lines = 0

    def redact(self, text: str) -> str:
        """``text`` with every known secret and key-shaped string replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _SHAPES.sub("***", text)

    def tools_ref(self, tools: list[dict[str, Any]] | None) -> tuple[str | None, Any]:
        """(digest, the tools the first time / None afterwards)."""
        if not tools:
            return None, None
        blob = orjson.dumps(tools, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(blob).hexdigest()[:16]
        if digest in self._tools_seen:
            return digest, None
        self._tools_seen.add(digest)
        return digest, tools

    def write(self, row: dict[str, Any]) -> None:
        """Append one line (redacted)."""
        line = self.redact(orjson.dumps(row, default=str).decode()).encode() + b"\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            self.lines += 1

    def write_unsent(self, role: str, model: str, error: ModelError,
                     messages: list[dict[str, Any]]) -> None:
        """A request that was never sent because it could not fit: logged as built."""
        self.write({"role": role, "model": model, "messages": messages, "error": str(error),
                    "kind": error.kind, "sent": False})

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if not self._file.closed:
                self._file.close()


def key_values(config: Any) -> list[str]:
    """The API keys of a config's endpoints, as set in this process's environment."""
    names = [ep.api_key_env for ep in config.endpoints.values() if ep.api_key_env]
    return [os.environ[n] for n in names if os.environ.get(n)]


class LoggedModel:
    """Writes each request ``inner`` answers (or fails) to a :class:`RequestLog`."""

    def __init__(self, inner: ChatModel, role: str, log: RequestLog):
        self.inner = inner
        self.role = role
        self.log = log
        self.name = inner.name

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        from apigen_mt.llm.budget import last_fit

        settings = settings or Settings()
        row: dict[str, Any] = {"role": self.role, "model": self.name, "messages": messages,
                               "settings": settings.model_dump(exclude_defaults=True)}
        fitted = last_fit.get()
        if fitted is not None and fitted.messages is messages:
            row["fit"] = fitted.summary()
        started = time.perf_counter()
        try:
            out = await self.inner.complete(messages, tools, settings)
        except ModelError as exc:
            row.update(error=str(exc), kind=exc.kind,
                       ms=round((time.perf_counter() - started) * 1000))
            self._write(row, tools)
            raise
        row.update(reply={"text": out.text, "tool_calls": [c.model_dump(exclude_none=True)
                                                           for c in out.tool_calls],
                          "finish_reason": out.finish_reason},
                   usage=out.usage.model_dump(), cached=out.cached,
                   ms=round((time.perf_counter() - started) * 1000))
        self._write(row, tools)
        return out

    def _write(self, row: dict[str, Any], tools: list[dict[str, Any]] | None) -> None:
        # the tool list is attached when the row is written, not when the request starts:
        # rows land in completion order, so the first row of a listing must carry it
        digest, listing = self.log.tools_ref(tools)
        row["tools_digest"] = digest
        if listing is not None:
            row["tools"] = listing
        self.log.write(row)
