"""The exported record layouts as pydantic models, with their validity rules.

* :class:`ShareGPTRecord` — the released APIGen-MT-5k layout, as LLaMA-Factory reads it:
  ``conversations`` of ``{from, value}`` where ``from`` is ``human`` / ``gpt`` /
  ``function_call`` / ``observation``, ``system`` (the policy) and ``tools`` (a JSON
  string of bare function definitions). LLaMA-Factory's rule: ``human``/``observation``
  at odd positions (1st, 3rd …), ``gpt``/``function_call`` at even ones, and an even
  number of turns; APIGen-MT-5k adds: every ``function_call`` (one call, ``{"name",
  "arguments"}`` as a JSON string) is followed by exactly one ``observation``.
* :class:`OpenAIRecord` — chat fine-tuning JSONL with tools. :func:`openai_problems`
  applies the fine-tuning data rules (after OpenAI's format checks: known roles and
  keys, content present where required, at least one assistant message, and the record
  ending on one: only assistant messages are trained, so a closing customer line teaches
  nothing), extended to tools: ``tools`` entries are ``{"type": "function", "function":
  {name, description, parameters}}`` with names of at most 64 letters, digits, ``_`` or
  ``-`` and parameters a JSON Schema object; arguments are JSON-object strings naming a
  declared tool, call ids are unique in the record, every call is answered by a ``tool``
  message carrying its id before the conversation moves on, and no tool message answers
  an unknown call.
* :class:`DPORecord` — TRL's conversational preference layout.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SHAREGPT_USER = ("human", "observation")  # odd positions
SHAREGPT_ASSISTANT = ("gpt", "function_call")  # even positions


class ShareGPTTurn(BaseModel):
    """One turn: who spoke and what."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Literal["human", "gpt", "function_call", "observation"] = Field(alias="from")
    value: str


class ShareGPTRecord(BaseModel):
    """Exactly the APIGen-MT-5k record layout."""

    model_config = ConfigDict(extra="forbid")

    conversations: list[ShareGPTTurn]
    system: str
    tools: str

    def problems(self) -> list[str]:
        """Ways this record breaks LLaMA-Factory's sharegpt rules ([] when valid)."""
        out = []
        turns = self.conversations
        if not turns:
            return ["no conversation turns"]
        for i, turn in enumerate(turns):
            allowed = SHAREGPT_USER if i % 2 == 0 else SHAREGPT_ASSISTANT
            if turn.from_ not in allowed:
                out.append(f"turn {i + 1} is '{turn.from_}', expected one of {allowed}")
                break
        if len(turns) % 2:
            out.append(f"odd number of turns ({len(turns)})")
        for i, turn in enumerate(turns):
            if turn.from_ == "function_call":
                nxt = turns[i + 1].from_ if i + 1 < len(turns) else None
                if nxt != "observation":
                    out.append(f"function_call at turn {i + 1} is not followed by an "
                               "observation")
                try:
                    call = json.loads(turn.value)
                except json.JSONDecodeError:
                    out.append(f"function_call at turn {i + 1} is not JSON")
                    continue
                if not isinstance(call, dict) or set(call) != {"name", "arguments"}:
                    out.append(f"function_call at turn {i + 1} is not {{name, arguments}}")
                elif not isinstance(call["arguments"], dict):
                    out.append(f"function_call at turn {i + 1}: arguments of "
                               f"{call['name']!r} are not a JSON object")
            elif turn.from_ == "observation" and (i == 0 or
                                                  turns[i - 1].from_ != "function_call"):
                out.append(f"observation at turn {i + 1} follows no function_call")
        try:
            tools = json.loads(self.tools)
        except json.JSONDecodeError:
            out.append("tools is not a JSON string")
        else:
            if not isinstance(tools, list) or not all(
                    isinstance(t, dict) and "name" in t for t in tools):
                out.append("tools is not a list of function definitions")
        return out

    def to_messages(self, greeting: str | None = None) -> list[dict[str, Any]]:
        """Back to chat messages (tool calls without ids; arguments as objects)."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system}]
        if greeting:
            messages.append({"role": "assistant", "content": greeting})
        for turn in self.conversations:
            if turn.from_ == "human":
                messages.append({"role": "user", "content": turn.value})
            elif turn.from_ == "gpt":
                messages.append({"role": "assistant", "content": turn.value})
            elif turn.from_ == "function_call":
                call = json.loads(turn.value)
                messages.append({"role": "assistant", "content": None, "tool_calls": [
                    {"type": "function", "function": {"name": call["name"],
                                                      "arguments": call["arguments"]}}]})
            else:
                messages.append({"role": "tool", "content": turn.value})
        return messages


class OpenAIFunctionCall(BaseModel):
    """The function part of a tool call: arguments are a JSON string."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: str


