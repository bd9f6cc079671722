"""Any OpenAI-compatible chat endpoint as a :class:`ChatModel`. The only module importing openai.

Transport retries live here and only here (principle 8): the SDK's own retries are off
(``max_retries=0``) and tenacity retries 429 (honouring ``Retry-After``), 5xx, 408,
timeouts, dropped connections and 200 responses whose body is unusable, with exponential
backoff and jitter, at most ``endpoint.max_retries`` times; then :class:`ModelError`.
Other 4xx (bad key, unknown model, bad request) fail at once with one clear line.

Each endpoint has one :class:`EndpointRuntime` shared by every model on it: one pooled
HTTP client (:mod:`apigen_mt.llm.http`: the request body is built and the reply parsed
here, so the SDK's typed layer is not on the hot path; ``check`` lists models through it
too, so a run never imports the SDK), an in-flight limit for ``max_concurrency`` and
leaky-bucket limiters for ``rpm`` and (estimated) ``tpm``. A slot is held only while a
request is on the wire, never during a backoff sleep.

Timeouts on a self-hosted endpoint are not retried blindly: the server is still computing
the abandoned request, so each timeout halves the endpoint's in-flight limit
(:mod:`apigen_mt.llm.throttle`) and is retried at most ``timeout_retries`` times (default
once), after the usual backoff and under the lowered limit; the error then says what to
change.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from apigen_mt.errors import ConfigError
from apigen_mt.llm.base import Choice, Completion, ModelError, Settings, ToolCall, Usage
from apigen_mt.llm.http import HttpConnectionError, HttpTimeout, JsonPoster, Reply, default_headers
from apigen_mt.llm.settings import Endpoint
from apigen_mt.llm.throttle import AdaptiveLimit
from apigen_mt.llm.toolcalls import parse_tool_call, tool_schemas
from apigen_mt.redact import redact_url, register_secret, url_credentials

if TYPE_CHECKING:
    import openai

log = logging.getLogger("apigen_mt.llm")
MAX_RETRY_AFTER_S = 300.0
KEYLESS = "EMPTY"  # what keyless local servers (vLLM, serve) conventionally accept


class _Transient(Exception):
    """A failure worth another attempt."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


def endpoint_api_key(name: str, endpoint: Endpoint) -> str | None:
    """The key from the environment variable the endpoint names; ConfigError if required."""
    if not endpoint.api_key_env:
        return None
    key = os.environ.get(endpoint.api_key_env)
    register_secret(key)
    if not key and endpoint.api_key_required:
        raise ConfigError(f"endpoint {name!r} needs the environment variable "
                          f"{endpoint.api_key_env}")
    return key or None


