"""Running batch items in another process: picklable recipes and what crosses the wire.

A driver-side closure over models and HTTP clients cannot be shipped, so an executor that
runs items elsewhere (Ray) gets a :class:`~apigen_mt.runner.batch.RemoteWork`: a
picklable *spec* that a worker turns into the per-item function once (the same
``produce`` / ``play_episode`` code, with the worker's own environment copy and model
clients), a *payload* per item computed on the driver, and a JSON-able *result* the driver
decodes back into the record.

Workers never write the run directory. Each reply carries the model responses the item
paid for and the item's usage events; the driver appends the responses to the run's
response cache (with the same request keys, so a later local run hits them) and replays
the usage into its tracker, so progress and manifest figures stay right.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from apigen_mt.config import RunConfig
from apigen_mt.llm.base import Completion, ModelError, Usage
from apigen_mt.llm.cache import CachedModel, ResponseCache
from apigen_mt.llm.registry import RoleModels, build_role_models, cache_identity
from apigen_mt.llm.usage import UsageTracker
from apigen_mt.records import Blueprint
from apigen_mt.runner.wire import encode_slot

# --- specs: what a worker builds its item function from ------------------------------------


@dataclass
class SlotSpec:
    """Phase 1 in another process: config, environment and the driver's working folder.

    The environment reference is shipped exactly as the driver has it (it is part of the
    drafter's prompt); relative paths resolve because the worker works in ``cwd``.
    """

    config: dict[str, Any]
    env: dict[str, Any]
    cwd: str

    @classmethod
    def of(cls, config: RunConfig, env_ref: Any) -> SlotSpec:
        """The spec of a run's phase 1."""
        return cls(config.model_dump(mode="json"), env_ref.as_dict(), os.getcwd())

    def build(self, runtime: WorkerRuntime) -> Any:
        """``async (slot, {upto, lag}) -> SlotResult as JSON``.

        ``runtime.shared`` mirrors the driver's accepted blueprints; the slot sees the
        first ``upto`` of them, filtered exactly as the driver would.
        """
        from apigen_mt.blueprint.produce import produce
        from apigen_mt.runner.build import EnvRef, build_phase1
        from apigen_mt.runner.phase1 import visible_to

        config = RunConfig.model_validate(self.config)
        phase, _ = build_phase1(config, EnvRef(**self.env), None,
                                models=runtime.role_models(config))

        async def run(slot: int, payload: dict[str, Any]) -> dict[str, Any]:
            visible = visible_to(runtime.shared[:payload["upto"]], slot, payload["lag"])
            return encode_slot(await produce(phase, slot, visible))

        return run


@dataclass
class EpisodeSpec:
    """Phase 2 in another process: config, environment, rollout settings and seed."""

    config: dict[str, Any]
    env: dict[str, Any]
    settings: dict[str, Any]
    seed: int
    cwd: str

    @classmethod
    def of(cls, config: RunConfig, env_ref: Any, settings: Any, seed: int) -> EpisodeSpec:
        """The spec of a run's phase 2 (``settings`` after command-line overrides)."""
        return cls(config.model_dump(mode="json"), env_ref.as_dict(),
                   settings.model_dump(mode="json"), seed, os.getcwd())

    def build(self, runtime: WorkerRuntime) -> Any:
        """``async (key, {blueprint, trial}) -> Trajectory as JSON``."""
        from apigen_mt.rollout.episode import Roles, play_episode
        from apigen_mt.rollout.judge import Target, target_for
        from apigen_mt.rollout.settings import RolloutSettings
        from apigen_mt.runner.build import EnvRef

        config = RunConfig.model_validate(self.config)
        settings = RolloutSettings.model_validate(self.settings)
        env = EnvRef(**self.env).load()
        models = runtime.role_models(config)
        roles = Roles(human=models.human, critic=models.critic, agent=models.agent)
        targets: dict[str, Target] = {}

        async def run(key: int, payload: dict[str, Any]) -> dict[str, Any]:
            bp = Blueprint.model_validate(payload["blueprint"])
            if bp.id not in targets:
                targets[bp.id] = target_for(env, bp)  # once per blueprint per worker
            trajectory = await play_episode(bp, env, targets[bp.id], roles, settings,
                                            payload["trial"], self.seed)
            return trajectory.model_dump(mode="json")

        return run


# --- the worker side -------------------------------------------------------------------------


@dataclass
class Ledger:
    """What one item added: new cache entries and usage events, for the driver."""

    responses: dict[str, Any] = field(default_factory=dict)
    usage: list[list[Any]] = field(default_factory=list)

    def merge(self, other: Ledger) -> None:
        self.responses.update(other.responses)
        self.usage.extend(other.usage)

    def reply(self) -> dict[str, Any]:
        return {"responses": list(self.responses.items()), "usage": self.usage}


# The item the current task works for; child tasks (committee votes) inherit it.
_LEDGER: contextvars.ContextVar[Ledger | None] = contextvars.ContextVar("apigen_mt_ledger",
                                                                       default=None)


class RecordingCache(ResponseCache):
    """Memory-only: preloaded with the driver's entries; new answers go to the item's ledger."""

    def __init__(self, entries: dict[str, Any], spill: Ledger):
        super().__init__(None)
        self.preload(entries)
        self._spill = spill

    def put(self, key: str, value: dict[str, Any]) -> None:
        super().put(key, value)
        (_LEDGER.get() or self._spill).responses[key] = value


class RecordingUsage(UsageTracker):
    """Counts as usual and notes every event in the item's ledger."""

    def __init__(self, spill: Ledger):
        super().__init__()
        self._spill = spill

    def record(self, role: str, model: str, completion: Completion, seconds: float = 0.0,
               saved_cost: float = 0.0) -> None:
        super().record(role, model, completion, seconds, saved_cost)
        u = completion.usage
        (_LEDGER.get() or self._spill).usage.append(
            ["ok", role, model, completion.cached, u.prompt_tokens, u.completion_tokens,
             u.cached_tokens, completion.cost, seconds, saved_cost])

    def record_error(self, role: str, model: str) -> None:
        super().record_error(role, model)
        (_LEDGER.get() or self._spill).usage.append(["error", role, model])


class WorkerRuntime:
    """One worker: the spec's item function plus recording cache and usage around it.

    ``shared`` mirrors the batch's shared list (see ``RemoteWork.shared``): it starts as
    the driver's list when the pool started and grows by the tails items bring along.
    """

    def __init__(self, spec: Any, cache_entries: dict[str, Any] | None = None,
                 shared: list[Any] | None = None):
        enter_driver_dir(spec.cwd)
        self.shared: list[Any] = list(shared or [])
        self.orphans = Ledger()  # events of items that were cancelled before replying
        self.cache = RecordingCache(cache_entries or {}, self.orphans)
        self.usage = RecordingUsage(self.orphans)
        self.models: list[RoleModels] = []
        self.fn = spec.build(self)

    def role_models(self, config: RunConfig) -> RoleModels:
        """The run's models, with this worker's cache and usage in place of the run dir's."""
        off = config.model_copy(update={"cache": config.cache.model_copy(
            update={"enabled": False})})
        models = build_role_models(off, None, usage=self.usage)
        if config.cache.enabled:
            # Identical reviewers share one bound model: wrap each model once, or the outer
            # cache layer would wait for the inner one's in-flight answer to its own request.
            distinct = {id(b): b for b in [models.drafter, *models.reviewers, models.feedback,
                                           models.human, models.critic, models.agent]}
            for bound in distinct.values():
                if not bound.spec.model.startswith("sim:") or config.cache.sim:
                    bound.inner = CachedModel(bound.inner, self.cache,
                                              cache_identity(bound.spec.model, bound.inner,
                                                             config))
        self.models.append(models)
        return models

    async def run(self, key: int, payload: Any, start: int = 0,
                  tail: list[Any] | None = None) -> dict[str, Any]:
        """Run one item; never raises except on cancellation (errors are data).

        ``tail`` is the shared list from index ``start`` on; entries this worker already
        has (another item brought them) are skipped. The reply says how many it has.
        """
        have = len(self.shared)
        if tail and start <= have:  # start > have cannot be: the driver sends from an ack
            self.shared.extend(tail[have - start:])
        ledger = Ledger()
        token = _LEDGER.set(ledger)
        try:
            out: dict[str, Any] = {"result": await self.fn(key, payload)}
        except asyncio.CancelledError:
            self.orphans.merge(ledger)
            raise
        except ModelError as exc:
            out = {"error": {"model": True, "message": str(exc), "kind": exc.kind,
                             "retryable": exc.retryable}}
        except Exception as exc:
            out = {"error": {"model": False, "message": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()}}
        finally:
            _LEDGER.reset(token)
        out.update(ledger.reply())
        out["mirror"] = len(self.shared)
        return out

    def drain(self) -> dict[str, Any]:
        """Entries and usage not sent with any reply (cancelled items)."""
        reply = self.orphans.reply()
        self.orphans.responses.clear()
        self.orphans.usage.clear()
        return reply

    async def aclose(self) -> None:
        """Close model clients."""
        for models in self.models:
            await models.aclose()


def enter_driver_dir(cwd: str) -> None:
    """Work in the driver's folder when it exists here, so relative paths mean the same.

    Also puts it on ``sys.path``: a ``class:pkg.module:Class`` environment found in the
    driver's working folder is then importable in the worker too.
    """
    if os.path.isdir(cwd):
        os.chdir(cwd)
        if cwd not in sys.path:
            sys.path.append(cwd)


# --- the driver side -------------------------------------------------------------------------


class Outbox:
    """The driver's view of one worker's mirror: send it what it has not confirmed."""

    def __init__(self, shared: list[Any] | None):
        self.shared = shared
        self.acked = len(shared) if shared is not None else 0

    def tail(self) -> tuple[int, list[Any]]:
        """(start index, entries) to send with the next item."""
        if self.shared is None:
            return 0, []
        return self.acked, self.shared[self.acked:]

    def ack(self, reply: dict[str, Any]) -> None:
        """Note how much of the list the worker now holds."""
        self.acked = max(self.acked, reply.get("mirror", 0))


class RemoteItemError(RuntimeError):
    """An item raised something other than a model error in a worker."""


class Sink:
    """The driver's end: the run's cache and usage tracker take in what workers report."""

    def __init__(self, cache: ResponseCache | None, usage: UsageTracker | None):
        self.cache = cache
        self.usage = usage

    @classmethod
    def of(cls, models: RoleModels | None) -> Sink:
        """The sink of the driver's models (nothing is recorded without them)."""
        return cls(models.cache if models else None, models.usage if models else None)

    def snapshot(self) -> dict[str, Any]:
        """The cache entries on disk now, for workers to start from (hits for paid calls)."""
        path = self.cache.path if self.cache is not None else None
        entries: dict[str, Any] = {}
        if path is None or not Path(path).exists():
            return entries
        for line in Path(path).read_bytes().splitlines():
            try:
                row = orjson.loads(line)
                entries[row["k"]] = row["v"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue  # a torn line: the cache itself repairs it on the next open
        return entries

    def absorb(self, reply: dict[str, Any]) -> None:
        """Append new responses to the cache and replay usage events."""
        if self.cache is not None:
            for key, value in reply.get("responses", ()):
                if self.cache.get(key) is None:
                    self.cache.put(key, value)
        if self.usage is not None:
            for event in reply.get("usage", ()):
                if event[0] == "error":
                    self.usage.record_error(event[1], event[2])
                    continue
                _, role, model, cached, prompt, completion, cached_tokens, cost, secs, saved = \
                    event
                done = Completion(cached=cached, cost=cost, usage=Usage(
                    prompt_tokens=prompt, completion_tokens=completion,
                    cached_tokens=cached_tokens))
                self.usage.record(role, model, done, secs, saved_cost=saved)

    def unwrap(self, key: int, reply: dict[str, Any], decode: Any) -> Any:
        """Absorb a reply, then return the decoded result or raise the item's error."""
        self.absorb(reply)
        error = reply.get("error")
        if error is None:
            return decode(key, reply["result"])
        if error["model"]:
            raise ModelError(error["message"], kind=error["kind"], retryable=error["retryable"])
        raise RemoteItemError(f"item {key} failed in a worker: {error['message']}\n"
                              f"{error['traceback']}")
