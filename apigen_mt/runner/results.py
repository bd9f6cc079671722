"""What the pipeline's entry points return: typed summaries of one invocation.

The run directory holds the full history; these say what one call did and where things
stand, so a notebook or a scheduler can act on them without reading the files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from apigen_mt.llm.usage import UsageStats
from apigen_mt.runner.funnel import Funnel


@dataclass(frozen=True)
class BlueprintResult:
    """Phase 1 (drafting and checking blueprints) on one run directory."""

    run_dir: Path
    wanted: int
    accepted: int  # accepted blueprints in the run, this call's and earlier ones
    rejected: int  # rejected slots in the run
    added: int = 0  # accepted by this call
    rejected_now: int = 0
    errored: int = 0
    cancelled: int = 0
    scheduled: int = 0
    usage: UsageStats = field(default_factory=UsageStats)  # this call's model use
    cost: float = 0.0  # the phase's spend over every call of the run (USD)
    retries: dict[str, int] = field(default_factory=dict)  # transport retries by kind
    funnel: Funnel = field(default_factory=Funnel)  # every draft of every round, by check
    stopped: str | None = None  # why the call stopped at its budget (None: it did not)
    cache_invalid: int = 0  # response-cache entries ignored and asked again

    @property
    def reached(self) -> bool:
        """Whether the run holds the blueprints asked for."""
        return self.accepted >= self.wanted


@dataclass(frozen=True)
class RolloutResult:
    """Phase 2 (playing blueprints out and judging them) on one run directory."""

    run_dir: Path
    wanted: int
    blueprints: int  # accepted blueprints the phase played from
    trials: int  # trials per blueprint
    accepted: int  # distinct accepted trajectories in the run
    failed: int  # failed trajectories in the run
    repeats: int = 0  # passed, but repeating a kept conversation (not kept)
    reasons: dict[str, int] = field(default_factory=dict)  # failures in the run by reason
    added: int = 0
    failed_now: int = 0
    duplicates: int = 0
    errored: int = 0
    cancelled: int = 0
    scheduled: int = 0
    exhausted: bool = False  # every blueprint played its trials before --n was reached
    usage: UsageStats = field(default_factory=UsageStats)
    cost: float = 0.0
    retries: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None
    cache_invalid: int = 0

    @property
    def reached(self) -> bool:
        """Whether the run holds the trajectories asked for."""
        return self.accepted >= self.wanted

    @property
    def episodes(self) -> int:
        """Episodes judged in the run (kept, failed, or repeating a kept one)."""
        return self.accepted + sum(self.reasons.values()) + self.repeats


@dataclass(frozen=True)
class RunResult:
    """Both phases, drafting more blueprints while trials run out short of --n."""

    run_dir: Path
    wanted: int
    accepted: int
    rounds: int  # blueprint + rollout rounds played by this call
    blueprint: BlueprintResult
    rollout: RolloutResult | None  # None when phase 1 stopped at the budget
    stopped: str | None = None

    @property
    def reached(self) -> bool:
        """Whether the run holds the trajectories asked for."""
        return self.accepted >= self.wanted


@dataclass(frozen=True)
class VerifyResult:
    """Conversations made elsewhere, judged against their tasks."""

    passed: int
    judged: int
    agreement: tuple[int, int]  # (agreeing with a recorded reward, conversations with one)
    problems: list[str]  # unreadable or unmatched conversations, one line each
    line: str  # the ``K of N passed …`` summary
    out: Path | None = None  # the JSON lines file (None: they went to ``sink``)


def blueprint_result(run, wanted: int, outcome, usage: UsageStats, cost: float,
                     retries: dict[str, int], models) -> BlueprintResult:
    """Phase 1's result, counted over the run's files in one pass each (a long run's
    records stay on disk), the counts also written into the manifest."""
    from apigen_mt.runner.accounting import cache_invalid
    from apigen_mt.runner.phase1 import ACCEPTED, REJECTED

    funnel = Funnel.from_records(run.log(ACCEPTED).rows(), run.log(REJECTED).rows())
    run.update_manifest(blueprints={"accepted": funnel.accepted, "rejected": funnel.rejected})
    return BlueprintResult(
        run_dir=run.path, wanted=wanted, accepted=funnel.accepted, rejected=funnel.rejected,
        added=outcome.added, rejected_now=outcome.rejected, errored=outcome.errored,
        cancelled=outcome.cancelled, scheduled=outcome.scheduled, usage=usage, cost=cost,
        retries=retries, funnel=funnel, stopped=outcome.budget,
        cache_invalid=cache_invalid(models))


def rollout_result(run, n: int, blueprints: int, trials: int, outcome, models, cost,
                    retries, usage=None) -> RolloutResult:
    """The run's trajectory counts written to its manifest, and the phase's result
    (``usage``: the phase's own, when its models were shared with phase 1)."""
    from apigen_mt.runner.accounting import cache_invalid

    reasons, repeats = failures(run)
    # distinct conversations: a file written before repeats were refused may hold some
    run.update_manifest(trajectories={"accepted": outcome.accepted_total,
                                      "failed": sum(reasons.values()),
                                      "repeats_not_kept": repeats})
    return RolloutResult(
        run_dir=run.path, wanted=n, blueprints=blueprints, trials=trials,
        accepted=outcome.accepted_total, failed=sum(reasons.values()), repeats=repeats,
        reasons=dict(sorted(reasons.items())), added=outcome.added,
        failed_now=outcome.failed, duplicates=outcome.duplicates,
        errored=outcome.errored, cancelled=outcome.cancelled, scheduled=outcome.scheduled,
        exhausted=outcome.exhausted, usage=usage or models.usage.snapshot().total, cost=cost,
        retries=retries, stopped=outcome.budget, cache_invalid=cache_invalid(models))


def failures(run) -> tuple[Counter, int]:
    """Failed trajectories by reason, and passed repeats not kept (read one at a time)."""
    from apigen_mt.records import Trajectory
    from apigen_mt.runner.phase2 import FAILED, LEDGER, failure_reason

    reasons = Counter(failure_reason(t) for t in run.log(FAILED).iter_read(Trajectory))
    repeats = sum(1 for r in run.log(LEDGER).rows() if r.get("outcome") == "duplicate")
    return reasons, repeats
