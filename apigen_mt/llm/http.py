"""The HTTP client that carries the adapter's requests to an OpenAI-compatible endpoint.

Why not the ``openai`` SDK's own client for this: the adapter already builds the JSON body
itself and parses the reply itself, so all it needs is "POST these bytes, give me the
status, the headers and the body". Through ``AsyncOpenAI.post`` that costs about 1.4 ms
of CPU per request (the SDK's option models and header building, then httpx and
httpcore, whose pool polls every idle connection's socket on each request); aiohttp does
the same POST for about 0.2 ms (C-accelerated HTTP parser, a per-host deque of idle
connections). At the concurrency the pipeline runs (64 requests in flight on 2 cores) the
difference decides how many requests a second one process can keep on the wire
(``scripts/bench_pipeline.py``, BENCHMARKS.md).

A plain ``http://`` endpoint with no proxy in the environment (a self-hosted server, the
case where client CPU matters most) goes through the leaner client of
:mod:`apigen_mt.llm.plain_http` instead: about 0.10 ms per POST where aiohttp takes 0.24 ms.
HTTPS and proxied endpoints stay on aiohttp.

This module knows HTTP only: status codes, retries and error wording stay in
:mod:`apigen_mt.llm.openai_adapter`. A session belongs to the event loop it was opened
on; :class:`JsonPoster` is opened lazily on first use and must be closed on that loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from yarl import URL

from apigen_mt.llm import plain_http

if TYPE_CHECKING:
    import aiohttp

    from apigen_mt.llm.throttle import AdaptiveLimit


class Reply(NamedTuple):
    """What the server answered: status, headers (case-insensitive), body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpTimeout(Exception):
    """The server did not answer within the timeout (or the connection took too long)."""


class HttpConnectionError(Exception):
    """The connection failed or dropped (refused, reset, cut off mid-body, DNS …)."""


