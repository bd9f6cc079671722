"""The model layer's settings: which model plays each role, endpoints, the offline sim, the
response cache (the ``roles:``, ``endpoints:``, ``sim:`` and ``cache:`` blocks of a run config).

They are owned here, by the layer they configure, and composed into the run config at the
top (:class:`apigen_mt.config.RunConfig`); nothing in this package imports the run config.
What the model builders read of it is :class:`ModelsConfig`, the part of a run config that
concerns models (a ``RunConfig`` is one).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

MODEL_REF = re.compile(r"^[A-Za-z0-9_.-]+:\S+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleModel(_Strict):
    """Which model plays a role, and its default sampling settings."""

    model: str = "sim:sim"  # "provider:model"; provider is `sim` or an endpoint name
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None

    @field_validator("model")
    @classmethod
    def _ref(cls, v: str) -> str:
        if not MODEL_REF.match(v):
            raise ValueError(f"{v!r} is not 'provider:model' "
                             "(e.g. 'sim:sim', 'openai:gpt-4o-mini')")
        return v

    @property
    def provider(self) -> str:
        return self.model.split(":", 1)[0]

    @property
    def model_id(self) -> str:
        return self.model.split(":", 1)[1]


def _reviewers() -> list[RoleModel]:
    return [RoleModel() for _ in range(3)]


class Roles(_Strict):
    """Role → model bindings. Models are chosen here, never in code."""

    drafter: RoleModel = Field(default_factory=RoleModel)
    reviewers: list[RoleModel] = Field(default_factory=_reviewers, min_length=1)
    feedback: RoleModel = Field(default_factory=RoleModel)
    human: RoleModel = Field(default_factory=RoleModel)
    critic: RoleModel = Field(default_factory=RoleModel)
    agent: RoleModel = Field(default_factory=RoleModel)

    def items(self) -> list[tuple[str, RoleModel]]:
        """(role label, model) for every role; reviewers are ``reviewers.0``, ``reviewers.1`` …"""
        out = [("drafter", self.drafter)]
        out += [(f"reviewers.{i}", r) for i, r in enumerate(self.reviewers)]
        out += [("feedback", self.feedback), ("human", self.human), ("critic", self.critic),
                ("agent", self.agent)]
        return out


class Endpoint(_Strict):
    """An OpenAI-compatible server, its limits and its prices (USD per million tokens)."""

    base_url: str
    api_key_env: str | None = None  # NAME of the env var holding the key, never the key
    api_key_required: bool = True  # False: run keyless if the variable is unset (local vLLM)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(5, ge=0, le=100)  # transport retries after the first attempt
    retry_backoff_s: float = Field(1.0, ge=0)  # first backoff; doubles, with jitter
    retry_backoff_max_s: float = Field(30.0, ge=0)
    max_concurrency: int = Field(64, ge=1, le=4_096)
    rpm: int | None = Field(None, ge=1)  # requests per minute, client side
    tpm: int | None = Field(None, ge=1)  # (estimated) tokens per minute, client side
    price_input_per_m: float = Field(0.0, ge=0)
    price_output_per_m: float = Field(0.0, ge=0)
    price_cached_per_m: float | None = Field(None, ge=0)  # None: same as input
    max_tokens_param: str = "max_tokens"  # or "max_completion_tokens" (reasoning models)
    # several choices per request (`n`, best-of-N at one prompt's price); None: try it and
    # fall back to one request per choice if the server refuses (`apigen-mt check` tells)
    supports_n: bool | None = None
    extra_headers: dict[str, str] = Field(default_factory=dict)
    # Prompt fitting (apigen_mt/llm/budget.py): the model's context window in tokens
    # (prompt + completion); None sends requests as built. `context_windows` overrides it
    # per model id on endpoints that serve several models.
    context_window: int | None = Field(None, ge=64)
    context_windows: dict[str, int] = Field(default_factory=dict)
    # How prompt tokens are counted: "auto" (the server's tokenize endpoint when it has
    # one — llama.cpp, vLLM — else an estimate), "server", "estimate", or the path of a
    # Hugging Face tokenizer.json (needs the `tokenizers` package).
    tokenizer: str = "auto"
    # The server's chat template HTML-escapes message text (llama-cpp-python's
    # chatml-function-calling does: a JSON prompt's quotes reach the model as &#34;, about
    # twice the tokens); tokens are then counted on the escaped text.
    html_escaped_prompts: bool = False
    # A self-hosted server keeps computing a request the client abandoned, so a timeout
    # there is not retried blindly: in-flight requests are halved and the timeout is
    # retried at most `timeout_retries` times. None: inferred from the host (loopback,
    # private or .local addresses are self-hosted).
    self_hosted: bool | None = None
    timeout_retries: int | None = Field(None, ge=0)  # None: 1 self-hosted, else max_retries
    # The server answers with its one loaded model whatever the request names
    # (llama.cpp): `check` and the pre-run probe do not look the name up in /models.
    single_model: bool = False

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v.rstrip("/")

    def window_for(self, model_id: str) -> int | None:
        """The context window declared for ``model_id`` on this endpoint (None: unknown)."""
        return self.context_windows.get(model_id, self.context_window)

    def is_self_hosted(self) -> bool:
        """Declared, or inferred from the host: loopback, private or ``.local`` addresses."""
        if self.self_hosted is not None:
            return self.self_hosted
        import ipaddress
        from urllib.parse import urlsplit

        host = urlsplit(self.base_url).hostname or ""
        if host == "localhost" or host.endswith((".local", ".internal", ".lan")):
            return True
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return "." not in host  # a bare name (docker service, /etc/hosts) is local
        return addr.is_loopback or addr.is_private or addr.is_link_local

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """USD for one call at this endpoint's prices."""
        cached_price = self.price_input_per_m if self.price_cached_per_m is None \
            else self.price_cached_per_m
        fresh = max(prompt_tokens - cached_tokens, 0)
        return (fresh * self.price_input_per_m + cached_tokens * cached_price
                + completion_tokens * self.price_output_per_m) / 1e6


class SimSettings(_Strict):
    """The offline `sim` model: its seed and its named imperfection rates."""

    seed: int = 0
    flaws: dict[str, float] = Field(default_factory=dict)  # e.g. "drafter.wrong_argument": 0.3
    latency_ms: float = Field(0.0, ge=0)
    # Pretend to have a context window: requests to `sim` are fitted like a real model's
    # (to try and benchmark prompt fitting offline). None: no limit.
    context_window: int | None = Field(None, ge=64)

    @field_validator("flaws")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for name, rate in v.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"flaw {name!r} rate {rate} is not between 0 and 1")
        return v

    def flaw(self, name: str, default: float = 0.0) -> float:
        return self.flaws.get(name, default)


class CacheSettings(_Strict):
    """The on-disk response cache (a crash never pays twice for the same call)."""

    enabled: bool = True
    path: Path | None = None  # directory; default <run dir>/cache
    sim: bool = False  # also cache `sim` replies (off: sim is deterministic and free)


@runtime_checkable
class ModelsConfig(Protocol):
    """The part of a run config the model layer reads (a ``RunConfig`` satisfies it)."""

    roles: Roles
    endpoints: dict[str, Endpoint]
    sim: SimSettings
    cache: CacheSettings
    # write every role's request and reply to <run dir>/requests.jsonl
    request_log: bool
