"""Calls, tokens, cost and cache hits, per role and per model.

Updates are a handful of integer additions under a lock: cheap on the asyncio hot path
and safe when a model is also driven from another thread (``serve_in_thread``).
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, Field

from apigen_mt.llm.base import Completion


class UsageStats(BaseModel):
    """Totals for one role, one model, or everything."""

    calls: int = 0  # completions returned (cache hits included)
    cache_hits: int = 0
    errors: int = 0  # requests that failed for good (ModelError)
    prompt_tokens: int = 0  # paid calls only
    completion_tokens: int = 0
    cached_tokens: int = 0  # provider-side prompt cache, part of prompt_tokens
    cost: float = 0.0  # USD actually spent
    saved_cost: float = 0.0  # USD the response cache saved
    seconds: float = 0.0  # wall time spent waiting for models (paid calls)

    def add(self, completion: Completion, seconds: float, saved_cost: float) -> None:
        """Count one answered call (a cache hit counts as a call and as money saved)."""
        count_call(self, completion, seconds, saved_cost)


def count_call(counts: Any, completion: Completion, seconds: float, saved_cost: float) -> None:
    """Add one answered call to ``counts`` (a :class:`UsageStats` or the tracker's plain
    counters, which have the same fields)."""
    counts.calls += 1
    if completion.cached:
        counts.cache_hits += 1
        counts.saved_cost += saved_cost
        return
    u = completion.usage
    counts.prompt_tokens += u.prompt_tokens
    counts.completion_tokens += u.completion_tokens
    counts.cached_tokens += u.cached_tokens
    counts.cost += completion.cost
    counts.seconds += seconds


class UsageSnapshot(BaseModel):
    """A copy of the counters at one moment, for progress displays and summaries."""

    total: UsageStats = Field(default_factory=UsageStats)
    by_role: dict[str, UsageStats] = Field(default_factory=dict)
    by_model: dict[str, UsageStats] = Field(default_factory=dict)


class BudgetReached(Exception):
    """The run's ``--max-cost`` or ``--max-calls`` is spent: no new request is made."""


class Budget(BaseModel):
    """Limits on a run's total spend, across all its invocations (None: no limit)."""

    max_cost: float | None = None  # USD
    max_calls: int | None = None  # paid requests (response-cache hits are free)

    def reached(self, spent: UsageStats) -> str | None:
        """Why the budget is spent (None while it is not)."""
        if self.max_cost is not None and spent.cost >= self.max_cost:
            return f"${spent.cost:.4f} spent of --max-cost {self.max_cost:g}"
        paid = spent.calls - spent.cache_hits
        if self.max_calls is not None and paid >= self.max_calls:
            return f"{paid} model calls made of --max-calls {self.max_calls}"
        return None


class _Counts:
    """The tracker's own counters: :class:`UsageStats`'s fields as plain attributes.

    Counting happens on every model call; a pydantic model's ``__setattr__`` made the
    handful of additions cost more than the rest of the accounting together. The
    tracker hands out :class:`UsageStats` copies (snapshots, spend, journal deltas).
    """

    __slots__ = _FIELDS = tuple(UsageStats.model_fields)
    _ZEROS = tuple((k, f.default) for k, f in UsageStats.model_fields.items())

    def __init__(self) -> None:
        for k, zero in self._ZEROS:
            setattr(self, k, zero)

    add = count_call

    def stats(self) -> UsageStats:
        return UsageStats.model_construct(**{k: getattr(self, k) for k in self._FIELDS})


class UsageTracker:
    """Accumulates :class:`UsageStats`; one per run, shared by every role's model.

    With a journal (:class:`~apigen_mt.llm.usage_log.UsageJournal`) every count is also
    written to the run directory at once, tagged with ``phase``. ``prior`` is what the
    run spent before this invocation; a :class:`Budget` is checked against prior + now.
    ``role_phases`` tags a role's counts with another phase than ``phase`` (both phases of
    a round share one tracker while they overlap).
    """

    def __init__(self, journal: Any = None, phase: str = "", prior: UsageStats | None = None,
                 budget: Budget | None = None) -> None:
        self._lock = threading.Lock()
        self._total = _Counts()
        self._roles: dict[str, _Counts] = {}
        self._models: dict[str, _Counts] = {}
        self.journal = journal
        self.phase = phase
        self.role_phases: dict[str, str] = {}
        self.prior = prior or UsageStats()
        self.budget = budget

    def spent(self) -> UsageStats:
        """The run's spend so far: earlier invocations plus this one."""
        with self._lock:
            t = self._total
            return UsageStats(**{k: getattr(self.prior, k) + getattr(t, k)
                                 for k in UsageStats.model_fields})

    def budget_reached(self) -> str | None:
        """Why the budget is spent, or None (always None without a budget)."""
        return self.budget.reached(self.spent()) if self.budget is not None else None

    def check_budget(self) -> None:
        """Raise :class:`BudgetReached` when no new request may be made."""
        if self.budget is not None and (why := self.budget_reached()):
            raise BudgetReached(why)

    def _buckets(self, role: str, model: str) -> tuple[_Counts, _Counts, _Counts]:
        r = self._roles.get(role)
        if r is None:
            r = self._roles[role] = _Counts()
        m = self._models.get(model)
        if m is None:
            m = self._models[model] = _Counts()
        return self._total, r, m

    def record(self, role: str, model: str, completion: Completion, seconds: float = 0.0,
               saved_cost: float = 0.0) -> None:
        """Count one returned completion (``saved_cost``: its original cost on a cache hit)."""
        with self._lock:
            for bucket in self._buckets(role, model):
                bucket.add(completion, seconds, saved_cost)
            if self.journal is not None:
                delta = _Counts()
                delta.add(completion, seconds, saved_cost)
                self.journal.write(self.role_phases.get(role, self.phase), role, model, delta)

    def record_error(self, role: str, model: str) -> None:
        """Count one request that failed for good."""
        with self._lock:
            for bucket in self._buckets(role, model):
                bucket.errors += 1
            if self.journal is not None:
                self.journal.write(self.role_phases.get(role, self.phase), role, model,
                                   UsageStats(errors=1))

    def snapshot(self) -> UsageSnapshot:
        """A consistent copy of every counter."""
        with self._lock:
            return UsageSnapshot(
                total=self._total.stats(),
                by_role={k: v.stats() for k, v in self._roles.items()},
                by_model={k: v.stats() for k, v in self._models.items()},
            )
