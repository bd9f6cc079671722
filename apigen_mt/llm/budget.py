"""Prompts that fit the model: every request is cut to its context window before it is sent.

Applied at the model port (:class:`FittedModel`, wired by the registry), so the roles
build their prompts as they like and never think about windows. A request fits when
``prompt tokens + max_tokens <= context_window``; when it does not, what the role can
lose goes first, one piece at a time, in this stated order:

- drafter, reviewers, feedback: earlier exchanges of a retried conversation (all but the
  first request and the latest exchange), then the keys of the fenced JSON context block:
  ``examples`` (one at a time), ``persona``, records the task does not touch (in
  ``user_records``, ``user_data``, ``catalogue``, ``flights`` …: largest collection first,
  last record first; a record whose id appears elsewhere in the request is kept), and last
  the ``policy`` / ``policy_rules`` (from the end);
- human, critic, agent: the oldest turns (the system prompt and the latest exchange stay;
  an agent's tool call never loses its result).

A request that still does not fit raises :class:`ContextOverflow` (a per-item
:class:`ModelError` naming the role and the sizes), which the batch layer records as that
item's error without counting it towards the run-stopping failure streak.
"""

from __future__ import annotations

import contextvars
import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.llm.base import ChatModel, Completion, ModelError, Settings
from apigen_mt.llm.tokens import (
    Counter,
    count_request,
    estimate,
    message_texts,
    request_overhead,
)

DEFAULT_REPLY_TOKENS = 512  # room kept for the reply when a role sets no max_tokens
_FENCE = re.compile(r"```json[^\n]*\n(.*?)\n```", re.DOTALL)
EXAMPLE_KEYS = ("examples",)
LOOSE_KEYS = ("persona",)
RECORD_KEYS = ("user_records", "user_data", "catalogue", "products", "flights", "records")
POLICY_KEYS = ("policy_rules", "policy")
JSON_ROLES = ("drafter", "reviewers", "feedback", "recombine")

# What the last fit did, for the request log (set in the task that made the request).
last_fit: contextvars.ContextVar[Fit | None] = contextvars.ContextVar("apigen_mt_fit",
                                                                     default=None)


class ContextOverflow(ModelError):
    """A request that cannot fit the model's context window even after trimming."""

    def __init__(self, message: str):
        super().__init__(message, kind="context", retryable=False)


@dataclass
class Fit:
    """A request fitted to a window: what is sent, and what it cost to get there."""

    messages: list[dict[str, Any]]
    tokens: int  # prompt tokens as sent
    original: int  # prompt tokens as built
    window: int
    reply: int  # tokens kept for the reply
    trimmed: list[str] = field(default_factory=list)  # what was cut, in order

    def summary(self) -> dict[str, Any]:
        """A JSON-able account (for the request log)."""
        return {"window": self.window, "reply_tokens": self.reply, "tokens": self.tokens,
                "original_tokens": self.original, "trimmed": self.trimmed}


# --- trimming steps ------------------------------------------------------------------------


def _context_block(messages: list[dict[str, Any]]) -> tuple[int, re.Match[str], Any] | None:
    """(message index, fence match, parsed JSON) of the first fenced JSON object."""
    for i, m in enumerate(messages):
        content = m.get("content")
        if m.get("role") != "user" or not isinstance(content, str):
            continue
        for match in _FENCE.finditer(content):
            try:
                data = json.loads(match.group(1))
            except ValueError:
                continue
            if isinstance(data, dict):
                return i, match, data
    return None


def _with_block(messages: list[dict[str, Any]], index: int, match: re.Match[str],
                data: dict[str, Any]) -> list[dict[str, Any]]:
    body = match.group(1)
    text = json.dumps(data, indent=1) if "\n" in body else json.dumps(data,
                                                                     separators=(",", ":"))
    content = messages[index]["content"]
    new = content[:match.start(1)] + text + content[match.end(1):]
    out = list(messages)
    out[index] = {**messages[index], "content": new}
    return out


def _collections(value: Any) -> list[Any]:
    """Record collections inside a context value: dicts of records, lists of records."""
    if isinstance(value, list):
        return [value] if value and all(isinstance(v, dict) for v in value) else []
    if not isinstance(value, dict) or not value:
        return []
    nested = [c for v in value.values() for c in _collections(v)]
    if all(isinstance(v, dict) for v in value.values()) and not any(
            _grouping(v) for v in value.values()):
        return [value, *nested]  # id → record
    return nested  # a grouping: {"user": {...}, "orders": {id: record}}


