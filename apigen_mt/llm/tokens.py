"""Counting prompt tokens: the model's own tokenizer when one is at hand, an estimate otherwise.

Three sources, in the order ``tokenizer: auto`` tries them:

- the server's tokenize endpoint, which counts with exactly the model being served:
  llama-cpp-python (``POST /extras/tokenize/count``), llama.cpp's ``llama-server``
  (``POST /tokenize`` with ``content``) and vLLM (``POST /tokenize`` with ``prompt``);
- a Hugging Face ``tokenizer.json`` file (``tokenizer: <path>``; needs ``tokenizers``);
- an estimate of one token per three bytes of UTF-8, on the safe side: English prose runs
  about four bytes a token, JSON full of ids and numbers closer to three.

Counts are memoised by text: system prompts, tool listings and earlier turns repeat from
request to request, so a conversation's tokenizer calls grow with its new turns only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import orjson

log = logging.getLogger("apigen_mt.llm")
BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 8  # role markers and separators a chat template adds per message
TOOLS_OVERHEAD = 256  # the preamble a chat template wraps tool schemas in


class Counter(Protocol):
    """Counts the tokens of texts (one number per text)."""

    name: str

    async def count(self, texts: list[str], raw: bool = False) -> list[int]:
        """Token counts of ``texts``, in order (``raw``: tool schemas, never escaped)."""
        ...


def estimate(text: str) -> int:
    """About how many tokens ``text`` is (rounded up; 0 for the empty string)."""
    size = len(text.encode("utf-8"))
    return -(-size // BYTES_PER_TOKEN)


class EstimateCounter:
    """No tokenizer: bytes / 3."""

    name = "estimate"

    async def count(self, texts: list[str], raw: bool = False) -> list[int]:
        return [estimate(t) for t in texts]


class FileCounter:
    """A Hugging Face ``tokenizer.json`` loaded with the ``tokenizers`` package."""

    def __init__(self, path: str):
        try:
            from tokenizers import Tokenizer  # optional: only for `tokenizer: <file>`
        except ImportError:
            from apigen_mt.errors import ConfigError

            raise ConfigError(f"tokenizer {path!r} needs the `tokenizers` package "
                              "(pip install tokenizers), or use tokenizer: estimate") from None
        if not Path(path).is_file():
            from apigen_mt.errors import ConfigError

            raise ConfigError(f"tokenizer file not found: {path}")
        self.tokenizer = Tokenizer.from_file(path)
        self.name = f"file:{Path(path).name}"

    async def count(self, texts: list[str], raw: bool = False) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]


# (path, dialect) in the order they are tried
_DIALECTS: tuple[tuple[str, str], ...] = (
    ("/extras/tokenize/count", "llama-cpp-python"),
    ("/tokenize", "llama.cpp"),
    ("/tokenize", "vllm"),
)


def _body(dialect: str, text: str, model: str) -> dict[str, Any]:
    if dialect == "llama-cpp-python":
        return {"input": text, "model": model}
    if dialect == "llama.cpp":
        return {"content": text, "add_special": False}
    return {"model": model, "prompt": text, "add_special_tokens": False}


def _read(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("count"), int):
        return data["count"]
    if isinstance(data.get("tokens"), list):
        return len(data["tokens"])
    return None


class ServerCounter:
    """The serving model's tokenizer over HTTP; falls back to the estimate if there is none.

    The dialect is found on the first call (one or two requests) and kept. ``required``
    turns a server without a tokenize endpoint into an error instead of an estimate.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 required: bool = False, timeout_s: float = 30.0):
        root = base_url.rstrip("/")
        self.root = root[:-3] if root.endswith("/v1") else root
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.required = required
        self.timeout_s = timeout_s
        self.dialect: str | None = None
        self.name = "server"
        self._fallback = False
        self._clients: dict[int, Any] = {}

    def _client(self) -> Any:
        import httpx2

        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = httpx2.AsyncClient(
                timeout=httpx2.Timeout(self.timeout_s, connect=5.0), headers=self.headers)
        return client

    async def _one(self, dialect: str, path: str, text: str) -> int | None:
        import httpx2

        try:
            resp = await self._client().post(self.root + path,
                                             json=_body(dialect, text, self.model))
        except httpx2.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        try:
            return _read(resp.json())
        except ValueError:
            return None

    async def _detect(self, text: str) -> int | None:
        for path, dialect in _DIALECTS:
            n = await self._one(dialect, path, text)
            if n is not None:
                self.dialect, self.name = dialect, f"server:{dialect}"
                return n
        return None

    async def count(self, texts: list[str], raw: bool = False) -> list[int]:
        if self._fallback:
            return [estimate(t) for t in texts]
        out: list[int] = []
        for text in texts:
            if self.dialect is None:
                n = await self._detect(text)
                if n is None:
                    if self.required:
                        raise RuntimeError(f"{self.root} has no tokenize endpoint "
                                           "(llama.cpp, vLLM); set tokenizer: estimate")
                    log.warning("%s: no tokenize endpoint; prompt tokens are estimated",
                                self.root)
                    self._fallback, self.name = True, "estimate"
                    return [estimate(t) for t in texts]
            else:
                path = next(p for p, d in _DIALECTS if d == self.dialect)
                n = await self._one(self.dialect, path, text)
                if n is None:  # a hiccup: estimate this one, keep the dialect
                    n = estimate(text)
            out.append(n)
        return out


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


