"""The adapter's HTTP client: what it sends and how it fails, against `serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from apigen_mt.llm.http import HttpConnectionError, JsonPoster, default_headers
from apigen_mt.llm.server import serve_in_thread
from apigen_mt.sim import SimModel


def poster(url: str, key: str | None = "k") -> JsonPoster:
    return JsonPoster(url, default_headers(key, {"X-Extra": "1"}), timeout_s=5.0,
                      connect_s=2.0, connections=4)


def test_credentials_in_the_url_become_basic_auth_and_leave_the_url() -> None:
    p = poster("http://user:s3cret@127.0.0.1:8000/v1")
    assert p.base_url == "http://127.0.0.1:8000/v1"
    assert p._headers["Authorization"] == "Basic dXNlcjpzM2NyZXQ="  # as the SDK's client
    assert poster("http://127.0.0.1:8000/v1")._headers["Authorization"] == "Bearer k"
    assert poster("http://127.0.0.1:8000/v1", None)._headers["Authorization"] == "Bearer EMPTY"


def test_a_post_round_trips_and_a_refused_connection_is_a_connection_error() -> None:
    handle = serve_in_thread(SimModel(), api_key="k")
    body = orjson.dumps({"model": "sim", "messages": [{"role": "user", "content": "hi"}]})

    async def go() -> tuple[int, int, bytes]:
        good, bad = poster(handle.base_url), poster(handle.base_url, "wrong")
        try:
            ok = await good.post("/chat/completions", body)
            refused = await bad.post("/chat/completions", body)
            return ok.status, refused.status, ok.body
        finally:
            await good.aclose()
            await bad.aclose()

    try:
        ok, refused, answer = asyncio.run(go())
    finally:
        handle.stop()
    assert ok == 200 and refused == 401 and orjson.loads(answer)["choices"]

    async def nowhere() -> None:
        p = poster("http://127.0.0.1:9/v1")
        try:
            await p.post("/chat/completions", body)
        finally:
            await p.aclose()

    with pytest.raises(HttpConnectionError, match=r"127\.0\.0\.1:9"):
        asyncio.run(nowhere())


def test_a_session_left_on_a_finished_event_loop_is_dropped_quietly() -> None:
    handle = serve_in_thread(SimModel())
    p = poster(handle.base_url)
    try:
        asyncio.run(p.get("/models"))  # opens a session on this loop, never closed on it
        p.abandon()

        async def again() -> int:
            try:
                return (await p.get("/models")).status  # a new loop, a new session
            finally:
                await p.aclose()

        assert asyncio.run(again()) == 200
    finally:
        handle.stop()