def _grouping(value: Any) -> bool:
    """A dict of dicts only (a collection, or a grouping of them), not a record."""
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict)
                                                           for v in value.values())


def _record_ids(collection: Any) -> list[Any]:
    return list(collection) if isinstance(collection, dict) else list(range(len(collection)))


def _touched(collection: Any, key: Any, anchor: str) -> bool:
    """A record the rest of the request names (its id, or its own id fields)."""
    if isinstance(collection, dict):
        return str(key) in anchor
    record = collection[key]
    ids = [v for k, v in record.items() if k == "id" or k.endswith("_id")]
    return any(isinstance(v, str) and v in anchor for v in ids)


def _drop_untouched(data: dict[str, Any], key: str, anchor: str) -> Iterator[str]:
    """Drop one untouched record at a time from ``data[key]`` (largest collection first)."""
    while True:
        best = None
        for coll in _collections(data.get(key)):
            loose = [k for k in _record_ids(coll) if not _touched(coll, k, anchor)]
            if loose:
                size = len(json.dumps(coll))
                if best is None or size > best[0]:
                    best = (size, coll, loose[-1])
        if best is None:
            return
        _, coll, victim = best
        if isinstance(coll, dict):
            del coll[victim]
        else:
            del coll[victim]
        yield f"{key}: one record"


def _shorten(data: dict[str, Any], key: str, whole: bool) -> Iterator[str]:
    """Items from the end of a list (or paragraphs of a text), then the key itself."""
    value = data.get(key)
    if isinstance(value, list):
        while len(data[key]) > (0 if whole else 1):
            data[key] = data[key][:-1]
            yield f"{key}: one item"
    elif isinstance(value, str) and not whole:
        while data[key].count("\n\n") > 0:
            data[key] = data[key].rsplit("\n\n", 1)[0]
            yield f"{key}: one paragraph"
    if key in data:
        del data[key]
        yield key