class EndpointRuntime:
    """Per-endpoint shared client and limits; rebuilt if used from another event loop."""

    def __init__(self, name: str, endpoint: Endpoint, api_key: str | None = None):
        self.name = name
        self.endpoint = endpoint
        self.api_key = api_key
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poster: JsonPoster | None = None
        self._client: openai.AsyncOpenAI | None = None
        self.semaphore: AdaptiveLimit
        self.rpm: AsyncLimiter | None = None
        self.tpm: AsyncLimiter | None = None
        self.retries: Counter[str] = Counter()  # transient failures retried, by kind
        self.supports_n = endpoint.supports_n  # None until a request with n > 1 answers
        for secret in [api_key, *endpoint.extra_headers.values(),
                       *url_credentials(endpoint.base_url)]:
            register_secret(secret)  # so no error line or record can carry them

    def ensure(self) -> EndpointRuntime:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            ep = self.endpoint
            if self._poster is not None:
                self._poster.abandon()  # opened on a loop that is gone
            self._poster = JsonPoster(
                ep.base_url, default_headers(self.api_key, ep.extra_headers),
                timeout_s=ep.timeout_s, connect_s=min(10.0, ep.timeout_s),
                connections=max(100, 2 * ep.max_concurrency))
            self._client = None
            self.semaphore = AdaptiveLimit(ep.max_concurrency, self.name)
            self.rpm = AsyncLimiter(ep.rpm, 60) if ep.rpm else None
            self.tpm = AsyncLimiter(ep.tpm, 60) if ep.tpm else None
            self._loop = loop
        return self

    @property
    def poster(self) -> JsonPoster:
        """The HTTP client the chat requests go through (after :meth:`ensure`)."""
        assert self._poster is not None, "call ensure() first"
        return self._poster

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The ``openai`` SDK client, for callers that want the SDK's typed API; opened on
        first use, after :meth:`ensure`. Nothing on a run's path needs it (``check`` lists
        models through :attr:`poster` too), so a run never pays for importing the SDK."""
        if self._client is None:
            import httpx2
            import openai

            ep = self.endpoint
            timeout = httpx2.Timeout(ep.timeout_s, connect=min(10.0, ep.timeout_s))
            self._client = openai.AsyncOpenAI(
                api_key=self.api_key or KEYLESS, base_url=ep.base_url, max_retries=0,
                timeout=timeout, default_headers=ep.extra_headers or None)
        return self._client

    async def aclose(self) -> None:
        if self._loop is not None:
            if self._poster is not None:
                await self._poster.aclose()
            if self._client is not None:
                await self._client.close()
                self._client = None
            self._loop = None


class OpenAIChatModel:
    """``provider:model`` served by an OpenAI-compatible endpoint."""

    def __init__(self, name: str, model_id: str, endpoint: Endpoint, *,
                 endpoint_name: str | None = None, runtime: EndpointRuntime | None = None,
                 api_key: str | None = None):
        self.name = name
        self.model_id = model_id
        self.endpoint = endpoint
        self.endpoint_name = endpoint_name or name.split(":", 1)[0]
        self.fingerprint = f"{self.endpoint_name}:{model_id}"
        self._last_tools: tuple[tuple[int, ...], list[Any], dict[str, Any]] | None = None
        self.runtime = runtime or EndpointRuntime(
            self.endpoint_name, endpoint,
            api_key if api_key is not None else endpoint_api_key(self.endpoint_name, endpoint))

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        settings = settings or Settings()
        if settings.n > 1 and self.runtime.supports_n is False:
            settings = settings.model_copy(update={"n": 1})  # complete_n asks for the rest
        if settings.n > 1 and self.runtime.supports_n is None:
            try:
                out = await self._complete(messages, tools, settings)
            except ModelError as exc:
                if exc.kind != "bad_request":
                    raise
                log.info("%s: the endpoint refused n=%d; asking one choice per request",
                         self.name, settings.n)
                self.runtime.supports_n = False
                return await self._complete(messages, tools,
                                            settings.model_copy(update={"n": 1}))
            self.runtime.supports_n = len(out.choices) > 1
            return out
        return await self._complete(messages, tools, settings)

    async def _complete(self, messages: list[dict[str, Any]],
                        tools: list[dict[str, Any]] | None, settings: Settings) -> Completion:
        kwargs = self._request(messages, tools, settings)
        body = orjson.dumps(kwargs)  # once, however many attempts
        ep = self.endpoint
        tokens = (_estimate_tokens(messages, tools) + (settings.max_tokens or 0)) if ep.tpm \
            else 0
        schemas = self._schemas(tools) if tools is not None else None
        # The first attempt runs without the retry machinery (most calls need no more, and
        # setting tenacity up cost ~5% of the pipeline's CPU per call); a transient failure
        # hands over to tenacity for attempts 2 … max_retries + 1, with the same waits.
        try:
            return await self._attempt(body, tokens, schemas)
        except _Transient as exc:
            failure = exc
        wait = _Wait(ep.retry_backoff_s, ep.retry_backoff_max_s)
        timeouts = _TimeoutBudget(ep)
        attempts = 1
        if ep.max_retries > 0 and timeouts.allows(failure):
            delay = wait.after(failure, 1)
            self._note_retry(failure, 1, delay)
            await asyncio.sleep(delay)
            retrying = AsyncRetrying(
                stop=stop_after_attempt(ep.max_retries),
                wait=wait.shifted(1),
                retry=retry_if_exception(timeouts.allows),
                before_sleep=lambda state: self._note_retry(
                    state.outcome.exception() if state.outcome else None,
                    state.attempt_number + 1,
                    state.next_action.sleep if state.next_action else 0.0),
                reraise=True,
            )
            try:
                async for attempt in retrying:
                    with attempt:
                        attempts += 1
                        return await self._attempt(body, tokens, schemas)
            except _Transient as exc:
                failure = exc
        if failure.kind == "timeout" and timeouts.exhausted:
            raise ModelError(
                f"{self.name}: timed out after {ep.timeout_s:g}s at {redact_url(ep.base_url)} "
                f"({attempts} attempt(s); timeouts are retried at most {timeouts.cap} "
                f"time(s) here, as a self-hosted server keeps computing an abandoned "
                f"request: raise endpoints.{self.endpoint_name}.timeout_s or lower its "
                f"max_concurrency)",
                kind="timeout", retryable=True) from None
        raise ModelError(
            f"{self.name}: gave up after {attempts} attempt(s) at "
            f"{redact_url(ep.base_url)}: {failure}", kind=failure.kind, retryable=True) from None

    def _schemas(self, tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Name → parameters of the offered tools, to check the calls in the reply. An
        agent offers the same list on every call of a conversation: it is read once."""
        ids = tuple(map(id, tools))
        if self._last_tools is not None and self._last_tools[0] == ids:
            return self._last_tools[2]
        schemas = tool_schemas(tools)
        self._last_tools = (ids, tools, schemas)  # holding the list keeps the ids valid
        return schemas

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                 s: Settings) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": self.model_id, "messages": messages}
        if tools:
            kw["tools"] = tools
            if s.tool_choice is not None:
                kw["tool_choice"] = s.tool_choice
            if s.parallel_tool_calls is not None:
                kw["parallel_tool_calls"] = s.parallel_tool_calls
        if s.temperature is not None:
            kw["temperature"] = s.temperature
        if s.top_p is not None:
            kw["top_p"] = s.top_p
        if s.max_tokens is not None:
            kw[self.endpoint.max_tokens_param] = s.max_tokens
        if s.seed is not None:
            # Distinct samples of one request (best-of-N) must not share a seed, or a
            # seeded backend would answer them identically.
            kw["seed"] = s.seed + s.sample
        if s.response_format is not None:
            kw["response_format"] = s.response_format
        if s.n > 1:
            kw["n"] = s.n
        if s.extra:
            kw.update(s.extra)  # provider-specific fields go into the body as they are
        return kw

    async def _attempt(self, request: bytes, tokens: int,
                       schemas: dict[str, dict[str, Any]] | None) -> Completion:
        rt = self.runtime.ensure()
        if rt.rpm is not None:
            await rt.rpm.acquire()
        if rt.tpm is not None:
            await rt.tpm.acquire(min(tokens, rt.tpm.max_rate))
        # The body is already JSON and the reply is parsed here: the request goes out as
        # bytes through a lean HTTP client (apigen_mt/llm/http.py says why), in a slot of
        # the endpoint's limit that the answer frees (and hands on) as soon as it is read.
        try:
            reply = await rt.poster.post_in(rt.semaphore, "/chat/completions", request)
        except HttpTimeout:
            if self.endpoint.is_self_hosted():
                rt.semaphore.timed_out(self.endpoint.timeout_s)
            raise _Transient("timeout", f"timed out after {self.endpoint.timeout_s:g}s") \
                from None
        except HttpConnectionError as exc:
            raise _Transient("connection", f"connection failed: {_short(exc)}") from None
        if reply.status >= 400:
            raise self._status_error(reply)
        rt.semaphore.success()
        return self._parse(reply.body, schemas)

    def _status_error(self, reply: Reply) -> Exception:
        code = reply.status
        detail = _error_detail(reply)
        where = f"endpoint {self.endpoint_name!r} ({redact_url(self.endpoint.base_url)})"
        if code == 429:
            return _Transient("rate_limit", f"rate limited (HTTP 429): {detail}",
                              retry_after=_retry_after(reply.headers))
        if code >= 500 or code == 408:
            return _Transient("server", f"server error (HTTP {code}): {detail}",
                              retry_after=_retry_after(reply.headers))
        if code in (401, 403):
            return ModelError(f"{where} rejected the API key (HTTP {code}): {detail}",
                              kind="auth")
        if code in (400, 413) and _CONTEXT_ERROR.search(detail):
            return ModelError(f"{where} refused a request longer than {self.model_id!r}'s "
                              f"context window (HTTP {code}): {detail}", kind="context")
        if code == 404:
            return ModelError(f"model {self.model_id!r} not found at {where} (HTTP 404): "
                              f"{detail}", kind="not_found")
        return ModelError(f"{where} refused the request for {self.model_id!r} (HTTP {code}): "
                          f"{detail}", kind="bad_request")

    def _parse(self, body: bytes, schemas: dict[str, dict[str, Any]] | None) -> Completion:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Transient("bad_response", f"unparseable response body ({len(body)} bytes)") \
                from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise _Transient("bad_response", "response has no choices")
        parsed = [_parse_choice(c, schemas) for c in choices if isinstance(c, dict)]
        if parsed[0].text is None and not parsed[0].tool_calls:
            raise _Transient("bad_response", "response message is empty")
        parsed = [parsed[0], *(c for c in parsed[1:] if c.text is not None or c.tool_calls)]
        first = parsed[0]
        u = data.get("usage") or {}
        details = u.get("prompt_tokens_details") or {}
        counts = {"prompt_tokens": u.get("prompt_tokens") or 0,
                  "completion_tokens": u.get("completion_tokens") or 0,
                  "cached_tokens": details.get("cached_tokens") or 0}
        # Validation is skipped only where it could change nothing (plain ints here,
        # validated choices below): building models costs on every call
        usage = Usage.model_construct(**counts) if all(type(v) is int for v in counts.values()) \
            else Usage(**counts)
        cost = self.endpoint.cost(usage.prompt_tokens, usage.completion_tokens,
                                  usage.cached_tokens)
        return Completion.model_construct(
            text=first.text, tool_calls=first.tool_calls, finish_reason=first.finish_reason,
            choices=parsed if len(parsed) > 1 else [], usage=usage, cost=float(cost),
            model=self.name)

    def _note_retry(self, exc: BaseException | None, attempt: int, wait: float) -> None:
        self.runtime.retries[getattr(exc, "kind", "error")] += 1
        log.info("%s: attempt %d failed (%s); retrying in %.2fs", self.name, attempt, exc,
                 wait)


