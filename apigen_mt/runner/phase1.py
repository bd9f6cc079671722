"""The phase-1 batch: slots run concurrently, committed in slot order, resumable."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.blueprint.produce import Phase1, SlotResult, produce
from apigen_mt.errors import RunFailure
from apigen_mt.llm.base import ModelError
from apigen_mt.records import Blueprint, RejectedBlueprint
from apigen_mt.redact import redact_text
from apigen_mt.runner.batch import CircuitBreaker, Executor, Failed, RemoteWork, run_ordered
from apigen_mt.runner.progress import Progress
from apigen_mt.runner.store import RunDir

ACCEPTED = "blueprints.jsonl"
REJECTED = "blueprints.rejected.jsonl"
ERRORS = "blueprints.errors.jsonl"


def example_view(bp: Blueprint) -> dict[str, Any]:
    """The parts of an accepted blueprint that later slots use (few-shot examples, user
    reuse, recombination), without the verdicts and reviews of its provenance: a run keeps
    one per accepted blueprint in memory, so it must stay small."""
    prov = bp.provenance
    return {"id": bp.id, "user_id": bp.user_id, "instruction": bp.instruction,
            "actions": [a.model_dump(mode="json") for a in bp.actions],
            "outputs": list(bp.outputs),
            "provenance": {"slot": prov.slot if prov else -1,
                           "recombined_from": list(prov.recombined_from) if prov else []}}


@dataclass
class Phase1Outcome:
    """What one invocation did (the files hold the full history)."""

    accepted_total: int
    added: int = 0
    rejected: int = 0
    errored: int = 0
    scheduled: int = 0  # slots started; each ends accepted, rejected, errored or cancelled
    cancelled: int = 0  # started, not committed when the batch stopped (redone on resume)
    stages: Counter = field(default_factory=Counter)
    gave_up: bool = False


def visible_to(accepted: list[dict[str, Any]], slot: int, lag: int) -> list[dict[str, Any]]:
    """The accepted blueprints a slot may learn from: those of slots before ``slot - lag``."""
    return [b for b in accepted if b["provenance"]["slot"] < slot - lag]


async def run_phase1(phase: Phase1, run: RunDir, n: int, concurrency: int,
                     progress: Progress | None = None, executor: Executor | None = None,
                     breaker_after: int = 8, spec: Any = None,
                     max_slots: int | None = None) -> Phase1Outcome:
    """Produce blueprints until ``n`` are accepted in the run directory.

    ``max_slots`` stops after that many new slots, whatever they gave (to try a model).

    ``spec`` (a :class:`~apigen_mt.runner.remote.SlotSpec`) lets an executor rebuild
    the slot function in another process (workers mirror the accepted blueprints).
    """
    accepted_log, rejected_log, errors_log = run.log(ACCEPTED), run.log(REJECTED), run.log(ERRORS)
    accepted: list[dict[str, Any]] = []  # what later slots may use, one small dict each
    signatures: set[str] = set()
    for bp in accepted_log.iter_read(Blueprint):
        accepted.append(example_view(bp))
        signatures.add(bp.action_signature())
    rejected_slots = {r["slot"] for r in rejected_log.rows()}
    done = {b["provenance"]["slot"] for b in accepted} | rejected_slots
    outcome = Phase1Outcome(accepted_total=len(accepted))
    if len(accepted) >= n:
        return outcome
    top = max(done, default=-1)
    keys: Any = itertools.chain((s for s in range(top + 1) if s not in done),
                                itertools.count(top + 1))
    if max_slots is not None:
        keys = itertools.islice(keys, max_slots)
    lag = phase.settings.example_lag if phase.settings.example_lag is not None else concurrency
    in_flight: set[int] = set()
    breaker = CircuitBreaker(breaker_after)
    seen_errors: list[dict[str, Any]] = []

    def visible(slot: int) -> list[dict[str, Any]]:
        return visible_to(accepted, slot, lag)

    async def work(slot: int) -> SlotResult:
        return await produce(phase, slot, visible(slot))

    def ready(slot: int) -> bool:
        if any(k < slot - lag for k in in_flight):
            return False
        in_flight.add(slot)
        outcome.scheduled += 1
        return True

    slot_limit = n * phase.settings.max_slots_per_blueprint + 20
    committed = [len(done)]

    def commit(slot: int, result: SlotResult | Failed) -> bool:
        in_flight.discard(slot)
        committed[0] += 1
        if committed[0] >= slot_limit and outcome.accepted_total < n:
            outcome.gave_up = True
            return False
        if isinstance(result, Failed):
            if not isinstance(result.error, ModelError):
                raise result.error
            outcome.errored += 1
            row = {"slot": slot, "error": redact_text(str(result.error)),
                   "kind": getattr(result.error, "kind", "error")}
            seen_errors.append(row)
            errors_log.append([row])
            if progress:
                progress.bump("errored")
            return breaker.record(False, result.error)
        breaker.record(True)
        if result.accepted is not None:
            bp = result.accepted
            if bp.action_signature() in signatures:
                result = SlotResult(slot, rejected=RejectedBlueprint(
                    slot=slot, env=bp.env, stage="duplicate", rounds=bp.provenance.rounds,
                    reasons=["the same action sequence was already accepted"],
                    draft=bp.model_dump(include={"user_id", "instruction", "actions",
                                                 "outputs"}),
                    verdicts=bp.provenance.verdicts))
            else:
                signatures.add(bp.action_signature())
                accepted_log.append([bp])
                accepted.append(example_view(bp))
                outcome.added += 1
                outcome.accepted_total += 1
                if progress:
                    progress.bump("accepted", rounds=bp.provenance.rounds)
                return outcome.accepted_total < n
        assert result.rejected is not None
        rejected_log.append([result.rejected])
        outcome.rejected += 1
        outcome.stages[result.rejected.stage] += 1
        if progress:
            progress.bump("rejected", stage=result.rejected.stage)
        return True

    remote = None
    if spec is not None:
        from apigen_mt.runner.remote import decode_slot

        # workers mirror `accepted` (sent once, then only what is new) and filter it
        remote = RemoteWork(spec, lambda slot: {"upto": len(accepted), "lag": lag},
                            decode_slot, shared=accepted)
    await run_ordered(keys, work, commit, concurrency, ready=ready, executor=executor,
                      remote=remote)
    outcome.cancelled = outcome.scheduled - outcome.added - outcome.rejected - outcome.errored
    if breaker.streak >= breaker.consecutive:
        raise RunFailure(f"stopped after {breaker.streak} model calls in a row failed "
                         f"({breaker.last_error}); {outcome.accepted_total} blueprints are "
                         "saved, rerun the same command to resume")
    if outcome.gave_up:
        top = ", ".join(f"{stage} {count}" for stage, count in outcome.stages.most_common(3))
        raise RunFailure(f"only {outcome.accepted_total} of {n} blueprints accepted after "
                         f"{committed[0]} drafting slots (rejected at: {top or 'none'}); check "
                         "the drafter model and the rejection reasons in "
                         "blueprints.rejected.jsonl")
    return outcome
