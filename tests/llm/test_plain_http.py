"""The lean HTTP client of plain-http endpoints, against raw servers that answer in each
of the ways HTTP allows (framed, chunked, to the end of the connection, compressed) or
fail (silence, a dropped connection, an idle connection the server closed)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import pytest

from apigen_mt.llm.http import HttpConnectionError, HttpTimeout, JsonPoster

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.decode().split("\r\n"):
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    return head + await reader.readexactly(length)


def _run(handler: Handler, client: Callable[[JsonPoster], Awaitable[object]],
         timeout_s: float = 5.0) -> object:
    async def go() -> object:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        poster = JsonPoster(f"http://127.0.0.1:{port}/v1", {"Authorization": "Bearer k"},
                            timeout_s=timeout_s, connect_s=2.0, connections=4)
        try:
            return await client(poster)
        finally:
            await poster.aclose()
            server.close()

    return asyncio.run(go())


def test_framed_chunked_compressed_and_close_delimited_bodies_all_arrive() -> None:
    seen: list[bytes] = []
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(gzip.compress(b"zipped")), gzip.compress(b"zipped")),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nRetry-After: 2\r\n"
        b"Connection: close\r\n\r\nslow down",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            seen.append(await _read_request(reader))
            answer = answers.pop(0)
            for i in range(0, len(answer), 7):  # in pieces, as a network delivers them
                writer.write(answer[i:i + 7])
                await writer.drain()
            if b"Connection: close" in answer:
                break
        writer.close()

    async def client(p: JsonPoster) -> list[tuple[int, str | None, bytes]]:
        out = []
        for _ in range(4):
            r = await p.post("/chat/completions", b'{"a":1}')
            out.append((r.status, r.headers.get("retry-after"), r.body))
        return out

    replies = _run(handler, client)
    assert replies == [(200, None, b"hello"), (200, None, b"abcde"), (201, None, b"zipped"),
                       (429, "2", b"slow down")]
    # one connection carried all four; each request is complete and names its host
    assert len(seen) == 4
    assert seen[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Authorization: Bearer k\r\n" in seen[0] and seen[0].endswith(b'\r\n\r\n{"a":1}')


def test_silence_is_a_timeout_and_a_dropped_response_a_connection_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(2)
        writer.close()

    async def post(p: JsonPoster) -> object:
        return await p.post("/chat/completions", b"{}")

    with pytest.raises(HttpTimeout):
        _run(silent, post, timeout_s=0.3)

    async def dropping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
        await writer.drain()
        writer.close()

    with pytest.raises(HttpConnectionError, match="disconnected"):
        _run(dropping, post)


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    connections = 0

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # keep-alive promised, then the server closes it while idle

    async def twice(p: JsonPoster) -> list[int]:
        first = await p.post("/x", b"{}")
        await asyncio.sleep(0.1)
        second = await p.post("/x", b"{}")
        return [first.status, second.status]

    assert _run(once, twice) == [200, 200]
    assert connections == 2


def test_requests_in_a_limit_share_its_slots_and_a_cancelled_one_frees_its_own() -> None:
    """Through ``post_in`` every request is answered, never more than the limit are at the
    server at once, each next one goes out on a connection an answer just freed, and a
    request given up on the wire drops its connection and gives its slot back."""
    from apigen_mt.llm.throttle import AdaptiveLimit

    at_server = peak = 0
    connections = 0
    hang = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal at_server, peak, connections
        connections += 1
        try:
            while True:
                request = await _read_request(reader)
                at_server += 1
                peak = max(peak, at_server)
                if b'"hang"' in request:
                    await hang.wait()
                await asyncio.sleep(0.002)
                at_server -= 1
                body = request.rsplit(b"\r\n\r\n", 1)[1]
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client dropped the connection
        finally:
            writer.close()

    async def client(p: JsonPoster) -> tuple[list[bytes], int]:
        limit = AdaptiveLimit(3)
        bodies = [b'{"i":%d}' % i for i in range(60)]
        replies = await asyncio.gather(*(p.post_in(limit, "/chat/completions", b)
                                         for b in bodies))
        assert [r.body for r in replies] == bodies
        assert limit.in_flight == 0 and limit.waiting == 0
        stuck = asyncio.ensure_future(p.post_in(limit, "/chat/completions", b'"hang"'))
        await asyncio.sleep(0.05)
        assert limit.in_flight == 1
        stuck.cancel()
        await asyncio.sleep(0.01)
        assert limit.in_flight == 0
        hang.set()
        again = await p.post_in(limit, "/chat/completions", b'{"after":1}')
        return [r.body for r in replies] + [again.body], limit.in_flight

    bodies, left = _run(handler, client)
    assert bodies[-1] == b'{"after":1}' and left == 0
    assert peak <= 3
    assert connections <= 5  # three kept alive, one dropped with the cancelled request