def _parse_choice(choice: dict[str, Any], schemas: dict[str, dict[str, Any]] | None) -> Choice:
    msg = choice.get("message") or {}
    text = msg.get("content")
    if isinstance(text, list):  # content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    calls: list[ToolCall] = []
    for i, tc in enumerate(msg.get("tool_calls") or []):
        fn = tc.get("function") or {}
        args = fn.get("arguments")
        raw = args if isinstance(args, str) else orjson.dumps(args or {}).decode()
        calls.append(parse_tool_call(tc.get("id") or f"call_{i}", fn.get("name") or "",
                                     raw, schemas))
    finish = choice.get("finish_reason") or ("tool_calls" if calls else "stop")
    if (text is None or type(text) is str) and type(finish) is str:  # nothing to coerce
        return Choice.model_construct(text=text, tool_calls=calls, finish_reason=finish)
    return Choice(text=text, tool_calls=calls, finish_reason=finish)


_CONTEXT_ERROR = re.compile(r"context (length|window|size)|too many tokens|exceeds? the "
                            r"(available )?context|prompt is too long|n_ctx", re.IGNORECASE)


class _TimeoutBudget:
    """Retries left for timeouts: few on a self-hosted endpoint (``timeout_retries``)."""

    def __init__(self, ep: Endpoint):
        self.cap = ep.timeout_retries if ep.timeout_retries is not None else (
            min(1, ep.max_retries) if ep.is_self_hosted() else ep.max_retries)
        self.seen = 0  # timeouts so far
        self.max_retries = ep.max_retries
        self.exhausted = False

    def allows(self, exc: BaseException) -> bool:
        """Whether a failure is worth another attempt (tenacity's retry predicate)."""
        if not isinstance(exc, _Transient):
            return False
        if exc.kind == "timeout":
            self.seen += 1
            if self.seen > self.cap:
                self.exhausted = self.cap < self.max_retries  # the cap, not the stop, ended it
                return False
        return True


