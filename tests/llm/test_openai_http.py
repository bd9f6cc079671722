"""The real openai client (through OpenAIChatModel) against `serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from apigen_mt.config import Endpoint, RunConfig
from apigen_mt.llm import (
    Completion,
    ModelError,
    ScriptedModel,
    Settings,
    Usage,
    build_role_models,
)
from apigen_mt.llm.openai_adapter import OpenAIChatModel
from apigen_mt.llm.server import ServerHandle, serve_in_thread
from apigen_mt.sim import SimModel

TOOLS: list[dict[str, Any]] = [{"type": "function", "function": {
    "name": "get_order", "description": "Look up an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                   "required": ["order_id"], "additionalProperties": False}}}]
MSGS = [{"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "Where is order #W1?"}]
REQUIRED = Settings(tool_choice="required")


@pytest.fixture
def serve() -> Iterator[Any]:
    handles: list[ServerHandle] = []

    def start(model: Any = None, **opts: Any) -> ServerHandle:
        handle = serve_in_thread(model or SimModel(), **opts)
        handles.append(handle)
        return handle

    yield start
    for h in handles:
        h.stop()


def client(handle: ServerHandle, **endpoint: Any) -> OpenAIChatModel:
    # self_hosted false: these tests play a hosted API, whose timeouts are worth retrying
    settings = {"timeout_s": 30.0, "max_retries": 3, "retry_backoff_s": 0.01,
                "retry_backoff_max_s": 0.05, "self_hosted": False, **endpoint}
    return OpenAIChatModel("local:sim", "sim", Endpoint(base_url=handle.base_url, **settings))


def ask(model: OpenAIChatModel, tools: Any = TOOLS, settings: Settings = REQUIRED) -> Completion:
    return asyncio.run(model.complete(MSGS, tools, settings))


def test_tool_calls_round_trip(serve: Any) -> None:
    handle = serve()
    out = ask(client(handle))
    call = out.tool_calls[0]
    assert out.finish_reason == "tool_calls" and call.name == "get_order"
    assert call.error is None and call.arguments == {"order_id": "example"}
    assert call.id.startswith("call_") and out.model == "local:sim"
    assert out.usage.prompt_tokens > 0 and out.usage.completion_tokens > 0
    text = ask(client(handle), tools=None, settings=Settings())
    assert text.text and not text.tool_calls
    assert handle.stats()["requests"] == 2


@pytest.mark.parametrize("fault", ["500", "timeout", "disconnect", "empty"])
def test_transient_faults_are_retried(serve: Any, fault: str) -> None:
    handle = serve(faults=(fault,), fault_first=2)
    model = client(handle, timeout_s=0.3)
    out = ask(model)
    assert out.tool_calls[0].arguments == {"order_id": "example"}
    assert sum(model.runtime.retries.values()) == 2
    stats = handle.stats()
    assert stats["requests"] == 3 and stats["faults"] == {fault: 2}


def test_429_honours_retry_after(serve: Any) -> None:
    handle = serve(faults=("429",), fault_first=1, retry_after_s=0.4)
    started = time.perf_counter()
    out = ask(client(handle))
    assert time.perf_counter() - started >= 0.4
    assert out.tool_calls[0].error is None and handle.stats()["requests"] == 2


def test_malformed_arguments_are_a_typed_tool_call_error_not_a_retry(serve: Any) -> None:
    handle = serve(faults=("bad-args",), fault_first=1)
    call = ask(client(handle)).tool_calls[0]
    assert call.arguments is None and call.error is not None and call.error.kind == "bad_json"
    assert handle.stats()["requests"] == 1


def test_a_body_that_is_not_json_is_retried_and_never_cached(serve: Any, tmp_path) -> None:
    from apigen_mt.llm.cache import CachedModel, ResponseCache

    handle = serve(faults=("bad-json",), fault_first=1)
    model = client(handle)
    cache = ResponseCache(tmp_path / "responses.jsonl")
    out = asyncio.run(CachedModel(model, cache).complete(MSGS, TOOLS, REQUIRED))
    assert out.tool_calls[0].error is None  # the retry's answer, not the broken body
    assert handle.stats()["requests"] == 2 and model.runtime.retries["bad_response"] == 1
    cache.close()
    stored = (tmp_path / "responses.jsonl").read_text().splitlines()
    assert len(stored) == 1 and "chatcmpl-cut" not in stored[0]


def test_sustained_failure_gives_model_error_in_bounded_time(serve: Any) -> None:
    handle = serve(faults=("500", "timeout"), fault_rate=1.0)
    started = time.perf_counter()
    with pytest.raises(ModelError) as err:
        ask(client(handle, timeout_s=0.2, max_retries=3))
    assert time.perf_counter() - started < 3.0
    assert err.value.retryable and err.value.kind in ("server", "timeout")
    assert "gave up after 4 attempt(s)" in str(err.value)
    assert handle.stats()["requests"] == 4


def test_client_errors_fail_at_once(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = serve(api_key="right")
    monkeypatch.setenv("LOCAL_KEY", "wrong")
    with pytest.raises(ModelError) as err:
        ask(client(handle, api_key_env="LOCAL_KEY"))
    assert err.value.kind == "auth" and "401" in str(err.value)
    monkeypatch.setenv("LOCAL_KEY", "right")
    assert ask(client(handle, api_key_env="LOCAL_KEY")).tool_calls
    missing = OpenAIChatModel("local:gpt-x", "gpt-x", Endpoint(
        base_url=handle.base_url, api_key_env="LOCAL_KEY", max_retries=3))
    with pytest.raises(ModelError) as err:
        asyncio.run(missing.complete(MSGS))
    assert err.value.kind == "not_found" and "'gpt-x' not found" in str(err.value)
    stats = handle.stats()
    assert stats["requests"] == 2 and stats["unauthorized"] == 1  # no retries of 4xx


def test_cost_from_prices_and_cached_tokens(serve: Any) -> None:
    served = ScriptedModel(lambda m, t, s: Completion(
        text="ok", usage=Usage(prompt_tokens=1000, completion_tokens=200, cached_tokens=400)),
        name="sim:sim")
    handle = serve(served)
    out = ask(client(handle, price_input_per_m=1.0, price_cached_per_m=0.25,
                     price_output_per_m=4.0), tools=None, settings=Settings())
    assert out.usage == Usage(prompt_tokens=1000, completion_tokens=200, cached_tokens=400)
    assert out.cost == pytest.approx((600 * 1.0 + 400 * 0.25 + 200 * 4.0) / 1e6)


def test_cached_rerun_makes_no_request(serve: Any, tmp_path: Path) -> None:
    handle = serve()
    cfg = RunConfig.load(None, {
        "roles.agent.model": "local:sim",
        "endpoints": {"local": {"base_url": handle.base_url, "max_retries": 0}}})

    async def run() -> list[Completion]:
        models = build_role_models(cfg, tmp_path)
        try:
            return [await models.agent.complete(MSGS, TOOLS, Settings(tool_choice="required",
                                                                      sample=i))
                    for i in range(3)]
        finally:
            await models.aclose()

    first = asyncio.run(run())
    assert handle.stats()["requests"] == 3 and not any(c.cached for c in first)
    second = asyncio.run(run())  # a fresh process-equivalent: cache reloaded from disk
    assert handle.stats()["requests"] == 3 and all(c.cached for c in second)
    assert [c.tool_calls for c in second] == [c.tool_calls for c in first]


def test_many_concurrent_requests_share_one_client(serve: Any) -> None:
    handle = serve(latency_ms=5)
    model = client(handle, max_concurrency=16)

    async def run() -> list[Completion]:
        return await asyncio.gather(*(model.complete(MSGS, TOOLS, Settings(
            tool_choice="required", seed=i)) for i in range(100)))

    out = asyncio.run(run())
    assert all(c.tool_calls[0].error is None for c in out)
    stats = handle.stats()
    assert stats["requests"] == 100 and 1 < stats["peak_in_flight"] <= 16  # the semaphore


def test_stats_endpoint_over_http(serve: Any) -> None:
    handle = serve()
    ask(client(handle))
    root = handle.base_url.rsplit("/v1", 1)[0]
    assert httpx2.get(root + "/stats").json()["requests"] == 1
    assert httpx2.get(handle.base_url + "/models").json()["data"][0]["id"] == "sim"


def test_network_guard_blocks_non_loopback_hosts() -> None:
    with pytest.raises(RuntimeError, match="must not reach the network"):
        socket.create_connection(("192.0.2.1", 443), timeout=0.5)
    remote = OpenAIChatModel("far:m", "m", Endpoint(base_url="http://192.0.2.1/v1",
                                                    max_retries=0, timeout_s=1))
    with pytest.raises(BaseException) as err:  # whatever wraps it, the guard stopped it
        asyncio.run(remote.complete(MSGS))
    assert "must not reach the network" in _all_messages(err.value)


def _all_messages(exc: BaseException) -> str:
    parts = [str(exc)]
    for sub in getattr(exc, "exceptions", ()):
        parts.append(_all_messages(sub))
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            parts.append(_all_messages(linked))
    return " | ".join(parts)


def test_n_choices_come_from_one_request_with_the_prompt_paid_once(serve):
    from apigen_mt.llm.base import complete_n

    handle = serve()
    model = client(handle)
    one = ask(model, None, Settings(seed=1))
    choices, paid = asyncio.run(complete_n(model, MSGS, None, Settings(seed=1), 3))
    assert len(choices) == 3 and len(paid) == 1 and handle.stats()["requests"] == 2
    assert paid[0].usage.prompt_tokens == one.usage.prompt_tokens
    assert model.runtime.supports_n is True
    # an endpoint configured without n: one request per choice, same number of choices
    plain = client(handle, supports_n=False)
    choices, paid = asyncio.run(complete_n(plain, MSGS, None, Settings(seed=1), 3))
    assert len(choices) == 3 and len(paid) == 3 and handle.stats()["requests"] == 5


def test_an_endpoint_that_refuses_n_falls_back_to_one_request_per_choice(serve):
    from apigen_mt.llm.base import complete_n

    handle = serve(refuse_n=True)  # answers HTTP 400 to n > 1, as some servers do
    model = client(handle)
    choices, paid = asyncio.run(complete_n(model, MSGS, None, Settings(seed=1), 3))
    assert len(choices) == 3 and model.runtime.supports_n is False
    assert handle.stats()["requests"] == 4  # the refused one, then one per choice
    assert len({c.text for c in choices}) >= 1 and len(paid) == 3
    again, _ = asyncio.run(complete_n(model, MSGS, None, Settings(seed=1), 2))
    assert len(again) == 2 and handle.stats()["requests"] == 6  # no second refusal
