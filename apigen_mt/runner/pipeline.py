"""The pipeline's orchestration: open the run, check the models, run a phase's batch,
keep its account, and say what it did (a typed result).

Both the Python API (:mod:`apigen_mt.api`) and the command line call these; neither opens
a run directory or sums usage itself. ``note`` receives the lines a person should read
before the phase's work (a target the run cannot reach, say); ``progress`` is the live
display (None: on a terminal only).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apigen_mt.errors import UsageError
from apigen_mt.runner.accounting import attach_usage, run_batch
from apigen_mt.runner.opening import (
    ceiling_note,
    check_models,
    open_blueprint_run,
    played_blueprints,
    record_command,
    rollout_settings,
)
from apigen_mt.runner.results import (
    BlueprintResult,
    RolloutResult,
    RunResult,
    blueprint_result,
    rollout_result,
)

Note = Callable[[str], None]


def _silent(_line: str) -> None:
    return None


def blueprint_phase(cfg, env: str, data_dir: Path | None, n: int, out: Path | None, *,
                    concurrency: int | None = None, progress: bool | None = None,
                    executor: str = "local", ray_address: str | None = None,
                    force_config: bool = False, max_slots: int | None = None, budget=None,
                    command: str | None = None, record: bool = True) -> BlueprintResult:
    """Phase 1 until the run holds ``n`` accepted blueprints (or a stop); resumes."""
    from apigen_mt.runner.build import build_phase1
    from apigen_mt.runner.phase1 import run_phase1
    from apigen_mt.runner.progress import Progress

    env_ref, run = open_blueprint_run(cfg, env, data_dir, out, command, record, force_config)
    try:
        phase, models = build_phase1(cfg, env_ref, run.path)
        conc = concurrency or phase.settings.concurrency
        spec = pool = None
        if executor == "ray":
            from apigen_mt.runner.ray_executor import make_executor
            from apigen_mt.runner.remote import SlotSpec

            pool = make_executor(executor, ray_address, models, cfg)
            spec = SlotSpec.of(cfg, env_ref)
        bar = Progress("blueprints", n, models.usage.snapshot, enabled=progress)
        attach_usage(models, run, "blueprint", budget)
        outcome, cost, retries = run_batch(
            run_phase1(phase, run, n, conc, bar, executor=pool, spec=spec,
                       max_slots=max_slots,
                       budget=models.usage.budget_reached if budget else None),
            run, "blueprint", models, bar, command)
        return blueprint_result(run, n, outcome, models.usage.snapshot().total, cost,
                                retries, models)
    finally:
        run.close()


def rollout_phase(cfg, run_path: Path, n: int, *, trials: int | None = None,
                  concurrency: int | None = None, best_of_n: int | None = None,
                  progress: bool | None = None, executor: str = "local",
                  ray_address: str | None = None, force_config: bool = False, budget=None,
                  command: str | None = None, record: bool = True,
                  note: Note = _silent, limit: int | None = None) -> RolloutResult:
    """Phase 2 on a run directory until it holds ``n`` accepted trajectories, or its
    blueprints (the first ``limit`` of them, if given) have played every trial (or a
    stop); resumes."""
    from apigen_mt.llm.registry import build_role_models
    from apigen_mt.rollout.episode import Roles
    from apigen_mt.runner.build import models_description
    from apigen_mt.runner.phase2 import run_phase2
    from apigen_mt.runner.progress import Progress
    from apigen_mt.runner.store import RunDir

    settings = rollout_settings(cfg)
    updates = {k: v for k, v in {"trials": trials, "best_of_n": best_of_n}.items()
               if v is not None}
    settings = settings.model_copy(update=updates)
    run = RunDir(run_path).open()
    try:
        env_ref, env, seed, blueprints = _rollout_inputs(
            run, run_path, cfg, settings, n, force_config=force_config, command=command,
            record=record, note=note, limit=limit)
        models = build_role_models(cfg, run.path)
        roles = Roles(human=models.human, critic=models.critic, agent=models.agent)
        pool, spec = _episode_executor(executor, ray_address, models, cfg, env_ref,
                                       settings, seed)
        bar = Progress("trajectories", n, models.usage.snapshot, enabled=progress)
        attach_usage(models, run, "rollout", budget)
        outcome, cost, retries = run_batch(
            run_phase2(blueprints, env, roles, settings, run, n, seed,
                       concurrency or settings.concurrency, bar, executor=pool, spec=spec,
                       budget=models.usage.budget_reached if budget else None,
                       models=models_description(cfg, ("human", "critic", "agent"))),
            run, "rollout", models, bar, command)
        return rollout_result(run, n, len(blueprints), settings.trials, outcome, models,
                               cost, retries)
    finally:
        run.close()


def _rollout_inputs(run, run_path: Path, cfg, settings, n: int, *, force_config: bool,
                    command: str | None, record: bool, note: Note, limit: int | None = None):
    """The run's environment reference, environment, seed and accepted blueprints, after
    the models and the run's recorded configuration are checked; says up front when the
    blueprints cannot give ``n`` trajectories."""
    from apigen_mt.runner.build import EnvRef
    from apigen_mt.runner.fingerprint import enforce, phase_values

    manifest = run.manifest()
    env_ref = EnvRef(**manifest["env"])
    seed = manifest.get("seed", cfg.seed)
    blueprints = played_blueprints(run, limit)
    if not blueprints:
        raise UsageError(f"{run_path} has no accepted blueprints; run `apigen-mt blueprint`")
    env = env_ref.load()
    check_models(cfg)  # a missing key or unknown provider is told first
    # the run's seed, not this invocation's default: rollout has no --seed
    enforce(run, "rollout", phase_values("rollout", cfg, env_ref, env, seed, settings),
            force_config, command or "")
    if record:
        record_command(run, command)
    if line := ceiling_note(len(blueprints), settings.trials, n, run_path):
        note(line)  # said before the work, not after it
    return env_ref, env, seed, blueprints


def _episode_executor(executor: str, ray_address: str | None, models, cfg, env_ref,
                      settings, seed: int):
    """The remote pool and the episode spec it needs, or (None, None) to play locally."""
    if executor != "ray":
        return None, None
    from apigen_mt.runner.ray_executor import make_executor
    from apigen_mt.runner.remote import EpisodeSpec

    pool = make_executor(executor, ray_address, models, cfg)
    return pool, EpisodeSpec.of(cfg, env_ref, settings, seed)


FIRST_TRIAL_MARGIN = 1.6  # blueprints per wanted trajectory before any rollout


def blueprints_for(n: int, accepted: int, blueprints: int) -> int:
    """Blueprints to ask for next so that ``n`` trajectories come within reach.

    A new blueprint's first trial is the cheapest kept conversation: in the offline retail
    run two in three first trials pass, against two in five for a second trial (of a task
    that failed, and longer: the hard tasks fail) and a model call or four of drafting per
    blueprint. So before any rollout, enough blueprints for ``n`` on first trials alone at
    about that rate; after one, the first-trial yield seen so far, with a margin.
    """
    if blueprints == 0:
        return max(1, math.ceil(n * FIRST_TRIAL_MARGIN))
    per_blueprint = max(0.2, accepted / blueprints)
    return blueprints + max(1, math.ceil((n - accepted) / per_blueprint * 1.25))


ROUNDS = 6  # blueprint + rollout rounds before `run` gives up short of --n


def _sequential_round(cfg, env: str, data_dir: Path | None, wanted: int, n: int,
                      out: Path | None, trials: int | None, record: bool, executor: str,
                      ray_address: str | None, on_phase, common: dict[str, Any]
                      ) -> tuple[BlueprintResult, RolloutResult | None]:
    """One round with its phases one after the other (no rollout when phase 1 stopped)."""
    bp = blueprint_phase(cfg, env, data_dir, wanted, out, executor=executor,
                         ray_address=ray_address, record=record, **common)
    if on_phase:
        on_phase(bp)
    if bp.stopped:
        return bp, None
    return bp, rollout_phase(cfg, bp.run_dir, n, trials=trials, executor=executor,
                             ray_address=ray_address, record=False, limit=wanted, **common)


def run_pipeline(cfg, env: str, data_dir: Path | None, n: int, out: Path | None, *,
                 trials: int | None = None, concurrency: int | None = None,
                 progress: bool | None = None, executor: str = "local",
                 ray_address: str | None = None, force_config: bool = False, budget=None,
                 command: str | None = None, note: Note = _silent,
                 on_phase: Callable[[BlueprintResult | RolloutResult], None] | None = None,
                 overlap: bool | None = None) -> RunResult:
    """Both phases, in rounds: each drafts the blueprints the last one's yield calls for
    and plays their first trials; only the last round plays further trials (up to
    ``trials``), of blueprints none of whose trials passed, since a new blueprint's
    first trial yields more per call. Each round's rollout sees the blueprints its own
    phase 1 asked for (the first ``wanted`` of the file), so a run resumed in any round
    makes the same choices as one never interrupted.

    In-process (the local executor), a round's phases overlap: first trials of accepted
    blueprints start while phase 1 still drafts, on the endpoint slots it leaves idle
    (:mod:`apigen_mt.runner.rounds`); the files are the same either way (``overlap``:
    False runs the phases one after the other, as remote executors do)."""
    if overlap is None:
        overlap = executor == "local"
    wanted = blueprints_for(n, 0, 0)
    bp = ro = None
    common = dict(concurrency=concurrency, progress=progress, force_config=force_config,
                  budget=budget, command=command)
    for rounds in range(1, ROUNDS + 1):
        round_trials = trials if rounds == ROUNDS else 1
        if overlap:
            from apigen_mt.runner.rounds import overlapped_round

            bp, ro_now = overlapped_round(
                cfg, env, data_dir, wanted, n, out,
                trials=rollout_settings(cfg).trials if round_trials is None else round_trials,
                record=rounds == 1, note=note, on_phase=on_phase, **common)
        else:
            bp, ro_now = _sequential_round(cfg, env, data_dir, wanted, n, out, round_trials,
                                           rounds == 1, executor, ray_address, on_phase,
                                           common)
        if ro_now is None:
            return RunResult(bp.run_dir, n, ro.accepted if ro else 0, rounds, bp, ro,
                             bp.stopped)
        out, ro = bp.run_dir, ro_now
        if on_phase:
            on_phase(ro)
        if ro.stopped or ro.reached:
            break
        wanted = blueprints_for(n, ro.accepted, wanted)
    assert bp is not None and ro is not None
    return RunResult(bp.run_dir, n, ro.accepted, rounds, bp, ro, ro.stopped)