class _Wait:
    """Exponential backoff with jitter, unless the server said how long (Retry-After).

    After attempt k fails: ``min(initial * 2**(k-1) + uniform(0, initial), maximum)``
    (tenacity's ``wait_exponential_jitter``). ``offset`` is the number of attempts made
    before tenacity took over, so the sequence goes on where it stood.
    """

    def __init__(self, initial: float, maximum: float, offset: int = 0):
        self.initial = max(initial, 1e-3)
        self.jitter = initial
        self.maximum = maximum
        self.offset = offset

    def shifted(self, offset: int) -> _Wait:
        return _Wait(self.jitter, self.maximum, offset)

    def after(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait after ``attempt`` (1-based) failed with ``exc``."""
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER_S)
        delay = self.initial * 2 ** (attempt - 1) + random.uniform(0, self.jitter)
        return max(0.0, min(delay, self.maximum))

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.after(exc, state.attempt_number + self.offset)


def _retry_after(headers: Any) -> float | None:
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)
    return None


def _error_detail(reply: Reply) -> str:
    """The server's own words for an error: ``error.message`` of a JSON body, else the
    body's text, else the status line."""
    try:
        body = orjson.loads(reply.body) if reply.body else None
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return _short(err["message"])
        if isinstance(err, str):
            return _short(err)
    text = reply.body.decode("utf-8", "replace").strip()
    return _short(text or f"HTTP {reply.status}")


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _estimate_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    return (len(orjson.dumps(messages)) + (len(orjson.dumps(tools)) if tools else 0)) // 4 + 1


# --- `apigen-mt check` --------------------------------------------------------------------------


@dataclass
class ProbeResult:
    """One finding about an endpoint: ``ok`` and a one-line message."""

    endpoint: str
    ok: bool
    message: str


_PROBE_TOOL = {"type": "function", "function": {
    "name": "add", "description": "Add two integers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                     "b": {"type": "integer"}},
                   "required": ["a", "b"], "additionalProperties": False}}}