def _json_steps(messages: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    found = _context_block(messages)
    if found is None:
        return
    index, match, data = found
    data = copy.deepcopy(data)
    rest = [k for k in data if k not in (*EXAMPLE_KEYS, *LOOSE_KEYS, *RECORD_KEYS,
                                         *POLICY_KEYS)]
    outside = "\n".join(t for i, t in enumerate(message_texts(messages, None)) if i != index)
    anchor = outside + json.dumps({k: data[k] for k in rest})
    plan: list[Iterator[str]] = []
    plan += [_shorten(data, k, whole=True) for k in EXAMPLE_KEYS + LOOSE_KEYS]
    plan += [_drop_untouched(data, k, anchor) for k in RECORD_KEYS]
    plan += [_shorten(data, k, whole=False) for k in POLICY_KEYS]
    for steps in plan:
        for label in steps:
            yield label, _with_block(messages, index, match, data)


def _retry_turns(messages: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A retried conversation: [system, first user, (assistant, user)*]: drop middle pairs."""
    head = 2 if messages and messages[0].get("role") == "system" else 1
    convo = list(messages)
    while len(convo) > head + 2:
        convo = convo[:head] + convo[head + 2:]
        yield "an earlier exchange", convo


def _turn_starts(messages: list[dict[str, Any]], first: int) -> list[int]:
    return [i for i in range(first, len(messages)) if messages[i].get("role") == "user"]


def _older_turns(messages: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Drop the oldest turns after the system prompt, a whole turn (from one user message
    to the next) at a time, so an assistant's tool calls keep their results."""
    head = 1 if messages and messages[0].get("role") == "system" else 0
    convo = list(messages)
    while True:
        starts = _turn_starts(convo, head)
        if len(starts) < 2:
            return
        cut = starts[1] if starts[0] == head else starts[0]
        if cut <= head:
            return
        convo = convo[:head] + convo[cut:]
        yield "an older turn", convo


_LINE = re.compile(r"^(agent|customer|user|assistant): ", re.M)


def _older_lines(messages: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A transcript inside one message (the critic's): drop its oldest lines."""
    for i in range(len(messages) - 1, -1, -1):
        content = messages[i].get("content")
        if messages[i].get("role") == "user" and isinstance(content, str):
            break
    else:
        return
    convo = list(messages)
    while True:
        content = convo[i]["content"]
        lines = list(_LINE.finditer(content))
        if len(lines) < 2:
            return
        new = content[:lines[0].start()] + content[lines[1].start():]
        convo = [*convo[:i], {**convo[i], "content": new}, *convo[i + 1:]]
        yield "an older line of the transcript", convo


def trim_steps(role: str, messages: list[dict[str, Any]]
               ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Ever smaller versions of ``messages``, each with what it cut, in the role's order."""
    base = role.split(".", 1)[0]
    if base in JSON_ROLES:
        current = messages
        for label, current in _retry_turns(messages):
            yield label, current
        yield from _json_steps(current)
    elif base == "critic":
        yield from _older_lines(messages)
    else:  # human, agent, anything conversational
        yield from _older_turns(messages)


# --- fitting -------------------------------------------------------------------------------


def _bytes(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    return sum(len(t.encode("utf-8")) for t in message_texts(messages, tools))


async def fit(role: str, model: str, messages: list[dict[str, Any]],
              tools: list[dict[str, Any]] | None, reply: int, window: int,
              counter: Counter) -> Fit:
    """``messages`` cut until ``prompt + reply <= window``; ContextOverflow if impossible."""
    budget = window - reply
    # A token is at least a byte for the tokenizers in use: a request this small fits.
    factor = getattr(counter, "bytes_factor", 1)
    if _bytes(messages, tools) * factor + request_overhead(messages, tools) <= budget:
        n = await count_request(_Estimate(), messages, tools)
        return Fit(messages, n, n, window, reply)
    original = tokens = await count_request(counter, messages, tools)
    current, trimmed = messages, []
    if tokens > budget:
        ratio = tokens / max(_bytes(messages, tools), 1)
        for label, candidate in trim_steps(role, messages):
            current = candidate
            trimmed.append(label)
            if _bytes(candidate, tools) * ratio > budget * 1.02:
                continue  # still clearly over: count only when it may fit
            tokens = await count_request(counter, candidate, tools)
            if tokens <= budget:
                break
        else:
            tokens = await count_request(counter, current, tools)
    if tokens > budget:
        cut = f" after trimming {_tally(trimmed)}" if trimmed else \
            " (nothing this role can lose)"
        raise ContextOverflow(
            f"{role}: the request does not fit {model}'s context window of {window} tokens: "
            f"{tokens} prompt tokens{cut} + {reply} for the reply (max_tokens) "
            f"= {tokens + reply}; the prompt was {original} tokens as built. Raise "
            f"context_window (and the server's), or lower this role's max_tokens")
    return Fit(current, tokens, original, window, reply, _tally_list(trimmed))


def _tally_list(labels: list[str]) -> list[str]:
    out: dict[str, int] = {}
    for label in labels:
        out[label] = out.get(label, 0) + 1
    return [f"{k} ×{v}" if v > 1 else k for k, v in out.items()]


def _tally(labels: list[str]) -> str:
    return ", ".join(_tally_list(labels))


class _Estimate:
    name = "estimate"

    async def count(self, texts: list[str], raw: bool = False) -> list[int]:
        return [estimate(t) for t in texts]


class FittedModel:
    """A role's model whose every request is fitted to ``window`` tokens first."""

    def __init__(self, inner: ChatModel, role: str, window: int, counter: Counter,
                 log: Any = None):
        self.inner = inner
        self.role = role
        self.window = window
        self.counter = counter
        self.log = log  # a RequestLog: requests that cannot fit are logged there too
        self.name = inner.name

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        settings = settings or Settings()
        reply = settings.max_tokens
        if reply is None:  # keep room for a reply, and ask for no more than that room
            reply = min(DEFAULT_REPLY_TOKENS, self.window // 4)
            settings = settings.model_copy(update={"max_tokens": reply})
        try:
            done = await fit(self.role, self.name, messages, tools, reply, self.window,
                             self.counter)
        except ContextOverflow as exc:
            if self.log is not None:
                self.log.write_unsent(self.role, self.name, exc, messages)
            raise
        last_fit.set(done)
        return await self.inner.complete(done.messages, tools, settings)
