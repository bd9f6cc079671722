"""``rollout`` (phase 2) and ``run`` (both phases) commands."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from apigen_mt import bounds
from apigen_mt.commands_pipeline import (
    CONFIG_OPT,
    ENV_CLASS_OPT,
    ENV_CONFIG_OPT,
    ENV_INIT_OPT,
    EXECUTOR_OPT,
    FORCE_CONFIG_OPT,
    LOG_REQUESTS_OPT,
    MAX_CALLS_OPT,
    MAX_COST_OPT,
    RAY_ADDRESS_OPT,
    StoppedAtBudget,
    attach_usage,
    budget_line,
    check_models,
    executor_choice,
    load_config,
    make_budget,
    resolve_env,
    run_batch,
    run_blueprint_phase,
    survived_line,
)
from apigen_mt.errors import UsageError

console = Console()


def rollout_settings(config):
    """The ``rollout:`` block as a typed model."""
    from pydantic import ValidationError

    from apigen_mt.rollout.settings import RolloutSettings

    try:
        return RolloutSettings.model_validate(config.rollout)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"config rollout.{'.'.join(map(str, err['loc']))}: {err['msg']}") \
            from None


def run_rollout_phase(cfg, run_path: Path, n: int, trials: int | None,
                      concurrency: int | None, quiet: bool, best_of_n: int | None = None,
                      executor: str = "local", ray_address: str | None = None,
                      force_config: bool = False, budget=None):
    """Phase 2 on a run directory; prints a closing summary; returns the outcome."""
    from apigen_mt.llm.registry import build_role_models
    from apigen_mt.records import Blueprint, Trajectory
    from apigen_mt.rollout.episode import Roles
    from apigen_mt.runner.build import EnvRef, models_description
    from apigen_mt.runner.fingerprint import enforce, phase_values
    from apigen_mt.runner.phase1 import ACCEPTED as BLUEPRINTS
    from apigen_mt.runner.phase2 import FAILED, LEDGER, run_phase2
    from apigen_mt.runner.progress import Progress
    from apigen_mt.runner.store import RunDir

    settings = rollout_settings(cfg)
    updates = {k: v for k, v in {"trials": trials, "best_of_n": best_of_n}.items()
               if v is not None}
    settings = settings.model_copy(update=updates)
    run = RunDir(run_path).open()
    try:
        manifest = run.manifest()
        env_ref = EnvRef(**manifest["env"])
        seed = manifest.get("seed", cfg.seed)
        # provenance (verdicts, reviews) is not needed to play episodes, and is most of a
        # blueprint's size in memory
        blueprints = list(run.log(BLUEPRINTS).iter_read(Blueprint, drop=("provenance",)))
        if not blueprints:
            raise UsageError(f"{run_path} has no accepted blueprints; run `apigen-mt blueprint`")
        env = env_ref.load()
        check_models(cfg)  # a missing key or unknown provider is told first
        # the run's seed, not this invocation's default: rollout has no --seed
        enforce(run, "rollout", phase_values("rollout", cfg, env_ref, env, seed, settings),
                force_config, f"rollout --n {n}")
        models = build_role_models(cfg, run.path)
        roles = Roles(human=models.human, critic=models.critic, agent=models.agent)
        conc = concurrency or settings.concurrency
        spec = pool = None
        if executor == "ray":
            from apigen_mt.runner.ray_executor import make_executor
            from apigen_mt.runner.remote import EpisodeSpec

            pool = make_executor(executor, ray_address, models, cfg)
            spec = EpisodeSpec.of(cfg, env_ref, settings, seed)
        progress = Progress("trajectories", n, models.usage.snapshot,
                            enabled=False if quiet else None)

        attach_usage(models, run, "rollout", budget)
        outcome, cost, retries = run_batch(
            run_phase2(blueprints, env, roles, settings, run, n, seed, conc, progress,
                       executor=pool, spec=spec,
                       budget=models.usage.budget_reached if budget else None,
                       models=models_description(cfg, ("human", "critic", "agent"))),
            run, "rollout", models, progress)
        # distinct conversations: a file written before repeats were refused may hold some
        accepted = outcome.accepted_total
        reasons = failure_reasons(run.log(FAILED).iter_read(Trajectory))
        repeats = sum(1 for r in run.log(LEDGER).rows() if r.get("outcome") == "duplicate")
        run.update_manifest(trajectories={"accepted": accepted,
                                          "failed": sum(reasons.values()),
                                          "repeats_not_kept": repeats})
        _summary(run_path, blueprints, accepted, reasons, outcome, cost, models, n, repeats)
        if line := survived_line(retries):
            console.print(line)
        if outcome.budget:
            console.print(budget_line(outcome.budget, f"{accepted} trajectories"))
            raise StoppedAtBudget(outcome.budget)
        return outcome
    finally:
        run.close()


def failure_reasons(failed) -> Counter:
    """Failed trajectories by reason, read one at a time."""
    from apigen_mt.runner.phase2 import failure_reason

    return Counter(failure_reason(t) for t in failed)


def _summary(run_path, blueprints, accepted, reasons, outcome, cost, models, n, repeats=0):
    table = Table(title="Rollouts")
    table.add_column("stage")
    table.add_column("count")
    episodes = accepted + sum(reasons.values()) + repeats
    table.add_row("blueprints", str(len(blueprints)))
    table.add_row("episodes judged", str(episodes))
    for reason, count in sorted(reasons.items()):
        table.add_row(f"  failed: {reason}", str(count))
    if repeats:
        table.add_row("  passed, repeating a kept conversation", str(repeats))
    table.add_row("accepted trajectories (distinct)", str(accepted))
    if episodes:
        table.add_row("acceptance rate", f"{accepted / episodes:.1%}")
    console.print(table)
    snap = models.usage.snapshot().total
    console.print(f"{run_path}: {accepted} trajectories accepted (+{outcome.added} this run, "
                  f"{outcome.failed} failed, {outcome.duplicates} duplicate, "
                  f"{outcome.errored} errored, {outcome.cancelled} cancelled at the stop of "
                  f"{outcome.scheduled} episodes scheduled; {snap.calls} model calls, "
                  f"{snap.cache_hits} "
                  f"from cache; ${cost:.4f} so far)")
    if outcome.exhausted and accepted < n:
        console.print(f"blueprints and trials ran out at {accepted} of {n}; draft more "
                      "blueprints or raise --trials")


def register(app: typer.Typer) -> None:
    """Add ``rollout`` and ``run``."""

    @app.command("rollout")
    def rollout(
        run: Path | None = typer.Option(None, "--run", help="Run directory (default: latest)."),
        n: int = typer.Option(100, "--n", help="Accepted trajectories wanted."),
        trials: int | None = typer.Option(None, "--trials", help="Trials per blueprint."),
        concurrency: int | None = typer.Option(None, "--concurrency"),
        best_of_n: int | None = typer.Option(None, "--best-of-n",
                                                help="Human candidates per turn (1: off)."),
        config: Path | None = CONFIG_OPT,
        quiet: bool = typer.Option(False, "--quiet"),
        executor: str = EXECUTOR_OPT,
        ray_address: str | None = RAY_ADDRESS_OPT,
        force_config: bool = FORCE_CONFIG_OPT,
        max_cost: float | None = MAX_COST_OPT,
        max_calls: int | None = MAX_CALLS_OPT,
        log_requests: bool = LOG_REQUESTS_OPT,
    ):
        """Play accepted blueprints out; keep conversations whose final state proves them."""
        from apigen_mt.runner.store import resolve_run

        bounds.check(n=n, trials=trials, concurrency=concurrency, best_of_n=best_of_n)
        budget = make_budget(max_cost, max_calls)
        executor = executor_choice(executor, ray_address)
        cfg = load_config(config, {"request_log": log_requests or None})
        run_path = resolve_run(run)
        check_models(cfg)  # a missing key or an unreachable endpoint: before any file
        try:
            run_rollout_phase(cfg, run_path, n, trials, concurrency, quiet, best_of_n,
                              executor, ray_address, force_config, budget)
        except StoppedAtBudget:
            return

    @app.command("run")
    def run_all(
        env: str | None = typer.Option(None, "--env", help="Environment name or folder."),
        n: int = typer.Option(100, "--n", help="Accepted trajectories wanted."),
        config: Path | None = CONFIG_OPT,
        out: Path | None = typer.Option(None, "--out", help="Run directory."),
        data_dir: Path | None = typer.Option(None, "--data-dir"),
        seed: int | None = typer.Option(None, "--seed"),
        trials: int | None = typer.Option(None, "--trials"),
        concurrency: int | None = typer.Option(None, "--concurrency"),
        quiet: bool = typer.Option(False, "--quiet"),
        executor: str = EXECUTOR_OPT,
        ray_address: str | None = RAY_ADDRESS_OPT,
        env_class: str | None = ENV_CLASS_OPT,
        env_config: Path | None = ENV_CONFIG_OPT,
        env_init: str | None = ENV_INIT_OPT,
        force_config: bool = FORCE_CONFIG_OPT,
        max_cost: float | None = MAX_COST_OPT,
        max_calls: int | None = MAX_CALLS_OPT,
        log_requests: bool = LOG_REQUESTS_OPT,
    ):
        """Both phases: blueprints, then rollouts, until --n trajectories are accepted."""
        env, data_dir = resolve_env(env, data_dir, env_class, env_config, env_init)
        bounds.check(n=n, trials=trials, concurrency=concurrency, seed=seed)
        budget = make_budget(max_cost, max_calls)
        executor = executor_choice(executor, ray_address)
        cfg = load_config(config, {"seed": seed, "request_log": log_requests or None})
        # about one blueprint per wanted trajectory (and a margin for failed episodes):
        # phase 2 plays every blueprint once before any twice, so --n is reached across
        # distinct tasks and extra trials only top it up
        wanted = max(1, math.ceil(n * 1.2))
        run_path = None
        for _ in range(6):  # draft more blueprints while trials run out short of --n
            try:
                run_path = run_blueprint_phase(cfg, env, data_dir, wanted, out, concurrency,
                                               quiet, executor, ray_address, force_config,
                                               budget=budget)
                outcome = run_rollout_phase(cfg, run_path, n, trials, concurrency, quiet,
                                            executor=executor, ray_address=ray_address,
                                            force_config=force_config, budget=budget)
            except StoppedAtBudget:
                return
            if outcome.accepted_total >= n:
                return
            missing = n - outcome.accepted_total
            # Repeated conversations are not kept, so a blueprint yields fewer than its
            # trials: plan the next round on the yield seen so far.
            per_blueprint = max(0.2, outcome.accepted_total / wanted)
            wanted += max(1, math.ceil(missing / per_blueprint * 1.25))
        console.print(f"stopped short of {n}: see {run_path}")
        raise typer.Exit(1)