async def _list_models(name: str, endpoint: Endpoint, runtime: EndpointRuntime
                       ) -> tuple[list[str] | None, ProbeResult | None]:
    """(the model ids /models lists — None if it has no such route —, or why it failed)."""
    where = f"{name} ({redact_url(endpoint.base_url)})"
    try:
        reply = await runtime.ensure().poster.get("/models")
    except HttpTimeout:
        return None, ProbeResult(name, False, f"{where}: unreachable (timed out)")
    except HttpConnectionError as exc:
        return None, ProbeResult(name, False, f"{where}: unreachable ({_short(exc)})")
    if reply.status == 401:
        env = endpoint.api_key_env or "no key configured"
        return None, ProbeResult(name, False, f"{where}: API key rejected (HTTP 401; {env})")
    if reply.status == 403:
        return None, ProbeResult(name, False, f"{where}: API key rejected (HTTP 403)")
    if reply.status >= 400:
        return None, None  # some servers have no /models; a request will still tell
    try:
        page = orjson.loads(reply.body)
        return [str(m["id"]) for m in page["data"]], None
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None, None  # not a model list: a request will tell what the server is


def _quick(endpoint: Endpoint, timeout_s: float) -> Endpoint:
    return endpoint.model_copy(update={"max_retries": 0,
                                       "timeout_s": min(endpoint.timeout_s, timeout_s)})


async def probe_reachable(name: str, endpoint: Endpoint) -> ProbeResult | None:
    """One quick look before a run: None when the endpoint answers, else the failure as
    ``check`` words it. Only an unreachable endpoint fails here (a refused key or an
    unknown model fails the first request at once, without retries)."""
    try:
        key = endpoint_api_key(name, endpoint)
    except ConfigError:
        return None  # the caller reports a missing key variable
    runtime = EndpointRuntime(name, _quick(endpoint, 15.0), key)
    try:
        _, failure = await _list_models(name, endpoint, runtime)
    finally:
        await runtime.aclose()
    return failure if failure is not None and "unreachable" in failure.message else None


