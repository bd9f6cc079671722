"""The one model port every role talks to, and the types that cross it.

A :class:`ChatModel` has one async method, :meth:`ChatModel.complete`. Messages and
tools are plain OpenAI chat-format dicts, so the same prompt reaches the offline
``sim`` model, a scripted test model or a real endpoint unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Settings(BaseModel):
    """Sampling settings of one request.

    ``sample`` distinguishes otherwise identical requests (best-of-N candidates, trial
    numbers) so each gets its own cache entry and, on ``sim``, its own draw.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    sample: int = 0
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
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


class Completion(BaseModel):
    """What one request returned."""

    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str = "stop"
    usage: Usage = Field(default_factory=Usage)
    cost: float = 0.0
    model: str = ""
    cached: bool = False  # served from the response cache (nothing paid)
    saved_cost: float = 0.0  # on a cache hit: what the original call cost (for accounting)

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
