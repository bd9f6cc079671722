"""The phase-1 batch: slots run concurrently, committed in slot order, resumable."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.blueprint.produce import Phase1, Playable, SlotResult, in_pool, produce
from apigen_mt.errors import RunFailure
from apigen_mt.llm import throttle
from apigen_mt.llm.base import ModelError
from apigen_mt.llm.usage import BudgetReached
from apigen_mt.records import Blueprint, RejectedBlueprint
from apigen_mt.redact import redact_text
from apigen_mt.runner.batch import CircuitBreaker, Executor, Failed, RemoteWork, run_ordered
from apigen_mt.runner.early_stop import enough_in_flight
from apigen_mt.runner.progress import Progress
from apigen_mt.runner.shelf import Shelved
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
                     budget: Callable[[], str | None] | None = None,
                     overlap: Any = None) -> Phase1Outcome:
    """Produce blueprints until ``n`` are accepted in the run directory.

    Drafting comes first, up to the share left for recombination
    (``recombine_share``); then accepted blueprints of one user are recombined, every
    attempt recorded in ``recombinations.jsonl``; drafting fills whatever is left.

    ``max_slots`` stops after that many new slots, whatever they gave (to try a model);
    ``budget`` (None, or why the run's budget is spent) stops scheduling new work.

    ``spec`` (a :class:`~apigen_mt.runner.remote.SlotSpec`) lets an executor rebuild
    the slot function in another process (workers mirror the accepted blueprints).

    ``overlap`` (a :class:`~apigen_mt.runner.overlap.Prefetch`) hears of each blueprint
    as it is accepted and of every commit, and reads how many items are in flight here,
    so rollouts can use the endpoint slots drafting leaves free.
    """
    share = phase.settings.recombine_share
    drafted_target = n - int(n * share) if n >= 4 else n
    playable = Playable(phase.env)  # recombination's checks, made as drafting accepts
    outcome = await _draft(phase, run, n, drafted_target, concurrency, progress, executor,
                           breaker_after, spec, max_slots, budget, playable, overlap)
    if outcome.accepted_total >= n or drafted_target >= n or max_slots is not None \
            or outcome.budget:
        return outcome
    await _recombine(phase, run, n, concurrency, progress, outcome, budget, playable,
                     overlap)
    if outcome.accepted_total < n and not outcome.budget:
        more = await _draft(phase, run, n, n, concurrency, progress, executor,
                            breaker_after, spec, budget=budget, overlap=overlap)
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
                     budget: Callable[[], str | None] | None = None,
                     playable: Playable | None = None, overlap: Any = None) -> None:
    """Recombination attempts until ``n`` blueprints are accepted or no group is left."""
    from apigen_mt.blueprint.produce import recombination_groups, recombine

    batch = _Recombining(run, n, progress, outcome, budget, overlap)
    pooled = [bp for user in batch.pool.values() for bp in user]
    groups = recombination_groups(pooled, phase.seed, batch.tried, phase.env,
                                  playable)
    batch.groups, batch.pool = groups, {}

    async def work(k: int) -> SlotResult:
        return await recombine(phase, RECOMBINE_SLOTS + batch.start + k, groups[k])

    await run_ordered(iter(range(len(groups))), _watched(work, overlap), batch.commit,
                      concurrency, ready=batch.ready)


def _watched(work: Callable[[int], Any], overlap: Any) -> Callable[[int], Any]:
    """``work``, counted in ``overlap.busy`` while it runs (a slot finished but not yet
    committed holds no endpoint slot). Its requests go before the early rollouts' at a
    full endpoint: the rollouts wait for the blueprints, never the other way round, so
    a phase-1 slot chain queued behind them would only make the round longer."""
    if overlap is None:
        return work

    async def counted(key: int) -> Any:
        throttle.first()  # this item's task only (each item runs in a task of its own)
        overlap.busy += 1
        try:
            return await work(key)
        finally:
            overlap.busy -= 1
            overlap.fill()

    return counted


class _Recombining:
    """The state of the recombination batch and its committer: every attempt is recorded
    in ``recombinations.jsonl``, an accepted one in ``blueprints.jsonl`` too."""

    def __init__(self, run: RunDir, n: int, progress: Progress | None,
                 outcome: Phase1Outcome, budget: Callable[[], str | None] | None,
                 overlap: Any = None):
        self.n, self.progress, self.outcome, self.budget = n, progress, outcome, budget
        self.overlap = overlap
        self.accepted_log, self.attempts_log = run.log(ACCEPTED), run.log(RECOMBINATIONS)
        # what recombination draws from, and only that: every accepted blueprint's view
        # would make memory grow with --n
        self.pool: dict[str, list[dict[str, Any]]] = {}
        self.signatures: set[str] = set()
        self.total = 0
        for bp in self.accepted_log.iter_read(Blueprint):
            self.total += 1
            self.signatures.add(bp.action_signature())
            view = example_view(bp)
            if in_pool(view, self.pool):
                self.pool.setdefault(view["user_id"], []).append(view)
        previous = list(self.attempts_log.rows())
        self.tried = {tuple(sorted(r["sources"])) for r in previous}
        self.start = max((r["attempt"] for r in previous), default=-1) + 1
        self.groups: list[list[dict[str, Any]]] = []
        self.in_flight: set[int] = set()
        self.judged = [0, 0]  # accepted, accepted + rejected: the early stop's pass rate

    def ready(self, k: int) -> bool:
        """Start attempt ``k`` now? Not past the budget, nor when enough are in flight."""
        if self.budget is not None and (why := self.budget()):  # workers in other processes
            self.outcome.budget = why
            return False
        if self.in_flight and enough_in_flight(self.total, len(self.in_flight), self.n,
                                               *self.judged):
            return False
        self.in_flight.add(k)
        return True

    def commit(self, k: int, result: SlotResult | Failed) -> bool:
        """Record one finished attempt; False stops the batch."""
        self.in_flight.discard(k)
        if isinstance(result, Failed) and isinstance(result.error, BudgetReached):
            self.outcome.budget = str(result.error)  # not committed: redone by a rerun
            return False
        row: dict[str, Any] = {"attempt": self.start + k,
                               "sources": [g["id"] for g in self.groups[k]],
                               "user_id": self.groups[k][0]["user_id"]}
        self.outcome.recombination_attempts += 1
        self.outcome.scheduled += 1  # an attempt counts like a slot in the closing line
        row.update(self._judge(result))
        if row["outcome"] == "rejected":
            self.outcome.rejected += 1
            self.outcome.stages[f"recombination {row['stage']}"] += 1
        if row["outcome"] != "error":
            self.judged[0] += row["outcome"] == "accepted"
            self.judged[1] += 1
        self.attempts_log.append([row])
        if self.overlap is not None:
            self.overlap.fill()
        return self.total < self.n

    def _judge(self, result: SlotResult | Failed) -> dict[str, Any]:
        """The attempt's outcome fields, appending an accepted blueprint."""
        if isinstance(result, Failed):
            if not isinstance(result.error, ModelError):
                raise result.error
            self.outcome.errored += 1
            return {"outcome": "error", "reasons": [str(result.error)]}
        if result.accepted is None:
            rej = result.rejected
            return {"outcome": "rejected", "stage": rej.stage, "reasons": rej.reasons}
        bp = result.accepted
        if bp.action_signature() in self.signatures:
            return {"outcome": "rejected", "stage": "duplicate",
                    "reasons": ["the same action sequence was already accepted"]}
        self.signatures.add(bp.action_signature())
        where = self.accepted_log.append([bp])[0]
        if self.overlap is not None:
            self.overlap.offer(Shelved.of(bp, self.accepted_log, where))
        self.total += 1
        o = self.outcome
        o.accepted_total += 1
        o.added += 1
        o.recombined += 1
        if self.progress:
            self.progress.bump("accepted", rounds=1)
        return {"outcome": "accepted", "blueprint_id": bp.id}


async def _draft(phase: Phase1, run: RunDir, n: int, target: int, concurrency: int,
                 progress: Progress | None, executor: Executor | None,
                 breaker_after: int, spec: Any, max_slots: int | None = None,
                 budget: Callable[[], str | None] | None = None,
                 playable: Playable | None = None, overlap: Any = None) -> Phase1Outcome:
    """Drafting slots until ``target`` drafted blueprints (``n`` in all) are accepted."""
    lag = phase.settings.example_lag if phase.settings.example_lag is not None else concurrency
    batch = _Drafting(run, n, target, lag, progress, CircuitBreaker(breaker_after), budget,
                      target * phase.settings.max_slots_per_blueprint + 20, playable,
                      overlap)
    if batch.outcome.accepted_total >= n or batch.drafted >= target:
        return batch.outcome

    async def work(slot: int) -> SlotResult:
        return await produce(phase, slot, visible_to(batch.accepted, slot, lag))

    remote = None
    if spec is not None:
        from apigen_mt.runner.wire import decode_slot

        # workers mirror `accepted` (sent once, then only what is new) and filter it
        remote = RemoteWork(spec, lambda slot: {"upto": len(batch.accepted), "lag": lag},
                            decode_slot, shared=batch.accepted)
    await run_ordered(batch.keys(max_slots), _watched(work, overlap), batch.commit,
                      concurrency, ready=batch.ready, executor=executor, remote=remote)
    return batch.finish()


class _Drafting:
    """The state of one drafting batch: what the files already hold, what is in flight,
    and the committer that appends each slot, in slot order, to the file it belongs in."""

    def __init__(self, run: RunDir, n: int, target: int, lag: int, progress: Progress | None,
                 breaker: CircuitBreaker, budget: Callable[[], str | None] | None,
                 slot_limit: int, playable: Playable | None = None, overlap: Any = None):
        self.n, self.target, self.lag, self.progress = n, target, lag, progress
        self.breaker, self.budget, self.slot_limit = breaker, budget, slot_limit
        self.playable, self.overlap = playable, overlap
        self.accepted_log, self.rejected_log = run.log(ACCEPTED), run.log(REJECTED)
        self.errors_log = run.log(ERRORS)
        self.accepted: list[dict[str, Any]] = []  # what later slots may use, one small dict each
        self.signatures: set[str] = set()
        for bp in self.accepted_log.iter_read(Blueprint):
            self.accepted.append(example_view(bp))
            self.signatures.add(bp.action_signature())
        rejected_slots = {r["slot"] for r in self.rejected_log.rows()}
        self.done = {b["provenance"]["slot"] for b in self.accepted
                     if not _recombined(b)} | rejected_slots
        self.outcome = Phase1Outcome(accepted_total=len(self.accepted))
        self.drafted = sum(1 for b in self.accepted if not _recombined(b))
        self.committed = len(self.done)
        self.in_flight: set[int] = set()

    def keys(self, max_slots: int | None) -> Iterator[int]:
        """Slots not yet committed: gaps first, then new ones (``max_slots`` of them)."""
        top = max(self.done, default=-1)
        keys: Iterator[int] = itertools.chain(
            (s for s in range(top + 1) if s not in self.done), itertools.count(top + 1))
        return itertools.islice(keys, max_slots) if max_slots is not None else keys

    def ready(self, slot: int) -> bool:
        """Start ``slot`` now? Not past the budget, not more than ``lag`` ahead of the
        oldest slot in flight, nor when those in flight should reach the target."""
        o = self.outcome
        if self.budget is not None and (why := self.budget()):  # workers in other processes
            o.budget = why
            return False
        if any(k < slot - self.lag for k in self.in_flight):
            return False
        # drafting stops at `target` drafted blueprints or `n` in all, whichever comes first
        wanted = self.drafted + min(self.target - self.drafted, self.n - o.accepted_total)
        if self.in_flight and enough_in_flight(self.drafted, len(self.in_flight), wanted,
                                               o.added, o.added + o.rejected):
            return False
        self.in_flight.add(slot)
        o.scheduled += 1
        return True

    def commit(self, slot: int, result: SlotResult | Failed) -> bool:
        """Append one finished slot; False stops the batch."""
        go_on = self._commit(slot, result)
        if self.overlap is not None:
            self.overlap.fill()
        return go_on

    def _commit(self, slot: int, result: SlotResult | Failed) -> bool:
        self.in_flight.discard(slot)
        self.committed += 1
        if self.committed >= self.slot_limit and self.drafted < self.target:
            self.outcome.gave_up = True
            return False
        if isinstance(result, Failed) and isinstance(result.error, BudgetReached):
            self.outcome.budget = str(result.error)  # not committed: redone by a rerun
            return False
        if isinstance(result, Failed):
            return self._commit_error(slot, result)
        self.breaker.record(True)
        if result.accepted is not None:
            bp = result.accepted
            if bp.action_signature() not in self.signatures:
                return self._commit_accepted(bp)
            result = SlotResult(slot, rejected=RejectedBlueprint(
                slot=slot, env=bp.env, stage="duplicate", rounds=bp.provenance.rounds,
                reasons=["the same action sequence was already accepted"],
                draft=bp.model_dump(include={"user_id", "instruction", "actions", "outputs"}),
                verdicts=bp.provenance.verdicts))
        assert result.rejected is not None
        self.rejected_log.append([result.rejected])
        self.outcome.rejected += 1
        self.outcome.stages[result.rejected.stage] += 1
        if self.progress:
            self.progress.bump("rejected", stage=result.rejected.stage)
        return True

    def _commit_error(self, slot: int, result: Failed) -> bool:
        if not isinstance(result.error, ModelError):
            raise result.error
        self.outcome.errored += 1
        self.errors_log.append([{"slot": slot, "error": redact_text(str(result.error)),
                                 "kind": getattr(result.error, "kind", "error")}])
        if self.progress:
            self.progress.bump("errored")
        return self.breaker.record(False, result.error)

    def _commit_accepted(self, bp: Blueprint) -> bool:
        self.signatures.add(bp.action_signature())
        where = self.accepted_log.append([bp])[0]
        self.accepted.append(example_view(bp))
        if self.overlap is not None:
            self.overlap.offer(Shelved.of(bp, self.accepted_log, where))
        if self.playable is not None:
            self.playable.accepted(self.accepted[-1])
        self.outcome.added += 1
        self.outcome.accepted_total += 1
        self.drafted += 1
        if self.progress:
            self.progress.bump("accepted", rounds=bp.provenance.rounds)
        return self.outcome.accepted_total < self.n and self.drafted < self.target

    def finish(self) -> Phase1Outcome:
        """The outcome once the batch stopped; a run of errors or of rejections fails."""
        o, breaker = self.outcome, self.breaker
        o.cancelled = o.scheduled - o.added - o.rejected - o.errored
        if breaker.streak >= breaker.consecutive:
            raise RunFailure(f"stopped after {breaker.streak} model calls in a row failed "
                             f"({breaker.last_error}); {o.accepted_total} blueprints are "
                             "saved, rerun the same command to resume")
        if o.gave_up:
            top = ", ".join(f"{stage} {count}" for stage, count in o.stages.most_common(3))
            raise RunFailure(f"only {o.accepted_total} of {self.n} blueprints accepted after "
                             f"{self.committed} drafting slots (rejected at: {top or 'none'}); "
                             "check the drafter model and the rejection reasons in "
                             "blueprints.rejected.jsonl")
        return o
