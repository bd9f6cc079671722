"""A lean HTTP/1.1 client for plain ``http://`` endpoints: keep-alive connections on
asyncio protocols, nothing else.

Why: at zero latency the pipeline is CPU-bound on one core, and aiohttp's request
machinery (session, request and response objects, payload registry, tracing hooks,
cookie and redirect handling, a timer context per request) costs about 0.14 ms of CPU per
POST that an OpenAI-compatible endpoint never needs (a bare loop of the same bodies:
0.24 ms per call through aiohttp, 0.10 ms here). A self-hosted server (vLLM, llama.cpp,
``apigen-mt serve``) on the local network is exactly where that decides the requests per
second one process keeps in flight. HTTPS and proxies still go through aiohttp
(:mod:`apigen_mt.llm.http` chooses).

What it does: one request at a time per connection, a LIFO pool of idle connections up
to ``limit``, a fixed request head per path, responses framed by ``Content-Length``,
``chunked`` or the connection's end; ``gzip``/``deflate`` bodies are inflated (it never
asks for them). ``timeout_s`` bounds every wait for the socket (as aiohttp's
``sock_read``), ``connect_s`` opening a connection. A connection that failed, timed out
or was cancelled mid-request is closed, never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections import deque
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy


class WireTimeout(Exception):
    """No byte arrived within the read timeout (or the connection took too long)."""


class WireError(Exception):
    """The connection failed, dropped or answered something that is not HTTP."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses the response to the request in flight."""

    __slots__ = ("_body_left", "_buf", "_chunked", "_free", "_head", "_last", "_pool",
                 "_timer", "closed", "future", "keep", "transport")

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self.future: asyncio.Future[tuple[int, CIMultiDictProxy[str], bytes]] | None = None
        self.closed = False
        self.keep = True
        self._buf = bytearray()
        self._head: tuple[int, CIMultiDictProxy[str], bool] | None = None
        self._body_left = -1  # bytes of body still to come; -1: until the connection ends
        self._chunked = False
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._free: Any = None  # called the moment the request is over (Pool.begin)

    # --- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.future is None:  # bytes nobody asked for: the connection is not reusable
            self.keep = False
            self.close()
            return
        self._last = self._pool.loop.time()
        self._buf += data
        try:
            self._advance()
        except WireError as exc:
            self._fail(exc)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost says what that means

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self._pool._lost(self)
        if self.future is None:
            return
        if self._head is not None and self._body_left < 0 and not self._chunked:
            self._finish(bytes(self._buf))  # a body framed by the connection's end
            return
        self._fail(WireError("server disconnected" if exc is None else str(exc) or
                             type(exc).__name__))

    # --- the request in flight --------------------------------------------------------------

    def start(self, data: bytes, fut: asyncio.Future | None = None,
              free: Any = None) -> asyncio.Future[tuple[int, CIMultiDictProxy[str], bytes]]:
        loop = self._pool.loop
        if fut is None:
            fut = loop.create_future()
        self.future = fut
        self._free = free
        self._head = None
        self._body_left = -1
        self._chunked = False
        self._last = loop.time()
        self._timer = loop.call_at(self._last + self._pool.timeout_s, self._check_timeout)
        assert self.transport is not None
        self.transport.write(data)
        return fut

    def _check_timeout(self) -> None:
        if self.future is None:
            return
        due = self._last + self._pool.timeout_s
        now = self._pool.loop.time()
        if now >= due:
            self._timer = None
            self._fail(WireTimeout(f"no answer within {self._pool.timeout_s:g}s"))
        else:  # bytes came meanwhile: wait the rest of the window after the last ones
            self._timer = self._pool.loop.call_at(due, self._check_timeout)

    def _advance(self) -> None:
        buf = self._buf
        while self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    raise WireError("response headers too long")
                return
            head = _parse_head(bytes(buf[:end]))
            del buf[:end + 4]
            status, headers, keep = head
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue): the real one follows
            self._head = head
            self.keep = keep
            if "chunked" in headers.get("Transfer-Encoding", "").lower():
                self._chunked = True
                self._body_left = 0
            elif status in (204, 304):
                self._body_left = 0
            else:
                length = headers.get("Content-Length")
                if length is not None:
                    try:
                        self._body_left = int(length)
                    except ValueError:
                        raise WireError(f"bad Content-Length {length!r}") from None
                else:
                    self.keep = False  # the body ends with the connection
        if self._chunked:
            body = _dechunk(buf)
            if body is not None:
                self._finish(body)
        elif self._body_left >= 0 and len(buf) >= self._body_left:
            body = bytes(buf[:self._body_left])
            if len(buf) > self._body_left:
                self.keep = False  # more than was framed: do not trust the connection
            buf.clear()
            self._finish(body)

    def _over(self) -> None:
        """The request is over: the connection goes back (or away) and its slot is free."""
        free, self._free = self._free, None
        if free is not None:
            free(self)

    def _finish(self, body: bytes) -> None:
        fut, self.future = self.future, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert self._head is not None
        status, headers, _ = self._head
        self._head = None
        encoding = headers.get("Content-Encoding", "").lower()
        if encoding in ("gzip", "deflate") and body:
            try:
                body = zlib.decompress(body, 47)  # gzip or zlib, by its header
            except zlib.error:
                try:
                    body = zlib.decompress(body, -15)  # raw deflate
                except zlib.error as exc:
                    self.keep = False
                    self._over()
                    if fut is not None and not fut.done():
                        fut.set_exception(WireError(f"response cut short ({exc})"))
                    return
        self._over()
        if fut is not None and not fut.done():
            fut.set_result((status, headers, body))

    def _fail(self, exc: Exception) -> None:
        fut, self.future = self.future, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.keep = False
        self.close()
        self._over()
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def drop(self) -> None:
        """Give up the request in flight (if any) and the connection with it."""
        self.future = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.keep = False
        self.close()
        self._over()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _parse_head(raw: bytes) -> tuple[int, CIMultiDictProxy[str], bool]:
    """(status, headers, keep-alive) of a response head (status line and header lines)."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise WireError(f"not an HTTP response: {lines[0][:60]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise WireError(f"bad status line {lines[0][:60]!r}") from None
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise WireError(f"bad header line {line[:60]!r}")
        headers.add(name.strip(), value.strip())
    connection = headers.get("Connection", "").lower()
    keep = "close" not in connection if parts[0] == "HTTP/1.1" else "keep-alive" in connection
    return status, CIMultiDictProxy(headers), keep


def _dechunk(buf: bytearray) -> bytes | None:
    """The body of a complete chunked message in ``buf`` (consumed), else None (wait)."""
    out = bytearray()
    pos = 0
    while True:
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        size_text = bytes(buf[pos:end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise WireError(f"bad chunk size {size_text[:20]!r}") from None
        pos = end + 2
        if size == 0:
            # trailers, if any, end with an empty line
            while True:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    return None
                if end == pos:
                    del buf[:end + 2]
                    return bytes(out)
                pos = end + 2
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos:pos + size]
        pos += size + 2


class Pool:
    """Keep-alive connections to one ``host:port`` on one event loop."""

    def __init__(self, host: str, port: int, *, timeout_s: float, connect_s: float,
                 limit: int) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.connect_s = connect_s
        self.limit = max(1, limit)
        self.loop = asyncio.get_running_loop()
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def request(self, data: bytes) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """Send one complete request (head and body); (status, headers, body)."""
        conn = await self._acquire()
        try:
            status, headers, body = await conn.start(data)
        except BaseException:  # failed, timed out or cancelled: the connection is spent
            conn.drop()
            self._discard(conn)
            raise
        self._put_back(conn)
        return status, headers, body

    def _put_back(self, conn: _Connection) -> None:
        """A connection whose request is over: idle again if it can carry another."""
        if conn.keep and not conn.closed:
            self._idle.append(conn)
            self._wake()
        else:
            conn.close()
            self._discard(conn)

    def begin(self, data: bytes, fut: asyncio.Future, release: Any) -> bool:
        """Send a request on an idle connection now, from the caller's own callback (no
        task switch): ``fut`` gets (status, headers, body) or the error, and ``release()``
        is called as soon as the request is over, before ``fut`` is resolved. False when
        no connection is idle (then :meth:`request`, which may open one)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                break
        else:
            return False

        def free(c: _Connection) -> None:
            self._put_back(c)
            release()

        def abandoned(f: asyncio.Future) -> None:
            if f.cancelled() and conn.future is f:  # given up on the wire
                conn.drop()

        conn.start(data, fut, free)
        fut.add_done_callback(abandoned)
        return True

    async def _acquire(self) -> _Connection:
        while True:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
            if len(self._open) < self.limit:
                return await self._connect()
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    async def _connect(self) -> _Connection:
        conn = _Connection(self)
        self._open.add(conn)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: conn, self.host, self.port),
                self.connect_s)
        except asyncio.TimeoutError:
            self._discard(conn)
            raise WireTimeout(f"connecting to {self.host}:{self.port} took longer than "
                              f"{self.connect_s:g}s") from None
        except OSError as exc:
            self._discard(conn)
            raise WireError(f"cannot connect to {self.host}:{self.port} "
                            f"({exc.strerror or exc})") from None
        except BaseException:
            self._discard(conn)
            raise
        return conn

    def _discard(self, conn: _Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            self._wake()

    def _lost(self, conn: _Connection) -> None:
        if conn.future is None:  # idle, or done with: it no longer counts
            self._discard(conn)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Close every connection (idle or busy; a busy one's request fails)."""
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    def abandon(self) -> None:
        """Drop every connection of a loop that is gone, without that loop's help."""
        for conn in list(self._open):
            transport = conn.transport
            sock = getattr(transport, "_sock", None)
            with contextlib.suppress(Exception):
                if sock is not None:
                    sock.close()
                    transport._sock = None  # type: ignore[union-attr]  # nothing to warn of
        self._open.clear()
        self._idle.clear()
