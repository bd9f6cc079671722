"""Running one phase's batch and keeping its account: usage, retries, budget, Ctrl-C.

Whatever way a batch ends (done, budget, Ctrl-C, a failure), what it spent is written to
the run's usage journal and manifest before the call returns or raises.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path

from apigen_mt.errors import Interrupted, UsageError

RETRY_LABELS = {"rate_limit": "rate limits", "server": "server errors", "timeout": "timeouts",
                "connection": "dropped connections", "bad_response": "unusable responses"}


def retries_by_kind(models) -> dict[str, int]:
    """Transport failures the adapter retried this invocation, by kind, over all endpoints."""
    total: Counter[str] = Counter()
    for runtime in getattr(models, "runtimes", {}).values():
        total.update(getattr(runtime, "retries", {}))
    return dict(total)


def survived_line(retries: dict[str, int]) -> str | None:
    """``survived: 12 rate limits, 9 server errors …`` (None when nothing was retried)."""
    parts = [f"{count} {RETRY_LABELS.get(kind, kind)}"
             for kind, count in sorted(retries.items(), key=lambda kv: (-kv[1], kv[0]))
             if count]
    return f"survived: {', '.join(parts)} (retried)" if parts else None


def add_usage(run, phase: str, retries: dict[str, int] | None = None) -> float:
    """Compact the run's usage journal and write its totals (per phase, per role) and
    this invocation's retries into the manifest; returns the phase's total cost."""
    from apigen_mt.llm.usage_log import USAGE_FILE, compact, summary

    journal = run.path / USAGE_FILE
    compact(journal)
    folded = summary(journal)
    old = run.manifest().get("usage", {})
    usage = {}
    for name, figures in folded.items():
        if name == "total":  # phases only: readers sum them
            continue
        kept = dict(old.get(name, {}).get("retries", {}))
        if name == phase:
            for kind, count in (retries or {}).items():
                kept[kind] = kept.get(kind, 0) + count
        usage[name] = {**figures, **({"retries": kept} if kept else {})}
    run.update_manifest(usage=usage)
    return usage.get(phase, {}).get("cost", 0.0)


def attach_usage(models, run, phase: str, budget=None) -> None:
    """Journal every count of ``models``' tracker into the run as ``phase`` from now on,
    and hold it to ``budget`` counting what earlier invocations spent."""
    from apigen_mt.llm.usage_log import USAGE_FILE, UsageJournal, spent

    tracker = models.usage
    tracker.prior = spent(run.path / USAGE_FILE)
    tracker.phase = phase
    tracker.budget = budget
    tracker.journal = UsageJournal(run.path / USAGE_FILE)


def make_budget(max_cost: float | None, max_calls: int | None):
    """The Budget of --max-cost / --max-calls (None when neither is given)."""
    from apigen_mt.llm.usage import Budget

    if max_cost is not None and not (max_cost >= 0 and max_cost < float("inf")):
        raise UsageError(f"--max-cost must be a non-negative number of USD, got {max_cost}")
    if max_calls is not None and max_calls <= 0:
        raise UsageError(f"--max-calls must be a positive number, got {max_calls}")
    if max_cost is None and max_calls is None:
        return None
    return Budget(max_cost=max_cost, max_calls=max_calls)


def budget_line(why: str, saved: str) -> str:
    """The one line printed when a run stops at its budget."""
    return (f"stopped at the budget ({why}); {saved} saved; rerun the same command with a "
            "higher --max-cost / --max-calls to continue")


SAVED_FILES = {"blueprint": ("blueprints.jsonl", "blueprints", "blueprints.rejected.jsonl"),
               "rollout": ("trajectories.jsonl", "trajectories",
                           "trajectories.failed.jsonl")}


def count_lines(path: Path) -> int:
    """Lines of a file, read in chunks (a long run's files stay on disk)."""
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def saved_line(run, phase: str, command: str | None) -> str:
    """``12 blueprints (3 rejected) are saved in R; rerun `apigen-mt …` to resume``."""
    kept, label, other = SAVED_FILES[phase]
    if not command:
        again = "run the same call again"
    elif command.startswith("apigen_mt."):  # a Python call (the API records it so)
        again = f"rerun `{command}`"
    else:  # a command line as typed, without the program's name
        again = f"rerun `apigen-mt {command}`"
    return (f"{count_lines(run.path / kept)} {label} ({count_lines(run.path / other)} "
            f"{'rejected' if phase == 'blueprint' else 'failed'}) and the usage so far are "
            f"saved in {run.path}; {again} to resume")


def run_batch(batch, run, phase: str, models, progress, command: str | None = None):
    """Run one phase's batch; its usage and retries are recorded even when it fails.

    Returns (outcome, cost of the phase so far, retries by kind). The models are closed
    either way. The tracker must have been attached to the run (:func:`attach_usage`).
    Ctrl-C raises :class:`Interrupted` saying what is saved and how to resume.
    """

    async def go():
        try:
            with progress:
                return await batch
        finally:
            await models.aclose()

    settle_heap()
    try:
        outcome = asyncio.run(go())
    except KeyboardInterrupt:  # Ctrl-C: keep what was spent, say what is saved and how on
        close_journal(models)
        add_usage(run, phase, retries_by_kind(models))
        raise Interrupted(saved_line(run, phase, command)) from None
    except Exception:  # e.g. the circuit breaker: still record and say what was retried
        retries = retries_by_kind(models)
        close_journal(models)
        add_usage(run, phase, retries)
        if line := survived_line(retries):  # on stdout: stderr holds the one error line
            print(line, flush=True)
        raise
    retries = retries_by_kind(models)
    close_journal(models)
    return outcome, add_usage(run, phase, retries), retries


def settle_heap() -> None:
    """Before a batch: the loaded environment, prompts and modules are long-lived, so they
    leave the collector's sight (``gc.freeze``), and the youngest generation is collected
    every 10,000 net allocations instead of 700. A batch allocates per model call; the
    collections that walked the start-up heap cost about 3% of its CPU. (No collection
    first: a full one costs more than the batch's young collections then save.)"""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(10_000, older, oldest)


def cache_invalid(models) -> int:
    """Response-cache entries found invalid (and asked again) this invocation."""
    cache = getattr(models, "cache", None)
    return cache.invalid if cache is not None else 0


def close_journal(models) -> None:
    journal = getattr(models.usage, "journal", None)
    if journal is not None:
        journal.close()
        models.usage.journal = None
