"""What a sim role handler is given and what it answers: one request, read whole.

A handler sees the request's messages, tools and settings (plus its seeded random
source and the configured flaw rates) and nothing else: no environment, no project
checks. The role is read from a marker in the first system message,
``<!-- role: NAME -->``; with no marker, a request that offers tools is the ``agent``
and anything else is ``default``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from apigen_mt.llm.base import Settings
from apigen_mt.llm.settings import SimSettings

ROLE_MARKER = re.compile(r"<!--\s*role:\s*([\w.-]*\w)")  # name ends with a word char


@dataclass
class SimRequest:
    """What a role handler sees."""

    role: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    settings: Settings
    rng: random.Random
    sim: SimSettings
    perfect: bool = False
    # mistakes may be drawn apart from wording (see :meth:`worded_by_state`)
    flaw_rng: random.Random | None = None

    def worded_by_state(self) -> SimRequest:
        """The same request whose wording depends only on the conversation so far, not on
        the trial or the best-of-N candidate; mistakes stay random per request. Trials then
        differ where a mistake happened (and best-of-N candidates where one was made)."""
        said = [{"role": m.get("role"), "content": m.get("content"),  # call ids differ
                 "calls": [(c.get("function") or {}) for c in m.get("tool_calls") or []]}
                for m in self.messages]
        state = orjson.dumps(said, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(f"{self.sim.seed}|{self.settings.seed}|".encode() + state)
        return dataclasses.replace(self, rng=random.Random(digest.digest()),
                                   flaw_rng=self.flaw_rng or self.rng)

    def flaw(self, name: str, default: float = 0.0) -> float:
        """The configured rate of the named imperfection (0 on ``sim:perfect``)."""
        return 0.0 if self.perfect else self.sim.flaw(name, default)

    def chance(self, name: str, default: float = 0.0) -> bool:
        """Draw once: does the named imperfection happen on this request?"""
        return (self.flaw_rng or self.rng).random() < self.flaw(name, default)

    @property
    def system(self) -> str:
        """Text of the first system message ('' if none)."""
        for m in self.messages:
            if m.get("role") in ("system", "developer"):
                return content_text(m.get("content"))
        return ""

    @property
    def last_user(self) -> str:
        """Text of the last user message ('' if none)."""
        for m in reversed(self.messages):
            if m.get("role") == "user":
                return content_text(m.get("content"))
        return ""


@dataclass
class SimReply:
    """A handler's answer: text and/or tool calls.

    Each tool call is ``(name, arguments)`` where arguments is a dict, or a raw string
    to simulate malformed JSON.
    """

    text: str | None = None
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    finish_reason: str | None = None


SimHandler = Callable[[SimRequest], SimReply]


def role_of(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    """The role a request is for, from the marker in its first system message."""
    for m in messages:
        if m.get("role") in ("system", "developer"):
            found = ROLE_MARKER.search(content_text(m.get("content")))
            if found:
                return found.group(1)
            break
    return "agent" if tools else "default"


def content_text(content: Any) -> str:
    """A message's content as text (string content, or the text parts of a list)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)
