"""The phase-2 batch: episodes spread across blueprints, committed in order, resumable.

Which episode a work item plays is :class:`~apigen_mt.runner.trials.TrialPlan`'s: every
blueprint's first trial before any second, further trials first for blueprints with no
kept conversation yet, longest tasks first within a trial. ``--n`` is reached with a
diverse set rather than many trials of a few tasks.

A passing episode is kept only when its conversation differs from every one already
kept (:meth:`~apigen_mt.records.Trajectory.conversation_id`: equal text, tool calls and
results, ids aside); a repeat is logged in the ledger as a duplicate and does not count
towards ``--n``, so extra trials only ever add conversations that are new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.env.environment import Environment
from apigen_mt.errors import RunFailure
from apigen_mt.llm.base import ModelError
from apigen_mt.llm.usage import BudgetReached
from apigen_mt.records import Trajectory, conversation_id
from apigen_mt.redact import redact_text
from apigen_mt.rollout.episode import Roles, play_episode
from apigen_mt.rollout.judge import target_for
from apigen_mt.rollout.settings import RolloutSettings
from apigen_mt.runner.batch import SKIP, CircuitBreaker, Executor, Failed, RemoteWork, run_ordered
from apigen_mt.runner.early_stop import GroupRates, likely_reached
from apigen_mt.runner.progress import Progress
from apigen_mt.runner.shelf import Shelved
from apigen_mt.runner.store import RunDir
from apigen_mt.runner.trials import TrialPlan, playing_order

ACCEPTED = "trajectories.jsonl"
FAILED = "trajectories.failed.jsonl"
LEDGER = "episodes.jsonl"  # committed episodes kept nowhere else: duplicate successes
ERRORS = "episodes.errors.jsonl"


RULE_LABELS = {"identification": "not_identified", "consent": "no_consent",
               "domain_rules": "policy"}


def failure_reason(t: Trajectory) -> str:
    """A short label for why an episode was not kept."""
    if t.end_reason in ("max_turns", "model_error", "unreadable_instruction"):
        return t.end_reason
    failed = t.verdict.failed_rules
    if t.end_reason == "broken_rule":  # stopped there: the state was never finished
        rule = next((r for r in failed if r in RULE_LABELS), None)
        return RULE_LABELS[rule] if rule else "invalid_tool_call"
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
    duplicates: int = 0  # repeating a conversation already kept, or already failed
    errored: int = 0
    scheduled: int = 0  # episodes started: each ends added, failed, duplicate, errored …
    cancelled: int = 0  # … or cancelled: not committed when the batch stopped (redone)
    budget: str | None = None  # why the run stopped at its budget (None: it did not)
    reasons: Counter = field(default_factory=Counter)
    exhausted: bool = False


async def run_phase2(blueprints: list[Shelved], env: Environment, roles: Roles,
                     settings: RolloutSettings, run: RunDir, n: int, seed: int,
                     concurrency: int, progress: Progress | None = None,
                     executor: Executor | None = None,
                     breaker_after: int = 8, spec: Any = None,
                     budget: Callable[[], str | None] | None = None,
                     models: dict[str, Any] | None = None,
                     prefetch: Any = None) -> Phase2Outcome:
    """Play episodes until ``n`` trajectories are accepted or trials run out.

    ``blueprints`` are held by their place in the run's file; an episode reads its own.
    ``spec`` (an :class:`~apigen_mt.runner.remote.EpisodeSpec`) lets an executor play
    episodes in another process; an episode's payload is its blueprint and trial.
    ``prefetch`` (a :class:`~apigen_mt.runner.overlap.Prefetch`) holds first trials
    started before this batch (while phase 1 drafted): an item it holds awaits that
    episode instead of playing it again; it is committed in its place like any other.
    It goes on starting, the longest first, the first trials this batch is sure to play
    (so the long ones do not start late and end the phase alone), sharing
    ``concurrency`` with the items this batch plays itself.
    """
    blueprints = playing_order(blueprints, seed, size=lambda s: s.length)
    batch = _Rollouts(blueprints, settings.trials, run, n, progress,
                      CircuitBreaker(breaker_after), budget, models, prefetch, concurrency)
    outcome = batch.outcome
    if outcome.accepted_total >= n or not blueprints:
        outcome.exhausted = not blueprints
        return outcome
    if progress is not None:
        progress.in_flight = lambda: len(batch.in_flight)

    plan = batch.plan
    if prefetch is not None:
        prefetch.place(blueprints, {bp.id for bp in blueprints if (bp.id, 0) in batch.done})

    async def play(key: int) -> Trajectory:
        bp = blueprints[plan.blueprint(key)].load()
        # Replayed per episode (well under a millisecond) rather than kept per blueprint:
        # trials go round all the blueprints, so a cache would have to hold every target
        # for the whole phase, and memory would grow with the run.
        return await play_episode(bp, env, target_for(env, bp), roles, settings,
                                  plan.trial(key), seed)

    async def work(key: int) -> Trajectory:
        if prefetch is None:
            return await play(key)
        started = prefetch.take(blueprints[plan.blueprint(key)].id) \
            if plan.trial(key) == 0 else None
        try:  # counted from `ready` on: an endpoint slot of the shared concurrency
            return await (started if started is not None else play(key))
        finally:
            if key in batch.own_keys:
                batch.own_keys.discard(key)
                prefetch.own -= 1
                prefetch.fill()

    await run_ordered(batch.keys(), work, batch.commit, concurrency,
                      ready=batch.ready, executor=executor, remote=batch.remote(spec),
                      depends_on=plan.depends_on, finished=batch.finished)
    return batch.finish()


class _Rollouts:
    """The state of one phase-2 batch: what the files already hold, what is in flight, and
    the committer that appends each episode, in key order, to the file it belongs in."""

    def __init__(self, blueprints: list[Shelved], trials: int, run: RunDir, n: int,
                 progress: Progress | None, breaker: CircuitBreaker,
                 budget: Callable[[], str | None] | None, models: dict[str, Any] | None,
                 prefetch: Any = None, concurrency: int = 0):
        self.blueprints, self.n, self.progress, self.breaker = blueprints, n, progress, breaker
        self.prefetch, self.concurrency = prefetch, concurrency
        self.own_keys: set[int] = set()  # played here, counted in ``prefetch.own``
        self.plan = TrialPlan(len(blueprints), trials)
        self.budget, self.models = budget, models
        self.acc_log, self.fail_log = run.log(ACCEPTED), run.log(FAILED)
        self.ledger, self.errors = run.log(LEDGER), run.log(ERRORS)
        self.done: set[tuple[str, int]] = set()
        self.kept: dict[str, str] = {}  # conversation id → the kept trajectory's id
        self.failed_seen: dict[str, str] = {}  # a failure is kept once too
        self._resume()
        self.outcome = Phase2Outcome(accepted_total=len(self.kept))
        self.in_flight: set[int] = set()
        self.rates = GroupRates()  # the early stop's pass rates, per group of the plan
        self.known: dict[int, float] = {}  # finished, not committed: 1.0 if it passed

    def _resume(self) -> None:
        """What earlier invocations committed, one record at a time (a long run's files
        stay on disk); conversation ids are recomputed, not read from a field, so runs
        written before ids were ignored count too."""
        index = {bp.id: i for i, bp in enumerate(self.blueprints)}
        for r in self.acc_log.rows():
            self.done.add((r["blueprint_id"], r["trial"]))
            self.kept.setdefault(conversation_id(r.get("messages") or []), r["id"])
            if r["blueprint_id"] in index:
                self.plan.passed(index[r["blueprint_id"]], r["trial"])
        for r in self.fail_log.rows():
            self.done.add((r["blueprint_id"], r["trial"]))
            self.failed_seen.setdefault(conversation_id(r.get("messages") or []), r["id"])
        for r in self.ledger.rows():
            self.done.add((r["blueprint_id"], r["trial"]))
            if r.get("outcome") == "duplicate" and r["blueprint_id"] in index:
                self.plan.passed(index[r["blueprint_id"]], r["trial"])

    def keys(self) -> Iterator[int]:
        """Work items not yet committed, lazily: trials × blueprints is big."""
        plan = self.plan
        return (k for k in range(plan.size())
                if (self.blueprints[plan.blueprint(k)].id, plan.trial(k)) not in self.done)

    def remote(self, spec: Any) -> RemoteWork | None:
        """The shippable form of the work, for executors in other processes."""
        if spec is None:
            return None
        from apigen_mt.runner.wire import decode_trajectory

        plan = self.plan

        def payload(key: int) -> dict[str, Any]:
            return {"blueprint": self.blueprints[plan.blueprint(key)].load().model_dump(
                        mode="json"),
                    "trial": plan.trial(key)}

        return RemoteWork(spec, payload, decode_trajectory)

    def ready(self, key: int) -> bool | str:
        """Start ``key`` now (its earlier trials are committed)? Not past the budget, not
        at all when it is not worth playing (:data:`SKIP`), nor when the items before it
        in flight should reach n (it would be cancelled unfinished at the stop)."""
        o = self.outcome
        if self.budget is not None and (why := self.budget()):  # workers in other processes
            o.budget = why
            return False
        if not self.plan.worth_playing(key):
            return SKIP
        if self.prefetch is not None:
            self.prefetch.fill()  # early episodes first: the longest sure ones
        early = self._started_early(key)
        if self.prefetch is not None and not early and not self._share(key):
            return False
        # an item whose episode is over counts as what it gave (it waits for the commits
        # before it); one still playing, at its group's rate
        ahead = [self.known.get(k, self.rates.rate(self._rate_group(k)))
                 for k in self.in_flight if k < key]
        if ahead and likely_reached(o.accepted_total, self.n, ahead) \
                and not self._prefetched(key):
            return False
        self.in_flight.add(key)
        o.scheduled += 1
        if self.prefetch is not None and not early:
            self.prefetch.own += 1  # this batch plays it (see `work`)
            self.own_keys.add(key)
        return True

    def _rate_group(self, key: int) -> tuple:
        """The early stop's group of an item: the plan's (first pass or not, trial) and how
        long its task is. Short tasks pass far more often (in the offline retail run, nine
        in ten with up to three actions against six in ten with seven or more), and the
        last items before a stop are mostly short ones (the longest in a chunk go first):
        counted at the average rate they looked short of ``n`` and more were started, to
        be cancelled at the stop."""
        actions = self.blueprints[self.plan.blueprint(key)].length
        return (*self.plan.group(key), (min(actions, 7) - 1) // 3)  # 1-3, 4-6, 7+

    def _started_early(self, key: int) -> bool:
        return self.prefetch is not None and self.plan.trial(key) == 0 \
            and self.blueprints[self.plan.blueprint(key)].id in self.prefetch.tasks

    def _share(self, key: int) -> bool:
        """May this batch play ``key`` itself now? First the early episodes get the
        endpoint slots free (the longest sure ones go first); then this batch, within
        the concurrency both share, and always at least one of its own in flight (so
        the batch keeps going)."""
        pf = self.prefetch
        if pf.own >= 1 and pf.own + pf.running >= self.concurrency:
            return False
        if self.plan.trial(key) == 0:  # played here: no longer a candidate
            pf.waiting.pop(self.blueprints[self.plan.blueprint(key)].id, None)
        return True

    def _prefetched(self, key: int) -> bool:
        """Is ``key``'s episode already played (started early, finished)? Then taking it
        costs nothing, whatever the early stop expects."""
        return self.prefetch is not None and self.plan.trial(key) == 0 \
            and self.prefetch.finished(self.blueprints[self.plan.blueprint(key)].id)

    def finished(self, key: int, result: Trajectory | Failed) -> None:
        """An episode's result is in (its commit may come later): what the plan needs."""
        passed = isinstance(result, Trajectory) and result.verdict.passed
        if passed:
            self.plan.passed(self.plan.blueprint(key), self.plan.trial(key))
        self.known[key] = float(passed)
        # counted as results come in, not as they are committed: a long episode holding
        # up the commits would otherwise leave the rates on the few before it
        if isinstance(result, Trajectory):
            self.rates.record(self._rate_group(key), int(passed), 1)

    def commit(self, key: int, result: Trajectory | Failed) -> bool:
        """Append one finished episode; False stops the batch."""
        self.known.pop(key, None)
        return self._commit(key, result)

    def _commit(self, key: int, result: Trajectory | Failed) -> bool:
        self.in_flight.discard(key)
        bp = self.blueprints[self.plan.blueprint(key)]
        if isinstance(result, Failed) and isinstance(result.error, BudgetReached):
            self.outcome.budget = str(result.error)  # not committed: redone by a rerun
            return False
        if isinstance(result, Failed):
            return self._commit_error(bp, self.plan.trial(key), result)
        self.breaker.record(True)
        if self.models and not result.models:  # every record names the models that made it
            result = result.model_copy(update={"models": self.models})
        if result.verdict.passed:
            return self._commit_passed(bp, result)
        return self._commit_failed(bp, result)

    def _commit_error(self, bp: Shelved, trial: int, result: Failed) -> bool:
        if not isinstance(result.error, ModelError):
            raise result.error
        self.outcome.errored += 1
        self.errors.append([{"blueprint_id": bp.id, "trial": trial,
                             "error": redact_text(str(result.error))}])
        self._bump("errored")
        return self.breaker.record(False, result.error)

    def _commit_passed(self, bp: Shelved, result: Trajectory) -> bool:
        conv = result.conversation_id()
        if conv in self.kept:
            self.outcome.duplicates += 1
            self.ledger.append([{"blueprint_id": bp.id, "trial": result.trial,
                                 "outcome": "duplicate", "id": result.id,
                                 "duplicate_of": self.kept[conv]}])
            self._bump("duplicate")
            return True
        self.kept[conv] = result.id
        self.acc_log.append([result])
        self.outcome.added += 1
        self.outcome.accepted_total += 1
        self._bump("accepted")
        return self.outcome.accepted_total < self.n

    def _commit_failed(self, bp: Shelved, result: Trajectory) -> bool:
        conv = result.conversation_id()
        if conv in self.failed_seen:  # the same failed conversation again: logged, not kept
            self.ledger.append([{"blueprint_id": bp.id, "trial": result.trial,
                                 "outcome": "duplicate_failure", "id": result.id,
                                 "duplicate_of": self.failed_seen[conv]}])
            self.outcome.duplicates += 1  # counted, so it is not taken for a cancelled one
            return True
        self.failed_seen[conv] = result.id
        reason = failure_reason(result)
        self.fail_log.append([result])
        self.outcome.failed += 1
        self.outcome.reasons[reason] += 1
        self._bump("failed", reason=reason)
        return True

    def _bump(self, what: str, **kw: Any) -> None:
        if self.progress:
            self.progress.bump(what, **kw)

    def finish(self) -> Phase2Outcome:
        """The outcome once the batch stopped; a run of model errors is a failure."""
        o, breaker = self.outcome, self.breaker
        o.cancelled = o.scheduled - o.added - o.failed - o.duplicates - o.errored
        if self.prefetch is not None:  # started early, never committed: paid for nothing
            o.scheduled += self.prefetch.unused()
            o.cancelled += self.prefetch.unused()
        if breaker.streak >= breaker.consecutive:
            raise RunFailure(f"stopped after {breaker.streak} episodes in a row hit model "
                             f"errors ({breaker.last_error}); {o.accepted_total} trajectories "
                             "are saved, rerun the same command to resume")
        o.exhausted = o.accepted_total < self.n and o.budget is None
        return o
