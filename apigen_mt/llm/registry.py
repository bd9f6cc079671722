"""From config to ready models: ``provider:model`` references bound to roles.

``sim:*`` is the built-in offline model; any other provider is the name of an endpoint
in ``config.endpoints``. Every role's model is wrapped, outermost first, as
:class:`BoundModel` (role defaults, usage accounting) → fitting to the context window
(when one is declared) → request log (when asked for) → response cache → backend.

``config`` is any :class:`~apigen_mt.llm.settings.ModelsConfig` (a run config is one):
the model layer never imports the run config, which sits above it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigen_mt.errors import ConfigError
from apigen_mt.llm.base import ChatModel, Completion, ModelError, Settings
from apigen_mt.llm.cache import CACHE_FILE, CachedModel, ResponseCache, model_identity
from apigen_mt.llm.settings import ModelsConfig
from apigen_mt.llm.settings import RoleModel as RoleSpec
from apigen_mt.llm.usage import UsageTracker

_SAMPLING = ("temperature", "top_p", "max_tokens", "seed")


def build_model(ref: str, config: ModelsConfig,
                runtimes: dict[str, Any] | None = None) -> ChatModel:
    """The backend for ``provider:model`` (no cache, no accounting).

    ``runtimes`` shares one client and one set of limits per endpoint between models;
    pass the same dict for every model of a run.
    """
    provider, _, model_id = ref.partition(":")
    if not model_id:
        raise ConfigError(f"model {ref!r} is not 'provider:model'")
    if provider == "sim":
        # imported here so a run on endpoints never loads the offline model
        from apigen_mt.sim import SimModel, builtin_roles

        return SimModel(ref, config.sim, builtin_roles())  # the pipeline's roles, played offline
    endpoint = config.endpoints.get(provider)
    if endpoint is None:
        known = ", ".join(["sim", *sorted(config.endpoints)])
        raise ConfigError(f"model {ref!r}: unknown provider {provider!r} "
                          f"(no endpoint of that name; known: {known})")
    # Imported here so `sim`-only runs never import the openai SDK.
    from apigen_mt.llm.openai_adapter import EndpointRuntime, OpenAIChatModel, endpoint_api_key

    runtimes = {} if runtimes is None else runtimes
    runtime = runtimes.get(provider)
    if runtime is None:
        runtime = runtimes[provider] = EndpointRuntime(
            provider, endpoint, endpoint_api_key(provider, endpoint))
    return OpenAIChatModel(ref, model_id, endpoint, endpoint_name=provider, runtime=runtime)


class BoundModel:
    """A role's model: fills unset sampling settings from the role's config, counts usage."""

    def __init__(self, inner: ChatModel, role: str, spec: RoleSpec, usage: UsageTracker):
        self.inner = inner
        self.role = role
        self.spec = spec
        self.usage = usage
        self.name = inner.name
        # the role's sampling defaults, read once (this runs on every call)
        self._defaults = {k: v for k in _SAMPLING if (v := getattr(spec, k)) is not None}

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        settings = settings or Settings()
        if self._defaults:
            fill = {k: v for k, v in self._defaults.items() if getattr(settings, k) is None}
            if fill:
                settings = settings.model_copy(update=fill)
        self.usage.check_budget()  # raises BudgetReached: stop before paying more
        started = time.perf_counter()
        try:
            out = await self.inner.complete(messages, tools, settings)
        except ModelError:
            self.usage.record_error(self.role, self.name)
            raise
        self.usage.record(self.role, self.name, out, time.perf_counter() - started,
                          saved_cost=out.saved_cost)
        return out


@dataclass
class RoleModels:
    """Every role's ready model, plus the shared usage tracker and cache."""

    drafter: ChatModel
    reviewers: list[ChatModel]
    feedback: ChatModel
    human: ChatModel
    critic: ChatModel
    agent: ChatModel
    usage: UsageTracker
    cache: ResponseCache | None = None
    runtimes: dict[str, Any] = field(default_factory=dict)
    request_log: Any = None  # a RequestLog when the config asks for one

    def by_role(self) -> dict[str, ChatModel]:
        """Role label → model (reviewers as ``reviewers.0`` …)."""
        out: dict[str, ChatModel] = {"drafter": self.drafter}
        out.update({f"reviewers.{i}": m for i, m in enumerate(self.reviewers)})
        out.update(feedback=self.feedback, human=self.human, critic=self.critic,
                   agent=self.agent)
        return out

    async def aclose(self) -> None:
        """Close HTTP clients and the cache file."""
        for rt in self.runtimes.values():
            await rt.aclose()
        if self.cache is not None:
            self.cache.close()
        if self.request_log is not None:
            self.request_log.close()


