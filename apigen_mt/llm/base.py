"""The one model port every role talks to, and the types that cross it.

A :class:`ChatModel` has one async method, :meth:`ChatModel.complete`. Messages and
tools are plain OpenAI chat-format dicts, so the same prompt reaches the offline
``sim`` model, a scripted test model or a real endpoint unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Settings(BaseModel):
    """Sampling settings of one request.

    ``sample`` distinguishes otherwise identical requests (best-of-N candidates, trial
    numbers) so each gets its own cache entry and, on ``sim``, its own draw. ``n`` asks
    for that many choices in one request (the prompt is paid once); a backend that
    cannot do it returns fewer, and :func:`complete_n` asks for the rest one by one.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    sample: int = 0
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    n: int = Field(1, ge=1)
    extra: dict[str, Any] = Field(default_factory=dict)


class ToolCallError(BaseModel):
    """Why a tool call the model produced cannot be executed as it stands."""

    kind: str  # "bad_json" | "not_object" | "unknown_tool" | "schema"
    message: str


class ToolCall(BaseModel):
    """One tool call from the model. ``arguments`` is None when ``error`` says why."""

    id: str
    name: str
    raw_arguments: str
    arguments: dict[str, Any] | None = None
    error: ToolCallError | None = None


class Usage(BaseModel):
    """Token counts of one completion (or a sum of many)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class Choice(BaseModel):
    """One of several choices of a request made with ``n`` > 1."""

    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str = "stop"


class Completion(BaseModel):
    """What one request returned: the first choice, and every choice when ``n`` > 1."""

    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str = "stop"
    choices: list[Choice] = Field(default_factory=list)  # empty: one choice (the fields above)
    usage: Usage = Field(default_factory=Usage)
    cost: float = 0.0
    model: str = ""
    cached: bool = False  # served from the response cache (nothing paid)
    saved_cost: float = 0.0  # on a cache hit: what the original call cost (for accounting)

    def all_choices(self) -> list[Choice]:
        """Every choice, the first one included."""
        if self.choices:
            return list(self.choices)
        return [Choice(text=self.text, tool_calls=self.tool_calls,
                       finish_reason=self.finish_reason)]

    def message(self) -> dict[str, Any]:
        """The assistant message to append to a conversation."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            msg["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": c.raw_arguments}}
                for c in self.tool_calls
            ]
        return msg


class ModelError(RuntimeError):
    """A request failed for good (after the transport layer's retries)."""

    def __init__(self, message: str, *, kind: str = "error", retryable: bool = False):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


@runtime_checkable
class ChatModel(Protocol):
    """The model port: one async method."""

    name: str

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        settings: Settings | None = None,
    ) -> Completion:
        """Return the model's next assistant turn for ``messages``."""
        ...


async def complete_n(model: ChatModel, messages: list[dict[str, Any]],
                     tools: list[dict[str, Any]] | None, settings: Settings,
                     n: int) -> tuple[list[Choice], list[Completion]]:
    """``n`` choices for one prompt: one request with ``n``, topped up one by one.

    Endpoints that support ``n`` answer in one request (the prompt's tokens paid once);
    one that ignores it returns a single choice, and the missing ones are asked for as
    separate requests whose ``sample`` is ``settings.sample + i`` (what the i-th choice
    of the one request would have been). Returns the choices and every completion paid.
    """
    first = await model.complete(messages, tools, settings.model_copy(update={"n": n})
                                 if n > 1 else settings)
    choices = first.all_choices()[:n]
    paid = [first]
    if len(choices) < n:
        more = await asyncio.gather(*(
            model.complete(messages, tools,
                           settings.model_copy(update={"n": 1, "sample": settings.sample + i}))
            for i in range(len(choices), n)))
        paid.extend(more)
        choices.extend(c.all_choices()[0] for c in more)
    return choices, paid
