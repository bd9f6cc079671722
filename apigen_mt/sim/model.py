"""The offline ``sim`` model: a real :class:`ChatModel` backend that needs no network.

It plays every role deterministically, and only through the model port: a request's role
is read from the marker in its first system message (:func:`~apigen_mt.sim.request.role_of`)
and answered by the handler given for that role. The handlers are passed in when the
backend is built (``SimModel(name, settings, roles)``; the pipeline's are
:func:`apigen_mt.sim.roles.builtin_roles`), so ``sim`` goes through the same prompt
building and response parsing as a real LLM: it reads the prompt it is given and answers
in the format that prompt asks for.

Determinism: each request gets a ``random.Random`` seeded from the sim seed, a hash of
the messages and tools, ``settings.seed`` and ``settings.sample`` — identical requests
give identical replies, different samples (best-of-N, trials) can differ.

Imperfections are named rates in ``sim.flaws`` (e.g. ``drafter.wrong_argument: 0.3``);
a handler reads them with ``req.flaw(name, default)``. The model ``sim:perfect`` turns
every flaw off.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Mapping
from typing import Any

import orjson

from apigen_mt.llm.base import Completion, Settings, ToolCall, Usage
from apigen_mt.llm.settings import SimSettings
from apigen_mt.llm.toolcalls import parse_tool_call, tool_schemas
from apigen_mt.sim.request import SimHandler, SimReply, SimRequest, role_of

SIM_VERSION = 9  # bump when built-in behaviour changes (it is part of the cache key)


class SimModel:
    """The ``sim`` backend. ``name`` is ``sim:<variant>``; ``sim:perfect`` has no flaws.

    ``roles`` maps a role name to its handler; a role with none (and every role when
    ``roles`` is not given) gets the generic :func:`default_handler`.
    """

    def __init__(self, name: str = "sim:sim", settings: SimSettings | None = None,
                 roles: Mapping[str, SimHandler] | None = None) -> None:
        self.name = name
        self.roles: dict[str, SimHandler] = {"default": default_handler, **(roles or {})}
        self.settings = settings or SimSettings()
        self.perfect = name.split(":", 1)[-1] == "perfect"
        flaws = {} if self.perfect else self.settings.flaws
        # Everything that shapes replies; used as the model identity in cache keys.
        self.fingerprint = (f"{name}|v{SIM_VERSION}|seed={self.settings.seed}|"
                            + orjson.dumps(flaws, option=orjson.OPT_SORT_KEYS).decode())

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        if self.settings.latency_ms > 0:
            await asyncio.sleep(self.settings.latency_ms / 1000.0)
        return self.respond(messages, tools, settings)

    def respond(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
                settings: Settings | None = None) -> Completion:
        """The synchronous core of :meth:`complete` (no simulated latency).

        With ``settings.n`` > 1 the i-th choice is the answer to the same request with
        ``sample + i``, and the prompt is counted once, as an endpoint bills it.
        """
        settings = settings or Settings()
        prompt = orjson.dumps([messages, tools], option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(prompt).hexdigest()
        if settings.n > 1:
            outs = [self._one(messages, tools, settings.model_copy(
                update={"n": 1, "sample": settings.sample + i}), digest, len(prompt))
                for i in range(settings.n)]
            first = outs[0]
            usage = Usage(prompt_tokens=first.usage.prompt_tokens,
                          completion_tokens=sum(o.usage.completion_tokens for o in outs))
            return first.model_copy(update={
                "usage": usage, "choices": [c for o in outs for c in o.all_choices()]})
        return self._one(messages, tools, settings, digest, len(prompt))

    def _one(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
             settings: Settings, digest: str, prompt_chars: int) -> Completion:
        material = f"{self.settings.seed}|{digest}|{settings.seed}|{settings.sample}"
        seed = int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")
        role = role_of(messages, tools)
        req = SimRequest(role=role, messages=messages, tools=tools, settings=settings,
                         rng=random.Random(seed), sim=self.settings, perfect=self.perfect)
        handler = self.roles.get(role) or self.roles["default"]
        reply = handler(req)
        return build_completion(self.name, reply, tools, material, prompt_chars)


def build_completion(model: str, reply: SimReply, tools: list[dict[str, Any]] | None,
                     id_seed: str, prompt_chars: int) -> Completion:
    """A real Completion from a handler's reply: ids, validation, estimated usage."""
    schemas = tool_schemas(tools) if tools is not None else None
    calls: list[ToolCall] = []
    out_chars = len(reply.text or "")
    for i, (name, args) in enumerate(reply.tool_calls):
        raw = args if isinstance(args, str) else orjson.dumps(args).decode()
        call_id = "call_" + hashlib.sha256(f"{id_seed}|{i}".encode()).hexdigest()[:24]
        calls.append(parse_tool_call(call_id, name, raw, schemas))
        out_chars += len(name) + len(raw)
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    usage = Usage(prompt_tokens=max(1, prompt_chars // 4),
                  completion_tokens=max(1, out_chars // 4))
    return Completion(text=reply.text, tool_calls=calls, finish_reason=finish, usage=usage,
                      cost=0.0, model=model)


# --- the built-in fallback -------------------------------------------------------------------


def example_arguments(schema: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Minimal arguments that satisfy a tool's parameters schema (required keys only)."""
    props = schema.get("properties", {})
    return {k: _example_value(props.get(k, {}), rng) for k in schema.get("required", [])}


def _example_value(schema: dict[str, Any], rng: random.Random) -> Any:
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return example_arguments(schema, rng)
    return {"string": "example", "integer": 1, "number": 1.0, "boolean": True,
            "array": [], "null": None}.get(kind, "example")


def default_handler(req: SimRequest) -> SimReply:
    """Generic behaviour for a role with no handler: call a tool when required, else reply."""
    choice = req.settings.tool_choice
    schemas = tool_schemas(req.tools)
    if schemas and choice not in (None, "auto", "none"):
        name = None
        if isinstance(choice, dict):
            name = choice.get("function", {}).get("name") or choice.get("name")
        name = name if name in schemas else next(iter(schemas))
        return SimReply(tool_calls=[(name, example_arguments(schemas[name], req.rng))])
    said = req.last_user.strip().splitlines()[0][:80] if req.last_user.strip() else ""
    return SimReply(text=f"OK. (sim {req.role}) {said}".rstrip())