def open_cache(config: ModelsConfig, run_dir: str | Path | None) -> ResponseCache | None:
    """The run's response cache (None when disabled or when there is nowhere to put it)."""
    if not config.cache.enabled:
        return None
    folder = config.cache.path or (Path(run_dir) / "cache" if run_dir is not None else None)
    return ResponseCache(Path(folder) / CACHE_FILE) if folder is not None else None


def cache_identity(ref: str, backend: ChatModel, config: ModelsConfig) -> str:
    """The cache identity: a sim's own fingerprint (seed, flaws), or model + endpoint."""
    endpoint = config.endpoints.get(ref.split(":", 1)[0])
    if endpoint is None:
        return getattr(backend, "fingerprint", None) or ref
    return model_identity(ref, endpoint.base_url)


def build_role_models(config: ModelsConfig, run_dir: str | Path | None = None,
                      usage: UsageTracker | None = None) -> RoleModels:
    """Build every role's model from config; fails fast (ConfigError) on a missing key."""
    usage = usage or UsageTracker()
    runtimes: dict[str, Any] = {}
    backends: dict[str, ChatModel] = {}
    for _, spec in config.roles.items():  # validate everything before opening files
        if spec.model not in backends:
            backends[spec.model] = build_model(spec.model, config, runtimes)
    cacheable = {ref for ref in backends if not ref.startswith("sim:") or config.cache.sim}
    cache = open_cache(config, run_dir) if cacheable else None
    cached: dict[str, ChatModel] = {
        ref: CachedModel(backend, cache, cache_identity(ref, backend, config))
        if cache is not None and ref in cacheable else backend
        for ref, backend in backends.items()
    }

    request_log = None
    if config.request_log and run_dir is not None:
        from apigen_mt.llm.requestlog import REQUEST_LOG, RequestLog, key_values

        request_log = RequestLog(Path(run_dir) / REQUEST_LOG, key_values(config))
    counters: dict[str, Any] = {}

    def bind(role: str, spec: RoleSpec) -> ChatModel:
        model: ChatModel = cached[spec.model]
        if request_log is not None:
            from apigen_mt.llm.requestlog import LoggedModel

            model = LoggedModel(model, role, request_log)
        window = context_window(spec.model, config)
        if window is not None:
            from apigen_mt.llm.budget import FittedModel

            if spec.model not in counters:
                counters[spec.model] = token_counter(spec.model, config)
            model = FittedModel(model, role, window, counters[spec.model], request_log)
        return BoundModel(model, role, spec, usage)

    r = config.roles
    return RoleModels(
        drafter=bind("drafter", r.drafter),
        reviewers=_bind_reviewers(bind, r.reviewers),
        feedback=bind("feedback", r.feedback),
        human=bind("human", r.human),
        critic=bind("critic", r.critic),
        agent=bind("agent", r.agent),
        usage=usage,
        cache=cache,
        runtimes=runtimes,
        request_log=request_log,
    )


def _bind_reviewers(bind: Any, specs: list[RoleSpec]) -> list[ChatModel]:
    """One bound model per distinct reviewer spec: identical members share it, so the
    committee can ask for all their reviews in one request (``n``)."""
    seen: dict[str, ChatModel] = {}
    return [seen.setdefault(spec.model_dump_json(), bind("reviewers", spec)) for spec in specs]


def context_window(ref: str, config: ModelsConfig) -> int | None:
    """The context window declared for ``provider:model`` (None: requests are not fitted)."""
    provider, _, model_id = ref.partition(":")
    if provider == "sim":
        return config.sim.context_window
    endpoint = config.endpoints.get(provider)
    return endpoint.window_for(model_id) if endpoint is not None else None


def token_counter(ref: str, config: ModelsConfig) -> Any:
    """How ``provider:model``'s prompt tokens are counted (its tokenizer, or an estimate)."""
    from apigen_mt.llm.tokens import make_counter

    provider, _, model_id = ref.partition(":")
    endpoint = config.endpoints.get(provider)
    if endpoint is None:  # sim
        return make_counter("estimate", None, model_id)
    import os

    key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
    return make_counter(endpoint.tokenizer, endpoint.base_url, model_id, key,
                        endpoint.html_escaped_prompts)