class OpenAIToolCall(BaseModel):
    """One tool call of an assistant message."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    type: Literal["function"]
    function: OpenAIFunctionCall


class OpenAIMessage(BaseModel):
    """A chat message as the fine-tuning format accepts it."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    name: str | None = None
    tool_calls: list[OpenAIToolCall] | None = None
    tool_call_id: str | None = None
    weight: Literal[0, 1] | None = None


class OpenAIFunction(BaseModel):
    """A tool's definition."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    strict: bool | None = None


class OpenAITool(BaseModel):
    """One entry of ``tools``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: OpenAIFunction


class OpenAIRecord(BaseModel):
    """One line of a chat fine-tuning file with tools."""

    model_config = ConfigDict(extra="forbid")

    messages: list[OpenAIMessage] = Field(min_length=1)
    tools: list[OpenAITool] | None = None
    parallel_tool_calls: bool | None = None


def openai_problems(record: dict[str, Any]) -> list[str]:
    """Every rule of the fine-tuning format this record breaks ([] when valid)."""
    try:
        rec = OpenAIRecord.model_validate(record)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return [f"{where}: {err['msg']}"]
    out: list[str] = []
    declared = [t.function.name for t in rec.tools or []]
    if len(set(declared)) != len(declared):
        out.append("tools: a tool name is declared twice")
    for t in rec.tools or []:
        params = t.function.parameters
        if params and params.get("type") != "object":
            out.append(f"tools: parameters of {t.function.name!r} are not a JSON Schema "
                       "object (type 'object')")
    if not any(m.role == "assistant" for m in rec.messages):
        out.append("no assistant message")
    elif rec.messages[-1].role != "assistant":
        out.append(f"the last message is from the {rec.messages[-1].role}, not the "
                   "assistant (nothing after the last assistant message is trained)")
    seen_ids: set[str] = set()
    pending: list[str] = []  # calls of the latest assistant message not yet answered
    for i, m in enumerate(rec.messages):
        where = f"messages.{i} ({m.role})"
        if m.role != "tool" and pending:
            out.append(f"{where}: tool call(s) {', '.join(pending)} never answered")
            pending = []
        if m.role in ("system", "user") and not (m.content or "").strip():
            out.append(f"{where}: content must be a non-empty string")
        if m.role != "assistant" and (m.tool_calls is not None or m.weight is not None):
            out.append(f"{where}: only assistant messages carry tool_calls or weight")
        if m.role != "tool" and m.tool_call_id is not None:
            out.append(f"{where}: only tool messages carry tool_call_id")
        if m.role == "assistant":
            if not m.tool_calls and not (m.content or "").strip():
                out.append(f"{where}: needs content or tool_calls")
            if m.tool_calls is not None and not m.tool_calls:
                out.append(f"{where}: tool_calls is empty")
            if rec.parallel_tool_calls is False and len(m.tool_calls or []) > 1:
                out.append(f"{where}: several tool calls while parallel_tool_calls is false")
            for call in m.tool_calls or []:
                if call.id in seen_ids:
                    out.append(f"{where}: tool call id {call.id} is used twice")
                seen_ids.add(call.id)
                pending.append(call.id)
                if rec.tools is not None and call.function.name not in declared:
                    out.append(f"{where}: calls undeclared tool {call.function.name!r}")
                try:
                    args = json.loads(call.function.arguments)
                except json.JSONDecodeError:
                    out.append(f"{where}: arguments of {call.function.name!r} are not JSON")
                    continue
                if not isinstance(args, dict):
                    out.append(f"{where}: arguments of {call.function.name!r} are not an "
                               "object")
        if m.role == "tool":
            if m.content is None:
                out.append(f"{where}: content must be a string")
            if m.tool_call_id not in pending:
                out.append(f"{where}: tool_call_id {m.tool_call_id} answers no open call")
            else:
                pending.remove(m.tool_call_id)
    if pending:
        out.append(f"tool call(s) {', '.join(pending)} never answered")
    return out


class DPORecord(BaseModel):
    """TRL's conversational preference layout (plus provenance fields)."""

    model_config = ConfigDict(extra="forbid")

    prompt: list[dict[str, Any]] = Field(min_length=1)
    chosen: list[dict[str, Any]] = Field(min_length=1)
    rejected: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    blueprint_id: str
    chosen_id: str
    rejected_id: str
    rejected_reason: str
