"""``apigen-mt serve``: an OpenAI-compatible HTTP server around any :class:`ChatModel`.

Normally it serves ``sim``, so the real ``openai`` client (and anything else that speaks
the chat-completions protocol) can be exercised end to end with no network. It can
inject transport faults, randomly (``fault_rate``) or on a deterministic schedule (the
first ``fault_first`` requests, cycling through ``faults``):

- ``429``: rate limited, with a ``Retry-After`` header;
- ``500``: internal server error;
- ``timeout``: never answers (until the client gives up and disconnects);
- ``disconnect``: starts a response and drops the connection mid-body;
- ``bad-json``: a 200 whose body is not valid JSON (cut short): a transport fault, which
  a client must retry and never take for the model's answer;
- ``bad-args``: a normal 200 whose (first) tool call has arguments that are not JSON, as a
  weak model writes them (model behaviour: the agent sees a typed tool-call error);
- ``empty``: a 200 chat.completion with no choices (a client must retry it).

The app is a bare ASGI callable with orjson, so the server is never the bottleneck.
``GET /stats`` returns the request counter (``{"requests": n, "faults": {...}}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from apigen_mt.llm.base import ChatModel, Completion, Settings

FAULTS = ("429", "500", "timeout", "disconnect", "bad-json", "bad-args", "empty")
MAX_N = 128  # choices per request (`n`) the server answers; more is answered with one
log = logging.getLogger("apigen_mt.serve")


@dataclass
class ServeOptions:
    """How the server behaves (see the module docstring for the faults)."""

    model_name: str | None = None  # served model id; default: the part after "provider:"
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    fault_first: int = 0  # the first N chat requests fail, cycling through `faults`
    retry_after_s: float = 1.0  # Retry-After sent with 429
    hang_s: float = 3600.0  # how long a `timeout` fault waits for the client to give up
    api_key: str | None = None  # if set, require "Authorization: Bearer <key>"
    seed: int = 0  # for the random fault draws
    refuse_n: bool = False  # answer HTTP 400 to n > 1, as servers without `n` do

    def __post_init__(self) -> None:
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; choose from {', '.join(FAULTS)}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self.faults = tuple(self.faults)


class _Drop(Exception):
    """Raised after a partial body to make uvicorn close the connection."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Drop))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


@dataclass
class ServerStats:
    requests: int = 0  # POST /v1/chat/completions, whatever happened to them
    models_requests: int = 0
    unauthorized: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0  # most chat requests being handled at once
    busy_s: float = 0.0  # summed duration of chat requests: Δbusy/Δt = mean in flight
    faults: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "models_requests": self.models_requests,
                "unauthorized": self.unauthorized, "in_flight": self.in_flight,
                "peak_in_flight": self.peak_in_flight, "busy_s": round(self.busy_s, 6),
                "faults": dict(self.faults)}


class ChatServer:
    """The ASGI app."""

    def __init__(self, model: ChatModel, options: ServeOptions | None = None):
        self.model = model
        self.opts = options or ServeOptions()
        self.model_name = self.opts.model_name or model.name.split(":", 1)[-1]
        self.accepted = {self.model_name, model.name}
        self.stats = ServerStats()
        self._rng = random.Random(self.opts.seed)
        self._auth = f"Bearer {self.opts.api_key}".encode() if self.opts.api_key else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"].rstrip("/")
        if path == "/stats":
            if method == "POST":  # reset
                self.stats = ServerStats()
            return await _json(send, 200, self.stats.as_dict())
        if path == "/health":
            return await _json(send, 200, {"ok": True})
        if self._auth is not None and dict(scope["headers"]).get(b"authorization") != self._auth:
            self.stats.unauthorized += 1
            return await _error(send, 401, "Incorrect API key provided.", "invalid_api_key")
        if path == "/v1/models" and method == "GET":
            self.stats.models_requests += 1
            return await _json(send, 200, {"object": "list", "data": [
                {"id": self.model_name, "object": "model", "created": 0, "owned_by": "apigen-mt"}]})
        if path == "/v1/chat/completions" and method == "POST":
            stats = self.stats
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            started = time.perf_counter()
            try:
                return await self._chat(receive, send)
            finally:
                stats.in_flight -= 1
                stats.busy_s += time.perf_counter() - started
        return await _error(send, 404, f"no route {method} {path}", "not_found")

    async def _chat(self, receive: Any, send: Any) -> None:
        number = self.stats.requests
        self.stats.requests += 1
        body = await _read_body(receive)
        try:
            req = orjson.loads(body)
            messages = req["messages"]
            if not isinstance(messages, list):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return await _error(send, 400, "body must be JSON with a 'messages' list",
                                "invalid_request")
        model = req.get("model")
        if model not in self.accepted:
            return await _error(send, 404, f"The model `{model}` does not exist "
                                           f"(this server serves `{self.model_name}`).",
                                "model_not_found")
        if self.opts.refuse_n and _choices_wanted(req.get("n")) > 1:
            return await _error(send, 400, "n > 1 is not supported by this server",
                                "invalid_request")
        fault = self._fault(number)
        if fault:
            self.stats.faults[fault] += 1
        if self.opts.latency_ms or self.opts.jitter_ms:
            await asyncio.sleep((self.opts.latency_ms + random.random() * self.opts.jitter_ms)
                                / 1000.0)
        if fault == "429":
            return await _error(send, 429, "Rate limit reached (injected).", "rate_limit_exceeded",
                                [(b"retry-after", f"{self.opts.retry_after_s:g}".encode())])
        if fault == "500":
            return await _error(send, 500, "The server had an error (injected).", "server_error")
        if fault == "timeout":
            # The next message is http.disconnect, when the client gives up.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(receive(), self.opts.hang_s)
            return await _error(send, 504, "timed out (injected)", "timeout")
        if fault == "disconnect":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b'{"id": "chatc', "more_body": True})
            raise _Drop()
        if fault == "bad-json":  # a whole response whose body is not JSON
            body = b'{"id": "chatcmpl-cut", "choices": [{"message": {"role": "assi'
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return None
        if fault == "empty":
            return await _json(send, 200, {"id": _id(), "object": "chat.completion",
                                           "created": int(time.time()), "model": model,
                                           "choices": []})
        try:
            tools = req.get("tools")
            out = await self.model.complete(messages, tools, _settings(req))
        except Exception as exc:  # the wrapped model failed: report it like a server would
            log.warning("model error: %s", exc)
            return await _error(send, 500, f"model error: {exc}", "server_error")
        return await _json(send, 200, completion_json(out, model, corrupt=fault == "bad-args",
                                                      tools=tools))

    def _fault(self, number: int) -> str | None:
        faults = self.opts.faults
        if not faults:
            return None
        if number < self.opts.fault_first:
            return faults[number % len(faults)]
        if self.opts.fault_rate and self._rng.random() < self.opts.fault_rate:
            return self._rng.choice(faults)
        return None


