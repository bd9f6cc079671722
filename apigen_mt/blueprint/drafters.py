"""Drafters propose a blueprint from a context: ``llm`` (any model) or ``walk`` (no model)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from apigen_mt.blueprint.context import Context, user_view
from apigen_mt.blueprint.fill import fill_walk
from apigen_mt.blueprint.replies import ReplyError, parse_json_object
from apigen_mt.env.environment import Environment
from apigen_mt.env.graph import ApiGraph
from apigen_mt.llm.base import ChatModel, Settings
from apigen_mt.prompts import CONTEXT_FENCE, load_prompt
from apigen_mt.records import Action


@dataclass
class Draft:
    """A drafter's answer: a JSON-like blueprint, or why there is none."""

    blueprint: dict[str, Any] | None
    error: str | None = None


class Drafter(Protocol):
    """Anything that turns a context (and feedback on earlier rounds) into a draft."""

    name: str

    async def draft(self, ctx: Context, round_no: int, previous: dict[str, Any] | None,
                    feedback: str | None) -> Draft:
        """Propose a blueprint for ``ctx``; later rounds see the previous draft and advice."""
        ...


def compact(data: Any) -> str:
    """JSON as prompts carry it: no indentation, no spaces after separators.

    orjson writes these bytes several times faster than ``json`` (a drafter's context is
    most of its prompt); what it writes differently or refuses (keys that are not
    strings, integers past 64 bits, floats in exponent form under 1e-4) goes through
    ``json``, so the text is the same either way (NaN aside, which no record holds)."""
    try:
        text = orjson.dumps(data).decode()
    except TypeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if "e-" in text and _TINY_FLOAT.search(text):
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text


# "1e-7": how orjson writes a float that json writes "1e-07"
_TINY_FLOAT = re.compile(r"\de-\d(?!\d)")


def tool_listing(env: Environment) -> str:
    """Compact tool schemas for prompts, one a line."""
    return "\n".join(compact(t.schema["function"]) for t in env.domain.tools)


# the drafter's system prompt, by domain: it depends on the tool listing only, and every
# draft of a run asked for it again (serialising every schema each time)
_SYSTEMS: dict[int, tuple[Any, str]] = {}


def _drafter_system(env: Environment) -> str:
    domain = env.domain
    known = _SYSTEMS.get(id(domain))
    if known is not None and known[0] is domain:
        return known[1]
    text = load_prompt("drafter").render(tools=tool_listing(env))
    if len(_SYSTEMS) >= 16:  # a handful of domains per process
        _SYSTEMS.clear()
    _SYSTEMS[id(domain)] = (domain, text)  # holding the domain keeps its id valid
    return text


def context_block(ctx: Context) -> str:
    """The sampled context as a fenced JSON block with named top-level keys (models and
    the sim read the same text; a context budget may drop or trim keys)."""
    return f"{CONTEXT_FENCE}\n{compact(ctx.prompt_body())}\n```"


def drafter_messages(env: Environment, ctx: Context) -> list[dict[str, Any]]:
    """The first-round conversation with the drafter."""
    system = _drafter_system(env)
    user = ("Draft one blueprint from this context. The suggested tools are a hint that "
            "this customer's records allow, not a requirement.\n\n" + context_block(ctx))
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


class LLMDrafter:
    """A model writes the blueprint as JSON; unparseable replies get the parse error back."""

    name = "llm"

    def __init__(self, env: Environment, model: ChatModel, settings: Settings,
                 parse_retries: int = 2):
        self.env = env
        self.model = model
        self.settings = settings
        self.parse_retries = parse_retries

    async def draft(self, ctx: Context, round_no: int, previous: dict[str, Any] | None,
                    feedback: str | None) -> Draft:
        """One round: ask, parse, and on a parse error ask again with the error."""
        convo = drafter_messages(self.env, ctx)
        if previous is not None:
            convo += [{"role": "assistant", "content": compact(previous)},
                      {"role": "user", "content": "The draft was rejected.\n"
                       f"{feedback or '(none)'}\n\nWrite a corrected blueprint as one JSON "
                       "object."}]
        error = None
        for attempt in range(self.parse_retries + 1):
            settings = self.settings.model_copy(
                update={"sample": self.settings.sample + round_no * 10 + attempt})
            done = await self.model.complete(convo, None, settings)
            try:
                return Draft(parse_json_object(done.text))
            except ReplyError as exc:
                error = str(exc)
                convo = [*convo, {"role": "assistant", "content": done.text or ""},
                         {"role": "user", "content": f"{exc}. Reply with the JSON object only."}]
        return Draft(None, error=error)


# (actions, tool kinds, user id, user records, persona, rng) -> the customer's instruction
InstructionWriter = Callable[[list[Action], dict[str, str], str | None,
                              dict[str, Any] | None, str | None, random.Random], str]


class WalkDrafter:
    """No model: fill a sampled API walk on a scratch copy; the instruction comes from
    ``write``, a template writer the builder passes in (the offline sim's)."""

    name = "walk"

    def __init__(self, env: Environment, seed: int, write: InstructionWriter):
        self.env = env
        self.seed = seed
        self.write = write
        self.graph = ApiGraph.build(env.domain.tools, env.domain.graph_add,
                                    env.domain.graph_remove)

    async def draft(self, ctx: Context, round_no: int, previous: dict[str, Any] | None,
                    feedback: str | None) -> Draft:
        """Up to a few walks; the first whose writes all succeed becomes the draft."""
        rng = random.Random(f"{self.seed}:{ctx.user_id}:{ctx.walk}:{round_no}:walk")
        view = {**(ctx.user_data or {}), **ctx.excerpts}
        kinds = {t.name: t.kind for t in self.env.domain.tools}
        for attempt in range(6):
            walk = ctx.walk if (ctx.walk and attempt == 0) else self.graph.walk(rng)
            users = sorted(self.env.state[self.env.domain.user_table])
            others = [user_view(self.env, rng.choice(users))] if users else []
            filled = fill_walk(self.env, walk, view, rng, extra_views=others)
            if filled is None:
                continue
            instruction = self.write(filled.actions, kinds, ctx.user_id, ctx.user_data,
                                     ctx.persona, rng)
            return Draft({"user_id": ctx.user_id, "instruction": instruction,
                          "actions": [a.model_dump() for a in filled.actions], "outputs": []})
        return Draft(None, error="no walk could be filled with succeeding writes")
