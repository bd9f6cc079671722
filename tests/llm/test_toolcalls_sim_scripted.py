"""Tool-call validation, the sim framework and the scripted model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apigen_mt.config import SimSettings
from apigen_mt.llm import (
    Completion,
    ModelError,
    ScriptedModel,
    ScriptExhausted,
    Settings,
    parse_tool_call,
)
from apigen_mt.sim import SimModel, SimReply, SimRequest
from apigen_mt.sim.request import role_of

TOOLS: list[dict[str, Any]] = [{"type": "function", "function": {
    "name": "book", "parameters": {
        "type": "object",
        "properties": {"flight": {"type": "string"}, "seats": {"type": "integer"},
                       "cabin": {"type": "string", "enum": ["economy", "business"]},
                       "bags": {"type": "array", "items": {"type": "integer"}},
                       "note": {"type": ["string", "null"]}},
        "required": ["flight", "seats"], "additionalProperties": False}}}]


@pytest.mark.parametrize(("raw", "kind"), [
    ('{"flight": "HAT1", "seats": 2', "bad_json"),
    ('["HAT1"]', "not_object"),
    ('{"flight": "HAT1"}', "schema"),
    ('{"flight": "HAT1", "seats": 2, "meal": "veg"}', "schema"),
    ('{"flight": "HAT1", "seats": "2"}', "schema"),
    ('{"flight": "HAT1", "seats": true}', "schema"),
    ('{"flight": "HAT1", "seats": 2, "cabin": "first"}', "schema"),
    ('{"flight": "HAT1", "seats": 2, "bags": [1, "x"]}', "schema"),
])
def test_invalid_tool_calls_are_typed_errors(raw: str, kind: str) -> None:
    call = parse_tool_call("call_1", "book", raw, TOOLS)
    assert call.arguments is None and call.error is not None
    assert call.error.kind == kind and call.raw_arguments == raw


def test_valid_and_unknown_tool_calls() -> None:
    ok = parse_tool_call("c", "book", '{"flight": "HAT1", "seats": 2, "note": null}', TOOLS)
    assert ok.error is None and ok.arguments == {"flight": "HAT1", "seats": 2, "note": None}
    unknown = parse_tool_call("c", "cancel", "{}", TOOLS)
    assert unknown.error is not None and unknown.error.kind == "unknown_tool"
    assert "book" in unknown.error.message
    assert parse_tool_call("c", "anything", "", None).arguments == {}  # nothing to check against


def test_sim_is_deterministic_and_samples_differ() -> None:
    def coin(req: SimRequest) -> SimReply:
        return SimReply(text=f"{req.rng.random():.12f}")

    model = SimModel(roles={"test.coin": coin})
    msgs = [{"role": "system", "content": "<!-- role: test.coin -->\nFlip."},
            {"role": "user", "content": "go"}]
    a = asyncio.run(model.complete(msgs))
    b = asyncio.run(model.complete(msgs))
    assert a == b
    samples = {asyncio.run(model.complete(msgs, None, Settings(sample=i))).text
               for i in range(5)}
    assert len(samples) == 5
    reseeded = SimModel(settings=SimSettings(seed=9), roles={"test.coin": coin})
    other_seed = asyncio.run(reseeded.complete(msgs))
    assert other_seed.text != a.text
    assert a.cost == 0 and a.usage.prompt_tokens > 0 and a.finish_reason == "stop"


def test_sim_roles_flaws_and_bad_json() -> None:
    seen: list[SimRequest] = []

    def agent(req: SimRequest) -> SimReply:
        seen.append(req)
        if req.chance("test.bad_json", 0.0):
            return SimReply(tool_calls=[("book", '{"flight": ')])
        return SimReply(tool_calls=[("book", {"flight": "HAT1", "seats": 1})])

    roles = {"test.agent": agent}  # given where the backend is built, as the registry does
    msgs = [{"role": "system", "content": [{"type": "text", "text": "<!--role: test.agent-->"}]},
            {"role": "user", "content": "book it"}]
    good = asyncio.run(SimModel(roles=roles).complete(msgs, TOOLS))
    assert good.finish_reason == "tool_calls" and good.tool_calls[0].arguments == {
        "flight": "HAT1", "seats": 1}
    assert good.tool_calls[0].id.startswith("call_")
    again = asyncio.run(SimModel(roles=roles).complete(msgs, TOOLS))
    assert good.tool_calls[0].id == again.tool_calls[0].id
    flawed = SimModel(settings=SimSettings(flaws={"test.bad_json": 1.0}), roles=roles)
    bad = asyncio.run(flawed.complete(msgs, TOOLS)).tool_calls[0]
    assert bad.arguments is None and bad.error is not None and bad.error.kind == "bad_json"
    perfect = SimModel("sim:perfect", SimSettings(flaws={"test.bad_json": 1.0}), roles)
    assert asyncio.run(perfect.complete(msgs, TOOLS)).tool_calls[0].error is None
    assert seen[0].role == "test.agent" and seen[0].last_user == "book it"


def test_role_detection_and_default_handler() -> None:
    assert role_of([{"role": "system", "content": "<!-- role: drafter -->"}], None) == "drafter"
    assert role_of([{"role": "user", "content": "hi"}], TOOLS) == "agent"
    assert role_of([{"role": "user", "content": "hi"}], None) == "default"
    out = asyncio.run(SimModel().complete([{"role": "user", "content": "hello"}]))
    assert out.text and "hello" in out.text
    forced = asyncio.run(SimModel().complete([{"role": "user", "content": "x"}], TOOLS,
                                             Settings(tool_choice="required")))
    assert forced.tool_calls[0].name == "book" and forced.tool_calls[0].error is None


def test_scripted_queue_mode() -> None:
    done = Completion(text="prepared")
    model = ScriptedModel(["hello", ("book", {"flight": "HAT1", "seats": 1}),
                           [("book", '{"x'), ("nope", {})], done,
                           ModelError("down", kind="server")])

    async def run() -> list[Any]:
        out = []
        for _ in range(4):
            out.append(await model.complete([{"role": "user", "content": "q"}], TOOLS))
        with pytest.raises(ModelError):
            await model.complete([])
        with pytest.raises(ScriptExhausted):
            await model.complete([])
        return out

    text, call, pair, prepared = asyncio.run(run())
    assert text.text == "hello" and not text.tool_calls
    assert call.tool_calls[0].arguments == {"flight": "HAT1", "seats": 1}
    assert [c.error.kind for c in pair.tool_calls if c.error] == ["bad_json", "unknown_tool"]
    assert prepared is done
    assert len(model.calls) == 6 and model.calls[0].tools == TOOLS and model.remaining == 0


def test_scripted_function_mode() -> None:
    async def answer(messages: list[dict[str, Any]], tools: Any, settings: Settings) -> str:
        return f"{len(messages)} messages, sample {settings.sample}"

    model = ScriptedModel(answer)
    out = asyncio.run(model.complete([{"role": "user", "content": "a"}] * 3, None,
                                     Settings(sample=2)))
    assert out.text == "3 messages, sample 2"
    sync = ScriptedModel(lambda m, t, s: ("book", {"flight": "X", "seats": 1}))
    assert asyncio.run(sync.complete([], TOOLS)).tool_calls[0].error is None