def default_headers(api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The headers every request carries: the key as a bearer token (``EMPTY`` for keyless
    local servers, as the SDK sends), the organisation and project the OpenAI SDK would
    read from the environment, and the endpoint's own extra headers (last, so they win)."""
    headers = {"Authorization": f"Bearer {api_key or 'EMPTY'}",
               "Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "apigen-mt"}
    for var, header in (("OPENAI_ORG_ID", "OpenAI-Organization"),
                        ("OPENAI_PROJECT_ID", "OpenAI-Project")):
        if os.environ.get(var):
            headers[header] = os.environ[var]
    headers.update(extra or {})
    return headers


def _ssl_context() -> object:
    """Certificates from certifi when it is installed (as httpx does), else the system's."""
    try:
        import ssl

        import certifi
    except ImportError:
        return True
    return ssl.create_default_context(cafile=certifi.where())


class JsonPoster:
    """POSTs JSON bodies to ``base_url`` + path over a pool of keep-alive connections.

    ``timeout_s`` bounds the wait for each read from the socket (a server that stops
    answering); ``connect_s`` bounds opening a connection. ``connections`` caps the pool.
    A proxy is taken from the usual environment variables (``HTTPS_PROXY`` …) when the
    session opens.
    """

    def __init__(self, base_url: str, headers: Mapping[str, str], *, timeout_s: float,
                 connect_s: float, connections: int):
        self._headers = dict(headers)
        url = URL(base_url.rstrip("/"))
        if url.user is not None or url.password is not None:
            # credentials in the URL authenticate as HTTP Basic, in place of the bearer
            # header (as the SDK's httpx client does); the URL itself goes without them
            pair = f"{url.user or ''}:{url.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            url = url.with_user(None)
        self.base_url = str(url)
        self._timeout_s = timeout_s
        self._connect_s = connect_s
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}
        # the lean client (plain http, no proxy): decided on first use, as the proxy is
        self._lean: bool | None = None
        self._pool: plain_http.Pool | None = None
        self._heads: dict[tuple[str, str], bytes] = {}  # request line + headers, per path

    def _open(self) -> aiohttp.ClientSession:
        # aiohttp is loaded only for the endpoints it serves (https, proxies): importing it
        # builds its TLS contexts, a tenth of a second of start-up a plain-http run skips
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_read=self._timeout_s,
                                        sock_connect=self._connect_s)
        connector = aiohttp.TCPConnector(
            limit=self._connections, limit_per_host=0,
            ssl=_ssl_context() if self.base_url.startswith("https:") else True)
        proxy, proxy_auth = _env_proxy(self.base_url)
        # trust_env stays off: with it aiohttp looks the proxy and ~/.netrc up again on a
        # worker thread for every request (two thread hops a call); the proxy is looked up
        # here once instead, and the key travels in the Authorization header
        self._session = aiohttp.ClientSession(
            connector=connector, headers=self._headers, timeout=timeout,
            proxy=proxy, proxy_auth=proxy_auth, cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False)
        return self._session

    def _url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:  # parsed once per path: a yarl.URL from a str costs per request
            base = URL(self.base_url)
            url = self._urls[path] = base.with_path(base.path.rstrip("/") + path,
                                                    keep_query=True)
        return url

    async def post(self, path: str, body: bytes) -> Reply:
        """POST ``body`` (JSON bytes); the reply whatever its status."""
        return await self._send("POST", path, body)

    async def post_in(self, limit: AdaptiveLimit, path: str, body: bytes) -> Reply:
        """POST ``body`` in a slot of ``limit`` (:meth:`AdaptiveLimit.launch`): on the lean
        client a queued request goes out from the callback that read the answer freeing
        its slot; otherwise (first connections, aiohttp) the slot is held as by
        ``async with limit.slot()``."""
        try:
            answer = await limit.launch(lambda release, done:
                                        self._begin(path, body, release, done))
        except plain_http.WireTimeout as exc:
            raise HttpTimeout(str(exc)) from None
        except plain_http.WireError as exc:
            raise HttpConnectionError(str(exc)) from None
        return answer if type(answer) is Reply else Reply(*answer)

    def _begin(self, path: str, body: bytes, release, done: asyncio.Future) -> None:
        pool = self._pool
        if (self._lean and pool is not None and pool.loop is asyncio.get_running_loop()
                and pool.begin(self._frame("POST", path, body), done, release)):
            return
        task = asyncio.ensure_future(self._send("POST", path, body))

        def over(t: asyncio.Task) -> None:
            release()
            if done.done():
                return
            if t.cancelled():
                done.cancel()
            elif (exc := t.exception()) is not None:
                done.set_exception(exc)
            else:
                done.set_result(t.result())

        def abandoned(f: asyncio.Future) -> None:
            if f.cancelled():
                task.cancel()

        task.add_done_callback(over)
        done.add_done_callback(abandoned)

    async def get(self, path: str) -> Reply:
        """GET ``path``; the reply whatever its status."""
        return await self._send("GET", path, None)

    def _use_lean(self) -> bool:
        url = URL(self.base_url)
        lean = url.scheme == "http" and url.host is not None and not _proxied(url)
        for name, value in self._headers.items():  # never let a header split the head
            if any(c in f"{name}{value}" for c in "\r\n") or ":" in name:
                lean = False
        self._lean = lean
        return lean

    def _frame(self, method: str, path: str, body: bytes | None) -> bytes:
        """The whole request as the lean client sends it: head, length, body."""
        head = self._head(method, path)
        if body is None:
            return head + b"\r\n"
        return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)

    def _head(self, method: str, path: str) -> bytes:
        head = self._heads.get((method, path))
        if head is None:
            url = self._url(path)
            host = url.raw_host or ""
            if ":" in host:
                host = f"[{host}]"  # an IPv6 literal
            if url.port is not None and url.port != 80:
                host = f"{host}:{url.port}"
            lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {host}"]
            lines += [f"{k}: {v}" for k, v in self._headers.items() if k.lower() != "host"]
            head = self._heads[(method, path)] = ("\r\n".join(lines) + "\r\n").encode()
        return head

    async def _send_lean(self, method: str, path: str, body: bytes | None) -> Reply:
        pool = self._pool
        if pool is None or pool.loop is not asyncio.get_running_loop():
            if pool is not None:
                pool.abandon()
            url = self._url(path)
            pool = self._pool = plain_http.Pool(
                url.raw_host or "", url.port or 80, timeout_s=self._timeout_s,
                connect_s=self._connect_s, limit=self._connections)
        try:
            status, headers, payload = await pool.request(self._frame(method, path, body))
        except plain_http.WireTimeout as exc:
            raise HttpTimeout(str(exc)) from None
        except plain_http.WireError as exc:
            raise HttpConnectionError(str(exc)) from None
        return Reply(status, headers, payload)

    async def _send(self, method: str, path: str, body: bytes | None) -> Reply:
        if self._lean or (self._lean is None and self._use_lean()):
            return await self._send_lean(method, path, body)
        import aiohttp

        session = self._session or self._open()
        try:
            async with session.request(method, self._url(path), data=body) as resp:
                data = await resp.read()
                return Reply(resp.status, resp.headers, data)
        except asyncio.TimeoutError as exc:  # aiohttp's socket timeouts are TimeoutErrors
            raise HttpTimeout(str(exc) or "timed out") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise HttpConnectionError(_describe(exc)) from None

    async def aclose(self) -> None:
        """Close every connection (on the loop the session was opened on)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await asyncio.sleep(0)  # let the transports finish closing on this loop
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def abandon(self) -> None:
        """Forget a session whose event loop is gone (its connections are dropped now, so
        nothing warns about them later)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.abandon()
        session, self._session = self._session, None
        if session is None:
            return
        connector = session.connector
        session.detach()
        if connector is not None:
            # `close()` is a coroutine for the old loop; its synchronous part drops every
            # transport and marks the connector closed (so its finaliser stays quiet)
            with contextlib.suppress(Exception):  # the old loop may be closed already
                connector._close(abort_ssl=True)


def _env_proxy(base_url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for ``base_url`` (``HTTPS_PROXY``, ``NO_PROXY`` …),
    as the SDK's httpx client would use it; (None, None) for none."""
    from aiohttp.helpers import get_env_proxy_for_url

    try:
        return get_env_proxy_for_url(URL(base_url))
    except LookupError:
        return None, None


def _proxied(url: URL) -> bool:
    """Whether the environment sends ``url`` through a proxy (the variables and the
    ``NO_PROXY`` rules :func:`_env_proxy` follows), without loading aiohttp."""
    import urllib.request

    if url.host is not None and urllib.request.proxy_bypass(url.host):
        return False
    return url.scheme in urllib.request.getproxies()


def _describe(exc: BaseException) -> str:
    """One line for a failed connection (aiohttp's own words name the host and cause)."""
    import aiohttp

    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    text = str(exc)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"response cut short ({text})"
    cause = exc.__cause__ or exc.__context__
    if not text and cause is not None:
        text = str(cause)
    return text or type(exc).__name__
