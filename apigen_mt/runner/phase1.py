"""The phase-1 batch: slots run concurrently, committed in slot order, resumable."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.blueprint.produce import Phase1, SlotResult, produce
from apigen_mt.errors import RunFailure
from apigen_mt.llm.base import ModelError
from apigen_mt.llm.usage import BudgetReached
from apigen_mt.records import Blueprint, RejectedBlueprint
from apigen_mt.redact import redact_text
from apigen_mt.runner.batch import CircuitBreaker, Executor, Failed, RemoteWork, run_ordered
from apigen_mt.runner.phase2 import enough_in_flight
from apigen_mt.runner.progress import Progress
from apigen_mt.runner.store import RunDir

ACCEPTED = "blueprints.jsonl"
REJECTED = "blueprints.rejected.jsonl"
ERRORS = "blueprints.errors.jsonl"
RECOMBINATIONS = "recombinations.jsonl"  # every recombination attempt and its outcome


def example_view(bp: Blueprint) -> dict[str, Any]:
    """The parts of an accepted blueprint that later slots use (few-shot examples, user
    reuse, recombination), without the verdicts and reviews of its provenance: a run keeps
    one per accepted blueprint in memory, so it must stay small."""
    prov = bp.provenance
    return {"id": bp.id, "user_id": bp.user_id, "instruction": bp.instruction,
            "actions": [a.model_dump(mode="json") for a in bp.actions],
            "outputs": list(bp.outputs), "persona": bp.persona,
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
    budget: str | None = None  # why the run stopped at its budget (None: it did not)
    stages: Counter = field(default_factory=Counter)
    gave_up: bool = False
    recombined: int = 0  # recombinations accepted this invocation
    recombination_attempts: int = 0


RECOMBINE_SLOTS = 10_000_000  # recombined blueprints' slot numbers start here


def visible_to(accepted: list[dict[str, Any]], slot: int, lag: int) -> list[dict[str, Any]]:
    """The accepted blueprints a slot may learn from: those of slots before ``slot - lag``."""
    return [b for b in accepted if b["provenance"]["slot"] < slot - lag]


def _recombined(bp: dict[str, Any]) -> bool:
    return bool((bp.get("provenance") or {}).get("recombined_from"))


async def run_phase1(phase: Phase1, run: RunDir, n: int, concurrency: int,
                     progress: Progress | None = None, executor: Executor | None = None,
                     breaker_after: int = 8, spec: Any = None,
                     max_slots: int | None = None,
                     budget: Callable[[], str | None] | None = None) -> Phase1Outcome:
    """Produce blueprints until ``n`` are accepted in the run directory.

    Drafting comes first, up to the share left for recombination
    (``recombine_share``); then accepted blueprints of one user are recombined, every
    attempt recorded in ``recombinations.jsonl``; drafting fills whatever is left.

    ``max_slots`` stops after that many new slots, whatever they gave (to try a model);
    ``budget`` (None, or why the run's budget is spent) stops scheduling new work.

    ``spec`` (a :class:`~apigen_mt.runner.remote.SlotSpec`) lets an executor rebuild
    the slot function in another process (workers mirror the accepted blueprints).
    """
    share = phase.settings.recombine_share
    drafted_target = n - int(n * share) if n >= 4 else n
    outcome = await _draft(phase, run, n, drafted_target, concurrency, progress, executor,
                           breaker_after, spec, max_slots, budget)
    if outcome.accepted_total >= n or drafted_target >= n or max_slots is not None \
            or outcome.budget:
        return outcome
    await _recombine(phase, run, n, concurrency, progress, outcome, budget)
    if outcome.accepted_total < n and not outcome.budget:
        more = await _draft(phase, run, n, n, concurrency, progress, executor,
                            breaker_after, spec, budget=budget)
        more.added += outcome.added
        more.rejected += outcome.rejected
        more.scheduled += outcome.scheduled
        more.cancelled += outcome.cancelled
        more.errored += outcome.errored
        more.stages.update(outcome.stages)
        more.budget = more.budget or outcome.budget
        more.recombined, more.recombination_attempts = (outcome.recombined,
                                                        outcome.recombination_attempts)
        outcome = more
    return outcome


async def _recombine(phase: Phase1, run: RunDir, n: int, concurrency: int,
                     progress: Progress | None, outcome: Phase1Outcome,
                     budget: Callable[[], str | None] | None = None) -> None:
    """Recombination attempts until ``n`` blueprints are accepted or no group is left."""
    from apigen_mt.blueprint.produce import recombination_groups, recombine

    accepted_log, attempts_log = run.log(ACCEPTED), run.log(RECOMBINATIONS)
    accepted, signatures = [], set()
    for bp in accepted_log.iter_read(Blueprint):
        accepted.append(example_view(bp))
        signatures.add(bp.action_signature())
    previous = list(attempts_log.rows())
    tried = {tuple(sorted(r["sources"])) for r in previous}
    groups = recombination_groups(accepted, phase.seed, tried, phase.env)
    start = max((r["attempt"] for r in previous), default=-1) + 1
    total = [len(accepted)]
    in_flight: set[int] = set()
    judged = [0, 0]  # accepted, accepted + rejected: the early stop's pass rate

    async def work(k: int) -> SlotResult:
        return await recombine(phase, RECOMBINE_SLOTS + start + k, groups[k])

    def ready(k: int) -> bool:
        if budget is not None and (why := budget()):  # workers in other processes
            outcome.budget = why
            return False
        if in_flight and enough_in_flight(total[0], len(in_flight), n, *judged):
            return False
        in_flight.add(k)
        return True

    def commit(k: int, result: SlotResult | Failed) -> bool:
        in_flight.discard(k)
        if isinstance(result, Failed) and isinstance(result.error, BudgetReached):
            outcome.budget = str(result.error)  # not committed: redone by a rerun
            return False
        row: dict[str, Any] = {"attempt": start + k, "sources": [g["id"] for g in groups[k]],
                               "user_id": groups[k][0]["user_id"]}
        outcome.recombination_attempts += 1
        outcome.scheduled += 1  # an attempt counts like a slot in the closing line
        if isinstance(result, Failed):
            if not isinstance(result.error, ModelError):
                raise result.error
            row.update(outcome="error", reasons=[str(result.error)])
            outcome.errored += 1
        elif result.accepted is not None and \
                result.accepted.action_signature() not in signatures:
            bp = result.accepted
            signatures.add(bp.action_signature())
            accepted_log.append([bp])
            row.update(outcome="accepted", blueprint_id=bp.id)
            total[0] += 1
            outcome.accepted_total += 1
            outcome.added += 1
            outcome.recombined += 1
            if progress:
                progress.bump("accepted", rounds=1)
        elif result.accepted is not None:
            row.update(outcome="rejected", stage="duplicate",
                       reasons=["the same action sequence was already accepted"])
        else:
            rej = result.rejected
            row.update(outcome="rejected", stage=rej.stage, reasons=rej.reasons)
        if row["outcome"] == "rejected":
            outcome.rejected += 1
            outcome.stages[f"recombination {row['stage']}"] += 1
        if row["outcome"] != "error":
            judged[0] += row["outcome"] == "accepted"
            judged[1] += 1
        attempts_log.append([row])
        return total[0] < n

    await run_ordered(iter(range(len(groups))), work, commit, concurrency, ready=ready)


async def _draft(phase: Phase1, run: RunDir, n: int, target: int, concurrency: int,
                 progress: Progress | None, executor: Executor | None,
                 breaker_after: int, spec: Any, max_slots: int | None = None,
                 budget: Callable[[], str | None] | None = None) -> Phase1Outcome:
    """Drafting slots until ``target`` drafted blueprints (``n`` in all) are accepted."""
    accepted_log, rejected_log, errors_log = run.log(ACCEPTED), run.log(REJECTED), run.log(ERRORS)
    accepted: list[dict[str, Any]] = []  # what later slots may use, one small dict each
    signatures: set[str] = set()
    for bp in accepted_log.iter_read(Blueprint):
        accepted.append(example_view(bp))
        signatures.add(bp.action_signature())
    rejected_slots = {r["slot"] for r in rejected_log.rows()}
    done = {b["provenance"]["slot"] for b in accepted if not _recombined(b)} | rejected_slots
    outcome = Phase1Outcome(accepted_total=len(accepted))
    drafted = [sum(1 for b in accepted if not _recombined(b))]
    if len(accepted) >= n or drafted[0] >= target:
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
        if budget is not None and (why := budget()):  # workers in other processes
            outcome.budget = why
            return False
        if any(k < slot - lag for k in in_flight):
            return False
        # drafting stops at `target` drafted blueprints or `n` in all, whichever comes first
        wanted = drafted[0] + min(target - drafted[0], n - outcome.accepted_total)
        if in_flight and enough_in_flight(drafted[0], len(in_flight), wanted,
                                          outcome.added, outcome.added + outcome.rejected):
            return False
        in_flight.add(slot)
        outcome.scheduled += 1
        return True

    slot_limit = target * phase.settings.max_slots_per_blueprint + 20
    committed = [len(done)]

    def commit(slot: int, result: SlotResult | Failed) -> bool:
        in_flight.discard(slot)
        committed[0] += 1
        if committed[0] >= slot_limit and drafted[0] < target:
            outcome.gave_up = True
            return False
        if isinstance(result, Failed) and isinstance(result.error, BudgetReached):
            outcome.budget = str(result.error)  # not committed: redone by a rerun
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
                drafted[0] += 1
                if progress:
                    progress.bump("accepted", rounds=bp.provenance.rounds)
                return outcome.accepted_total < n and drafted[0] < target
        assert result.rejected is not None
        rejected_log.append([result.rejected])
        outcome.rejected += 1
        outcome.stages[result.rejected.stage] += 1
        if progress:
            progress.bump("rejected", stage=result.rejected.stage)
        return True

    remote = None
    if spec is not None:
        from apigen_mt.runner.wire import decode_slot

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
