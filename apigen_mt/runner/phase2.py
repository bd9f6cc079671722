"""The phase-2 batch: episodes spread across blueprints, committed in order, resumable.

Work item ``k`` is trial ``k // B`` of blueprint ``k % B`` (B blueprints): every
blueprint gets its first trial before any gets a second, so ``--n`` is reached with a
diverse set rather than many trials of a few tasks.

A passing episode is kept only when its conversation differs from every one already
kept (:meth:`~apigen_mt.records.Trajectory.conversation_id`: equal text, tool calls and
results, ids aside); a repeat is logged in the ledger as a duplicate and does not count
towards ``--n``, so extra trials only ever add conversations that are new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.env.environment import Environment
from apigen_mt.errors import RunFailure
from apigen_mt.llm.base import ModelError
from apigen_mt.llm.usage import BudgetReached
from apigen_mt.records import Blueprint, Trajectory, conversation_id
from apigen_mt.redact import redact_text
from apigen_mt.rollout.episode import Roles, play_episode
from apigen_mt.rollout.judge import target_for
from apigen_mt.rollout.settings import RolloutSettings
from apigen_mt.runner.batch import CircuitBreaker, Executor, Failed, RemoteWork, run_ordered
from apigen_mt.runner.progress import Progress
from apigen_mt.runner.store import RunDir

ACCEPTED = "trajectories.jsonl"
FAILED = "trajectories.failed.jsonl"
LEDGER = "episodes.jsonl"  # committed episodes kept nowhere else: duplicate successes
ERRORS = "episodes.errors.jsonl"


def enough_in_flight(accepted: int, in_flight: int, n: int, passed: int, judged: int) -> bool:
    """Would the items in flight reach ``n`` at the pass rate seen so far? Then no more
    are started: near the end of a phase this saves the items that the stop at ``n``
    would cancel unfinished (their calls paid for nothing). What is committed does not
    change (items still start and commit in key order), only how many run at once."""
    rate = max(passed / judged, 0.25) if judged >= 8 else 1.0
    return accepted + in_flight * rate >= n


RULE_LABELS = {"identification": "not_identified", "consent": "no_consent",
               "domain_rules": "policy"}


def failure_reason(t: Trajectory) -> str:
    """A short label for why an episode was not kept."""
    if t.end_reason in ("max_turns", "model_error", "unreadable_instruction"):
        return t.end_reason
    failed = t.verdict.failed_rules
    if not t.verdict.state_match and (not failed or "state" in failed):
        return "state_mismatch"
    if t.verdict.missing_outputs:
        return "missing_outputs"
    for rule in failed:  # the judge's rules in order; older records have none listed
        if rule in RULE_LABELS:
            return RULE_LABELS[rule]
    if t.verdict.rule_violations:
        return "policy"
    if t.invalid_tool_calls:
        return "invalid_tool_call"
    return "other"


@dataclass
class Phase2Outcome:
    """What one invocation did."""

    accepted_total: int
    added: int = 0
    failed: int = 0
    duplicates: int = 0
    errored: int = 0
    scheduled: int = 0  # episodes started: each ends added, failed, duplicate, errored …
    cancelled: int = 0  # … or cancelled: not committed when the batch stopped (redone)
    budget: str | None = None  # why the run stopped at its budget (None: it did not)
    reasons: Counter = field(default_factory=Counter)
    exhausted: bool = False


async def run_phase2(blueprints: list[Blueprint], env: Environment, roles: Roles,
                     settings: RolloutSettings, run: RunDir, n: int, seed: int,
                     concurrency: int, progress: Progress | None = None,
                     executor: Executor | None = None,
                     breaker_after: int = 8, spec: Any = None,
                     budget: Callable[[], str | None] | None = None,
                     models: dict[str, Any] | None = None) -> Phase2Outcome:
    """Play episodes until ``n`` trajectories are accepted or trials run out.

    ``spec`` (an :class:`~apigen_mt.runner.remote.EpisodeSpec`) lets an executor play
    episodes in another process; an episode's payload is its blueprint and trial.
    """
    acc_log, fail_log = run.log(ACCEPTED), run.log(FAILED)
    ledger, errors = run.log(LEDGER), run.log(ERRORS)
    done: set[tuple[str, int]] = set()
    kept: dict[str, str] = {}  # conversation id → the kept trajectory's id
    for r in acc_log.rows():  # one record at a time: a long run's files stay on disk
        done.add((r["blueprint_id"], r["trial"]))
        # recomputed, not read from a field: runs written before ids were ignored count too
        kept.setdefault(conversation_id(r.get("messages") or []), r["id"])
    failed_seen: dict[str, str] = {}  # a failure is kept once too
    for r in fail_log.rows():
        done.add((r["blueprint_id"], r["trial"]))
        failed_seen.setdefault(conversation_id(r.get("messages") or []), r["id"])
    done |= {(r["blueprint_id"], r["trial"]) for r in ledger.rows()}
    outcome = Phase2Outcome(accepted_total=len(kept))
    if outcome.accepted_total >= n or not blueprints:
        outcome.exhausted = not blueprints
        return outcome
    count = len(blueprints)
    keys = (k for k in range(count * settings.trials)  # lazily: trials × blueprints is big
            if (blueprints[k % count].id, k // count) not in done)
    breaker = CircuitBreaker(breaker_after)
    in_flight: set[int] = set()
    if progress is not None:
        progress.in_flight = lambda: len(in_flight)

    async def work(key: int) -> Trajectory:
        bp = blueprints[key % count]
        # Replayed per episode (well under a millisecond) rather than kept per blueprint:
        # trials go round all the blueprints, so a cache would have to hold every target
        # for the whole phase, and memory would grow with the run.
        return await play_episode(bp, env, target_for(env, bp), roles, settings,
                                  key // count, seed)

    def ready(key: int) -> bool:
        if budget is not None and (why := budget()):  # workers in other processes
            outcome.budget = why
            return False
        if in_flight and enough_in_flight(outcome.accepted_total, len(in_flight), n,
                                          outcome.added, outcome.added + outcome.failed
                                          + outcome.duplicates):
            return False
        in_flight.add(key)
        outcome.scheduled += 1
        return True

    def commit(key: int, result: Trajectory | Failed) -> bool:
        in_flight.discard(key)
        bp = blueprints[key % count]
        if isinstance(result, Failed) and isinstance(result.error, BudgetReached):
            outcome.budget = str(result.error)  # not committed: redone by a rerun
            return False
        if isinstance(result, Failed):
            if not isinstance(result.error, ModelError):
                raise result.error
            outcome.errored += 1
            errors.append([{"blueprint_id": bp.id, "trial": key // count,
                            "error": redact_text(str(result.error))}])
            if progress:
                progress.bump("errored")
            return breaker.record(False, result.error)
        breaker.record(True)
        if models and not result.models:  # every record names the models that made it
            result = result.model_copy(update={"models": models})
        if result.verdict.passed:
            conv = result.conversation_id()
            if conv in kept:
                outcome.duplicates += 1
                ledger.append([{"blueprint_id": bp.id, "trial": result.trial,
                                "outcome": "duplicate", "id": result.id,
                                "duplicate_of": kept[conv]}])
                if progress:
                    progress.bump("duplicate")
                return True
            kept[conv] = result.id
            acc_log.append([result])
            outcome.added += 1
            outcome.accepted_total += 1
            if progress:
                progress.bump("accepted")
            return outcome.accepted_total < n
        conv = result.conversation_id()
        if conv in failed_seen:  # the same failed conversation again: logged, not kept
            ledger.append([{"blueprint_id": bp.id, "trial": result.trial,
                            "outcome": "duplicate_failure", "id": result.id,
                            "duplicate_of": failed_seen[conv]}])
            return True
        failed_seen[conv] = result.id
        reason = failure_reason(result)
        fail_log.append([result])
        outcome.failed += 1
        outcome.reasons[reason] += 1
        if progress:
            progress.bump("failed", reason=reason)
        return True

    remote = None
    if spec is not None:
        from apigen_mt.runner.wire import decode_trajectory

        def payload(key: int) -> dict[str, Any]:
            return {"blueprint": blueprints[key % count].model_dump(mode="json"),
                    "trial": key // count}

        remote = RemoteWork(spec, payload, decode_trajectory)
    await run_ordered(keys, work, commit, concurrency, ready=ready, executor=executor,
                      remote=remote)
    outcome.cancelled = (outcome.scheduled - outcome.added - outcome.failed
                         - outcome.duplicates - outcome.errored)
    if breaker.streak >= breaker.consecutive:
        raise RunFailure(f"stopped after {breaker.streak} episodes in a row hit model errors "
                         f"({breaker.last_error}); {outcome.accepted_total} trajectories are "
                         "saved, rerun the same command to resume")
    outcome.exhausted = outcome.accepted_total < n and outcome.budget is None
    return outcome
