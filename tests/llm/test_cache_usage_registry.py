"""Response cache, usage accounting, and building role models from config."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from apigen_mt.config import ConfigError, RunConfig
from apigen_mt.llm import (
    CachedModel,
    Completion,
    ModelError,
    ResponseCache,
    ScriptedModel,
    Settings,
    Usage,
    UsageTracker,
    build_model,
    build_role_models,
)
from apigen_mt.llm.cache import CACHE_FILE
from apigen_mt.llm.registry import BoundModel
from apigen_mt.sim import SimModel

MSGS = [{"role": "user", "content": "hi"}]


def paid(text: str = "answer") -> Completion:
    return Completion(text=text, usage=Usage(prompt_tokens=100, completion_tokens=10), cost=0.5)


def test_hit_is_free_but_remembers_the_cost(tmp_path: Path) -> None:
    inner = ScriptedModel([paid("one"), paid("two")])
    cache = ResponseCache(tmp_path / CACHE_FILE)
    model = CachedModel(inner, cache)
    first = asyncio.run(model.complete(MSGS))
    again = asyncio.run(model.complete(MSGS))
    other = asyncio.run(model.complete(MSGS, None, Settings(sample=1)))  # a distinct request
    assert (first.text, first.cached, first.cost) == ("one", False, 0.5)
    assert (again.text, again.cached, again.cost, again.saved_cost) == ("one", True, 0.0, 0.5)
    assert again.usage == first.usage and other.text == "two"
    assert (cache.hits, cache.misses, len(inner.calls)) == (1, 2, 2)
    cache.close()
    reopened = CachedModel(ScriptedModel([]), ResponseCache(tmp_path / CACHE_FILE))
    assert asyncio.run(reopened.complete(MSGS, None, Settings(sample=1))).text == "two"


def test_torn_last_line_is_dropped_and_file_stays_appendable(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    cache = ResponseCache(path)
    model = CachedModel(ScriptedModel([paid("kept")]), cache)
    asyncio.run(model.complete(MSGS))
    cache.close()
    with open(path, "ab") as fh:  # a writer killed mid-line
        fh.write(b'{"k": "abc", "v": {"text": "tor')
    cache = ResponseCache(path)
    assert cache.dropped_lines == 1 and len(cache) == 1
    asyncio.run(CachedModel(ScriptedModel([paid("new")]), cache).complete(MSGS, None,
                                                                         Settings(sample=3)))
    cache.close()
    cache = ResponseCache(path)
    assert cache.dropped_lines == 0 and len(cache) == 2
    cache.close()


def test_concurrent_identical_requests_are_coalesced() -> None:
    calls = 0

    async def slow(messages: Any, tools: Any, settings: Settings) -> Completion:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        return paid()

    cache = ResponseCache(None)
    model = CachedModel(ScriptedModel(slow), cache)

    async def run() -> list[Completion]:
        return await asyncio.gather(*(model.complete(MSGS) for _ in range(200)))

    out = asyncio.run(run())
    assert calls == 1 and sum(c.cached for c in out) == 199
    assert (cache.hits, cache.misses) == (199, 1)


def test_failures_are_not_cached() -> None:
    model = CachedModel(ScriptedModel([ModelError("down", kind="server"), paid()]),
                        ResponseCache(None))
    with pytest.raises(ModelError):
        asyncio.run(model.complete(MSGS))
    assert asyncio.run(model.complete(MSGS)).cached is False


def test_second_process_opens_cache_read_only(tmp_path: Path) -> None:
    first = ResponseCache(tmp_path / CACHE_FILE)
    second = ResponseCache(tmp_path / CACHE_FILE)
    assert not first.read_only and second.read_only
    first.close()
    second.close()


def test_request_key_hashes_the_sorted_serialisation_of_the_whole_request() -> None:
    """The key is written part by part (a tool listing serialised once is reused); the
    bytes hashed must stay those of the whole request serialised with sorted keys, or
    every response cache written before would stop answering."""
    import hashlib

    import orjson

    from apigen_mt.llm.cache import KEY_VERSION, request_key

    tools = [{"type": "function", "function": {"name": "b", "parameters": {"z": 1, "a": 2}}},
             {"function": {"name": "a"}, "type": "function"}]
    messages = [{"role": "user", "content": "hé", "name": "x"},
                {"role": "assistant", "content": None,
                 "tool_calls": [{"id": "c", "function": {"name": "b", "arguments": "{}"}}]}]

    def whole(tools: Any, settings: Settings) -> str:
        blob = orjson.dumps({"v": KEY_VERSION, "model": "m", "messages": messages,
                             "tools": tools, "settings": settings.model_dump(mode="json")},
                            option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        return hashlib.sha256(blob).hexdigest()

    for listing in (tools, None, []):
        for settings in (Settings(), Settings(seed=3, sample=2, n=4, extra={"b": 1, "a": 2})):
            assert request_key("m", messages, listing, settings) == whole(listing, settings)
            assert request_key("m", messages, listing, settings) == whole(listing, settings)
    other = [tools[0], {"type": "function", "function": {"name": "c"}}]  # a new listing
    assert request_key("m", messages, other, Settings()) == whole(other, Settings())
    assert request_key("m", messages, other, Settings()) != request_key(
        "m", messages, tools, Settings())


def test_usage_by_role_and_model() -> None:
    usage = UsageTracker()
    usage.record("agent", "m1", paid(), seconds=1.0)
    usage.record("agent", "m1", paid().model_copy(update={"cached": True, "cost": 0.0}),
                 saved_cost=0.5)
    usage.record("human", "m2", paid())
    usage.record_error("human", "m2")
    snap = usage.snapshot()
    assert snap.total.calls == 3 and snap.total.cache_hits == 1 and snap.total.errors == 1
    assert snap.total.cost == pytest.approx(1.0) and snap.total.saved_cost == pytest.approx(0.5)
    assert snap.by_role["agent"].prompt_tokens == 100 and snap.by_model["m2"].calls == 1
    usage.record("agent", "m1", paid())
    assert snap.by_role["agent"].calls == 2  # a snapshot is a copy


def test_build_model_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = RunConfig.load(None, {"endpoints": {"openai": {
        "base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}}})
    assert isinstance(build_model("sim:sim", cfg), SimModel)
    with pytest.raises(ConfigError, match="unknown provider 'nowhere'"):
        build_model("nowhere:m", cfg)
    with pytest.raises(ConfigError) as err:
        build_model("openai:gpt-4o-mini", cfg)
    assert str(err.value) == ("endpoint 'openai' needs the environment variable "
                              "OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_role_models(RunConfig.load(None, {
            "roles.agent.model": "openai:gpt-4o-mini",
            "endpoints": {"openai": {"base_url": "https://api.openai.com/v1",
                                     "api_key_env": "OPENAI_API_KEY"}}}))


def test_role_models_are_bound_accounted_and_cached(tmp_path: Path) -> None:
    cfg = RunConfig.load(None, {"roles.agent.temperature": 0.3, "roles.agent.seed": 11,
                                "cache.sim": True})
    models = build_role_models(cfg, tmp_path)
    assert len(models.reviewers) == 3 and set(models.by_role()) >= {"agent", "reviewers.2"}
    agent = models.agent
    assert isinstance(agent, BoundModel) and isinstance(agent.inner, CachedModel)
    asyncio.run(agent.complete(MSGS))
    asyncio.run(agent.complete(MSGS))
    snap = models.usage.snapshot()
    assert snap.by_role["agent"].calls == 2 and snap.by_role["agent"].cache_hits == 1
    assert (tmp_path / "cache" / CACHE_FILE).exists()
    asyncio.run(models.aclose())

    seen: list[Settings] = []
    bound = BoundModel(ScriptedModel(lambda m, t, s: seen.append(s) or "ok"), "agent",
                       cfg.roles.agent, UsageTracker())
    asyncio.run(bound.complete(MSGS, None, Settings(temperature=0.9)))
    assert seen[0].temperature == 0.9 and seen[0].seed == 11  # explicit wins, unset filled


def test_sim_is_not_cached_by_default_and_cache_can_be_disabled(tmp_path: Path) -> None:
    models = build_role_models(RunConfig.load(None), tmp_path)
    assert models.cache is None and isinstance(models.agent.inner, SimModel)
    off = build_role_models(RunConfig.load(None, {"cache.enabled": False, "cache.sim": True}),
                            tmp_path)
    assert off.cache is None
