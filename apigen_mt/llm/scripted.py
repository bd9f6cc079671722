"""A model whose answers are written by the test: a queue, or a function of the request.

    model = ScriptedModel(["Hello!", ("get_order", {"order_id": "#W1"}), Completion(...)])
    model = ScriptedModel(lambda messages, tools, settings: "always this")

Queue items (and function results) may be: a ``str`` (text reply), a ``(name, args)``
tuple (one tool call; ``args`` a dict, or a raw string to simulate bad JSON), a list of
such tuples (parallel calls), a :class:`ToolCall`, a :class:`Completion` (returned as
is), or an ``Exception`` instance (raised, e.g. a ``ModelError``). Tool calls go through
the same validation as real backends when tools were offered. Every request is recorded
in ``calls`` for assertions.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apigen_mt.llm.base import Completion, Settings, ToolCall
from apigen_mt.sim.model import build_completion
from apigen_mt.sim.request import SimReply

ScriptItem = Any
ScriptFn = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None, Settings], Any]


class ScriptExhausted(AssertionError):
    """The scripted model was asked more often than the script has answers."""


@dataclass
class ScriptedCall:
    """One recorded request."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    settings: Settings


class ScriptedModel:
    """A :class:`ChatModel` for tests; see the module docstring."""

    def __init__(self, script: Iterable[ScriptItem] | ScriptFn, name: str = "scripted:test"):
        self.name = name
        self.calls: list[ScriptedCall] = []
        if callable(script) and not isinstance(script, (list, tuple, deque)):
            self._fn: ScriptFn | None = script
            self._queue: deque[ScriptItem] = deque()
        else:
            self._fn = None
            self._queue = deque(script)

    @property
    def remaining(self) -> int:
        """Answers left in the queue."""
        return len(self._queue)

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        settings = settings or Settings()
        self.calls.append(ScriptedCall(messages=list(messages), tools=tools, settings=settings))
        if self._fn is not None:
            item = self._fn(messages, tools, settings)
            if inspect.isawaitable(item):
                item = await item
        elif self._queue:
            item = self._queue.popleft()
        else:
            raise ScriptExhausted(f"{self.name}: script exhausted after {len(self.calls) - 1} "
                                  f"call(s)")
        return self._to_completion(item, messages, tools)

    def _to_completion(self, item: ScriptItem, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None) -> Completion:
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Completion):
            return item
        if isinstance(item, ToolCall):
            return Completion(tool_calls=[item], finish_reason="tool_calls", model=self.name)
        if isinstance(item, SimReply):
            reply = item
        elif isinstance(item, str) or item is None:
            reply = SimReply(text=item)
        elif isinstance(item, tuple):
            reply = SimReply(tool_calls=[item])
        elif isinstance(item, list):
            reply = SimReply(tool_calls=list(item))
        else:
            raise TypeError(f"cannot turn {type(item).__name__} into a completion")
        prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
        return build_completion(self.name, reply, tools, f"{self.name}|{len(self.calls)}",
                                prompt_chars)
