"""Ordering calls so their preconditions hold: log in before a write, create before
edit, change directory before acting in a folder, unlock before driving.

Two helpers, both reading only what a drafter's prompt holds (tool schemas and the
policy text), so the walk filler and the offline sim drafter can share them:

- :func:`plan_session` puts a session tool (``login``, ``unlock``, ``cd`` …) before the
  first write when the policy asks for it to come first.
- :func:`prerequisites` ranks the tools that could fix a failed call whose error says
  something must come first, from the words of that error (``not logged in: log in
  first`` → ``login``; ``the car is locked: unlock it`` → ``unlock``; ``no file
  notes.txt in the current directory`` → ``cd``). An error about a wrong value (``order
  not found``) asks for another value, not another call, so it gets none.
"""

from __future__ import annotations

import re
from typing import Any

_SESSION_VERBS = {"login", "log", "signin", "sign", "authenticate", "auth", "unlock", "cd",
                  "chdir", "connect", "select", "switch", "enter", "activate", "use"}
_CURSOR_VERBS = {"cd", "chdir", "select", "switch", "use", "enter"}
_CREATE_VERBS = {"create", "add", "new", "make", "mkdir", "register", "open", "file", "post",
                 "publish", "write", "start", "insert", "upload", "book", "place"}
_STOP = {"the", "a", "an", "in", "to", "of", "is", "no", "not", "such", "or", "and", "for",
         "with", "you", "must", "first", "be", "it", "this", "that", "are", "has", "have",
         "can", "cannot", "on", "at", "by", "as", "error", "nobody", "any", "its", "one"}


def _tokens(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 2 and w not in _STOP}


def _match(a: str, b: str) -> bool:
    """Words match when one starts the other (log/logged/login, ticket/tickets)."""
    short, long = sorted((a, b), key=len)
    return (len(short) >= 3 and long.startswith(short)) or a == b


def _overlap(words: set[str], other: set[str]) -> int:
    return sum(1 for w in words if any(_match(w, o) for o in other))


def _describe(schema: dict[str, Any]) -> tuple[str, str]:
    function = schema.get("function", schema)
    return function.get("name", ""), function.get("description", "") or ""


def _verb(name: str) -> str:
    return name.lower().split("_", 1)[0]


def session_tools(schemas: list[dict[str, Any]]) -> list[str]:
    """Tools that open a session or move a cursor (by the verb their name starts with)."""
    out = []
    for schema in schemas:
        name, _ = _describe(schema)
        if _verb(name) in _SESSION_VERBS or name.lower() in ("log_in", "sign_in"):
            out.append(name)
    return out


def _first_sentences(policy: str) -> list[set[str]]:
    """Word sets of the policy's sentences that say something comes first."""
    sentences = re.split(r"(?<=[.!?])\s+|\n+", policy)
    return [_tokens(s) | {w for w in re.findall(r"[a-z]+", s.lower())}
            for s in sentences if re.search(r"\b(first|before|needs?|requires?|must be)\b",
                                            s, re.IGNORECASE)]


def required_sessions(schemas: list[dict[str, Any]], policy: str) -> list[str]:
    """Session tools the policy says must come first, in the order it names them."""
    sentences = _first_sentences(policy)
    out = []
    for schema in schemas:
        name, description = _describe(schema)
        if name not in session_tools([schema]):
            continue
        words = _tokens(name.replace("_", " ")) | _tokens(description)
        if any(_overlap(_tokens(name.replace("_", " ")), s) or _overlap(words, s) >= 2
               for s in sentences):
            out.append(name)
    return out


_READ_VERBS = {"get", "list", "find", "search", "read", "show", "view", "lookup", "count",
               "describe", "is", "has", "check", "fetch", "query", "whoami", "pwd", "ls",
               "cat", "status", "timeline", "calculate", "think"}


def guess_kinds(schemas: list[dict[str, Any]]) -> dict[str, str]:
    """Read or write from a tool's name alone (``get_…``, ``list_…`` read), for a drafter
    whose prompt lists the tools without their kinds."""
    return {name: "read" if _verb(name) in _READ_VERBS else "write"
            for name, _ in map(_describe, schemas)}


def plan_session(walk: list[str], schemas: list[dict[str, Any]], policy: str,
                 kinds: dict[str, str] | None = None) -> list[str]:
    """``walk`` with the policy's session tools before its first write (when missing);
    without ``kinds``, writes are guessed from the tools' names."""
    kinds = kinds if kinds is not None else guess_kinds(schemas)
    writes = [i for i, n in enumerate(walk) if kinds.get(n) == "write"]
    if not writes:
        return list(walk)
    first = writes[0]
    needed = [n for n in required_sessions(schemas, policy) if n not in walk[:first + 1]]
    # a session opened once stays open: later repeats of it go (a cursor like `cd` may move)
    rest = [n for n in walk[first:] if n not in needed or _verb(n) in _CURSOR_VERBS]
    return [*walk[:first], *needed, *rest]


_PRECONDITION = re.compile(r"\bfirst\b|\bbefore\b|log(ged)? ?in|sign(ed)? ?in|\blocked\b|"
                           r"authenticat|\bsession\b|current (directory|folder)|"
                           r"not (yet )?(open|started|active|connected|selected)", re.IGNORECASE)


def states_precondition(error: str) -> bool:
    """Whether an error says something must happen first (``log in first``, ``the car is
    locked``, ``not in the current directory``) rather than that a value is wrong."""
    return bool(_PRECONDITION.search(error))


def prerequisites(error: str, failed: str, schemas: list[dict[str, Any]],
                  kinds: dict[str, str] | None = None, limit: int = 3) -> list[str]:
    """Tools that may make a failed call succeed, best first (writes only, when kinds
    are known: a read cannot change what the call needs)."""
    if not states_precondition(error):
        return []
    words = _tokens(error)
    ranked = []
    for schema in schemas:
        name, description = _describe(schema)
        if name == failed or (kinds is not None and kinds.get(name) != "write"):
            continue
        name_words = _tokens(name.replace("_", " "))
        score = 2 * _overlap(name_words, words) + _overlap(_tokens(description), words)
        if score == 0:
            continue
        if _verb(name) in _SESSION_VERBS:
            score += 2  # the error says something must come first: a session step
        if _verb(name) in _CREATE_VERBS and _overlap(name_words - {_verb(name)}, words):
            score += 1  # "no ticket T9": the tool that creates tickets
        ranked.append((-score, name))
    return [name for _, name in sorted(ranked)[:limit]]