class HtmlEscaped:
    """Counts texts as a chat template that HTML-escapes them renders them.

    llama-cpp-python's ``chatml-function-calling`` format renders messages with Jinja
    autoescaping on, so every quote of a JSON prompt reaches the model as ``&#34;``: the
    same text is about twice the tokens. ``bytes_factor`` bounds the growth (a quote
    becomes five bytes).
    """

    bytes_factor = 5

    def __init__(self, inner: Counter):
        self.inner = inner
        self.name = f"{inner.name}+html-escaped"

    async def count(self, texts: list[str], raw: bool = False) -> list[int]:
        if raw:  # tool schemas: the template renders them with `tojson`, unescaped
            return await self.inner.count(texts)
        return await self.inner.count([t.translate(_HTML) for t in texts])


class Memo:
    """A counter with an LRU memory of texts already counted."""

    def __init__(self, inner: Counter, size: int = 4096):
        self.inner = inner
        self.size = size
        self.bytes_factor = getattr(inner, "bytes_factor", 1)
        self._seen: OrderedDict[bytes, int] = OrderedDict()

    @property
    def name(self) -> str:
        return getattr(self.inner, "name", "counter")

    async def count(self, texts: list[str], raw: bool = False) -> list[int]:
        keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16, person=b"raw" if raw
                                else b"").digest() for t in texts]
        first: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self._seen:
                first.setdefault(k, i)
        missing = sorted(first.values())
        if missing:
            sub = [texts[i] for i in missing]
            fresh = await self.inner.count(sub, raw=raw)
            for i, n in zip(missing, fresh, strict=True):
                self._seen[keys[i]] = n
        out = []
        for k in keys:
            self._seen.move_to_end(k)
            out.append(self._seen[k])
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return out


def message_texts(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
                  ) -> list[str]:
    """The texts of a request that the model reads: contents, tool calls, tool schemas."""
    texts = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        text = content or ""
        if m.get("tool_calls"):
            text += orjson.dumps(m["tool_calls"]).decode()
        texts.append(text)
    if tools:
        texts.append(orjson.dumps(tools).decode())
    return texts


async def count_request(counter: Counter, messages: list[dict[str, Any]],
                        tools: list[dict[str, Any]] | None) -> int:
    """Prompt tokens of a chat request: its texts plus each message's template overhead."""
    counts = await counter.count(message_texts(messages, None))
    if tools:
        counts += await counter.count([orjson.dumps(tools).decode()], raw=True)
    return sum(counts) + request_overhead(messages, tools)


def request_overhead(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    """Tokens a chat template adds around the texts (an allowance, not a count)."""
    return MESSAGE_OVERHEAD * (len(messages) + 1) + (TOOLS_OVERHEAD if tools else 0)


def make_counter(tokenizer: str, base_url: str | None, model: str,
                 api_key: str | None = None, html_escaped: bool = False) -> Counter:
    """The counter a ``tokenizer`` setting names (memoised); ``html_escaped`` for servers
    whose chat template HTML-escapes message text."""
    inner: Counter
    if tokenizer == "estimate" or (base_url is None and tokenizer in ("auto", "server")):
        inner = EstimateCounter()
    elif tokenizer in ("auto", "server"):
        inner = ServerCounter(base_url or "", model, api_key, required=tokenizer == "server")
    else:
        inner = FileCounter(tokenizer)
    return Memo(HtmlEscaped(inner) if html_escaped else inner)