def _settings(req: dict[str, Any]) -> Settings:
    return Settings(
        temperature=req.get("temperature"), top_p=req.get("top_p"),
        max_tokens=req.get("max_tokens") or req.get("max_completion_tokens"),
        seed=req.get("seed"), tool_choice=req.get("tool_choice"),
        parallel_tool_calls=req.get("parallel_tool_calls"),
        response_format=req.get("response_format"),
        n=_choices_wanted(req.get("n")),
    )


def _choices_wanted(value: Any) -> int:
    return value if isinstance(value, int) and 1 <= value <= MAX_N else 1


def completion_json(out: Completion, model: str, *, corrupt: bool = False,
                    tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A standard ``chat.completion`` body for a :class:`Completion`."""
    choices = [_choice_json(i, c.text, c.tool_calls, c.finish_reason)
               for i, c in enumerate(out.all_choices())]
    calls = choices[0]["message"].get("tool_calls", [])
    if corrupt:  # arguments cut mid-string: not valid JSON
        if not calls:
            name = (tools or [{}])[0].get("function", {}).get("name", "unknown")
            calls = [{"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                      "function": {"name": name, "arguments": "{}"}}]
            choices[0]["message"]["tool_calls"] = calls
            choices[0]["finish_reason"] = "tool_calls"
        args = calls[0]["function"]["arguments"]
        calls[0]["function"]["arguments"] = (args[: max(2, len(args) // 2)] + '"').replace(
            "}", "")
    u = out.usage
    return {
        "id": _id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                  "total_tokens": u.prompt_tokens + u.completion_tokens,
                  "prompt_tokens_details": {"cached_tokens": u.cached_tokens}},
    }


def _choice_json(index: int, text: str | None, tool_calls: list[Any],
                 finish: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": c.raw_arguments}}
                                 for c in tool_calls]
    return {"index": index, "message": message, "finish_reason": finish, "logprobs": None}


def _id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        msg = await receive()
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body"):
            return b"".join(chunks)


async def _json(send: Any, status: int, data: Any,
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps(data)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Any, status: int, message: str, code: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    kind = "invalid_request_error" if status < 500 else "server_error"
    await _json(send, status, {"error": {"message": message, "type": kind, "param": None,
                                         "code": code}}, headers)


# --- running it -------------------------------------------------------------------------------


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket (port 0: a free one, read it back with getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): asyncio only sets TCP_NODELAY on accepted
    # sockets whose proto says TCP, and without it Nagle + the client's delayed ACK add
    # ~40 ms to every keep-alive response (headers and body go out as two writes).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app: ChatServer, log_level: str = "warning") -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                            http="h11", loop="asyncio", timeout_graceful_shutdown=1,
                            timeout_keep_alive=30, backlog=2048)
    return uvicorn.Server(config)


def run_server(model: ChatModel, host: str = "127.0.0.1", port: int = 0,
               options: ServeOptions | None = None, on_ready: Any = None) -> None:
    """Serve in the foreground until interrupted; ``on_ready(base_url)`` once listening."""
    app = ChatServer(model, options)
    sock = bind_socket(host, port)
    server = _uvicorn_server(app, log_level="info")
    if on_ready is not None:
        on_ready(_base_url(host, sock.getsockname()[1]))
    server.run(sockets=[sock])


@dataclass
class ServerHandle:
    """A server running in a background thread."""

    base_url: str
    port: int
    app: ChatServer
    _server: Any
    _thread: threading.Thread

    def stats(self) -> dict[str, Any]:
        """The request counter, as ``GET /stats`` returns it."""
        return self.app.stats.as_dict()

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_in_thread(model: ChatModel, host: str = "127.0.0.1", port: int = 0,
                    **options: Any) -> ServerHandle:
    """Start the server in a daemon thread; returns once it accepts connections.

    ``options`` are :class:`ServeOptions` fields (latency_ms, faults, fault_first …).
    """
    app = ChatServer(model, ServeOptions(**options))
    sock = bind_socket(host, port)
    server = _uvicorn_server(app)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="apigen-mt-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the model server did not start")
        time.sleep(0.005)
    port = sock.getsockname()[1]
    return ServerHandle(_base_url(host, port), port, app, server, thread)


def _base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"