async def probe_endpoint(name: str, endpoint: Endpoint, model_ids: list[str]) -> list[ProbeResult]:
    """Reachable? key accepted? each model listed? a one-shot tool call works? latency."""
    results: list[ProbeResult] = []
    where = f"{name} ({redact_url(endpoint.base_url)})"
    try:
        key = endpoint_api_key(name, endpoint)
    except ConfigError as exc:
        return [ProbeResult(name, False, f"{where}: {exc}")]
    # a model on a CPU may take minutes for its first answer: wait as long as a run would
    quick = _quick(endpoint, endpoint.timeout_s if endpoint.is_self_hosted() else 30.0)
    runtime = EndpointRuntime(name, quick, key)
    try:
        listed, failure = await _list_models(name, endpoint, runtime)
        if failure is not None:
            return [failure]
        if endpoint.single_model:
            listed = None  # it answers whatever the request names
        for model_id in model_ids:
            if listed is not None and model_id not in listed:
                shown = ", ".join(listed[:8]) + (" …" if len(listed) > 8 else "")
                results.append(ProbeResult(name, False, f"{where}: unknown model {model_id!r} "
                                                        f"(server lists: {shown or 'none'})"))
                continue
            results.append(await _probe_tool_call(name, where, model_id, quick, runtime))
            if results[-1].ok:
                results.append(await _probe_n(name, where, model_id, quick, runtime))
    finally:
        await runtime.aclose()
    return results


async def _probe_tool_call(name: str, where: str, model_id: str, endpoint: Endpoint,
                           runtime: EndpointRuntime) -> ProbeResult:
    model = OpenAIChatModel(f"{name}:{model_id}", model_id, endpoint, endpoint_name=name,
                            runtime=runtime)
    messages = [{"role": "system", "content": "You are a calculator. Always use the tool."},
                {"role": "user", "content": "What is 2 + 3? Call the add tool."}]
    started = time.perf_counter()
    note = ""
    try:
        try:
            out = await model.complete(messages, [_PROBE_TOOL],
                                       Settings(tool_choice="required", temperature=0,
                                                max_tokens=64))
        except ModelError as exc:
            # Servers refuse tool_choice "required" in many ways: HTTP 400, 422, or a 500
            # from an assertion (llama.cpp). Only a failure "auto" could not fix is final.
            if exc.kind in ("auth", "not_found", "timeout", "connection"):
                raise
            note = " (tool_choice 'required' refused; 'auto' works)"
            out = await model.complete(messages, [_PROBE_TOOL],  # no "required" support
                                       Settings(tool_choice="auto", temperature=0,
                                                max_tokens=64))
    except ModelError as exc:
        return ProbeResult(name, False, f"{where}: {model_id}: {exc}")
    ms = (time.perf_counter() - started) * 1000
    good = [c for c in out.tool_calls if c.name == "add" and c.error is None]
    if not good:
        why = out.tool_calls[0].error.message if out.tool_calls and out.tool_calls[0].error \
            else f"answered with text: {_short(out.text or '', 60)!r}"
        return ProbeResult(name, False, f"{where}: {model_id}: no tool calling ({why})")
    return ProbeResult(name, True, f"{where}: {model_id}: ok, tool call in {ms:.0f} ms{note}")


async def _probe_n(name: str, where: str, model_id: str, endpoint: Endpoint,
                   runtime: EndpointRuntime) -> ProbeResult:
    """Does the endpoint answer ``n`` choices in one request (best-of-N at one prompt)?"""
    model = OpenAIChatModel(f"{name}:{model_id}", model_id, endpoint, endpoint_name=name,
                            runtime=runtime)
    runtime.supports_n = None
    messages = [{"role": "user", "content": "Say hello in one word."}]
    try:
        out = await model.complete(messages, None, Settings(n=2, max_tokens=8, temperature=1.0))
    except ModelError as exc:
        return ProbeResult(name, False, f"{where}: {model_id}: n=2 probe failed: {exc}")
    if len(out.choices) >= 2:
        return ProbeResult(name, True, f"{where}: {model_id}: n=2 ok (best-of-N candidates "
                                       "in one request)")
    return ProbeResult(name, True, f"{where}: {model_id}: n is not supported (best-of-N "
                                   "asks one request per candidate; set supports_n: false "
                                   "to skip the first try)")
