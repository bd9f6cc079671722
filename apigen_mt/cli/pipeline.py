"""Pipeline commands: ``blueprint`` (and ``blueprint check``), ``rollout`` and ``run``.

Each parses its options, calls :mod:`apigen_mt.api`, and prints the result and the
command to run next.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from apigen_mt import api
from apigen_mt.cli.common import (
    CONCURRENCY_OPT,
    CONFIG_OPT,
    DATA_DIR_OPT,
    ENV_CLASS_OPT,
    ENV_CONFIG_OPT,
    ENV_INIT_OPT,
    ENV_OPT,
    EXECUTOR_OPT,
    FORCE_CONFIG_OPT,
    LATEST_RUN_OPT,
    LOG_REQUESTS_OPT,
    MAX_CALLS_OPT,
    MAX_COST_OPT,
    QUIET_OPT,
    RAY_ADDRESS_OPT,
    RUN_OPT,
    SEED_OPT,
    TRIALS_OPT,
    console,
    next_line,
    progress_choice,
    typed_command,
)
from apigen_mt.runner.accounting import budget_line, survived_line
from apigen_mt.runner.results import BlueprintResult, RolloutResult

blueprint_app = typer.Typer(help="Phase 1: draft and verify task blueprints.")


def _common_lines(result: BlueprintResult | RolloutResult, saved: str) -> None:
    if result.cache_invalid:
        console.print(f"response cache: {result.cache_invalid} invalid entr"
                      f"{'y' if result.cache_invalid == 1 else 'ies'} ignored and asked again")
    if line := survived_line(result.retries):
        console.print(line)
    if result.stopped:
        console.print(budget_line(result.stopped, saved))


def print_blueprints(result: BlueprintResult, quiet: bool) -> None:
    """The funnel (unless quiet) and the one-line summary of phase 1."""
    if not quiet:
        result.funnel.print(console, result.cost)
    console.print(f"{result.run_dir}: {result.accepted} accepted "
                  f"(+{result.added} this run, {result.rejected_now} rejected, "
                  f"{result.errored} errored, {result.cancelled} cancelled at the stop "
                  f"of {result.scheduled} slots scheduled; {result.usage.calls} model calls, "
                  f"{result.usage.cache_hits} from cache)")
    _common_lines(result, f"{result.accepted} blueprints")


def print_rollouts(result: RolloutResult) -> None:
    """The rollout table and the one-line summary of phase 2."""
    # the table is short, unlike the funnel: it is printed even with --quiet
    table = Table(title="Rollouts")
    table.add_column("stage")
    table.add_column("count")
    table.add_row("blueprints", str(result.blueprints))
    table.add_row("episodes judged", str(result.episodes))
    for reason, count in result.reasons.items():
        table.add_row(f"  failed: {reason}", str(count))
    if result.repeats:
        table.add_row("  passed, repeating a kept conversation", str(result.repeats))
    table.add_row("accepted trajectories (distinct)", str(result.accepted))
    if result.episodes:
        table.add_row("acceptance rate", f"{result.accepted / result.episodes:.1%}")
    console.print(table)
    console.print(f"{result.run_dir}: {result.accepted} trajectories accepted "
                  f"(+{result.added} this run, {result.failed_now} failed, "
                  f"{result.duplicates} duplicate, {result.errored} errored, "
                  f"{result.cancelled} cancelled at the stop of {result.scheduled} episodes "
                  f"scheduled; {result.usage.calls} model calls, {result.usage.cache_hits} "
                  f"from cache; ${result.cost:.4f} so far)")
    if result.exhausted and not result.reached:
        console.print(f"blueprints and trials ran out at {result.accepted} of "
                      f"{result.wanted}; `apigen-mt run --run {result.run_dir} --n "
                      f"{result.wanted}` drafts more blueprints as needed", soft_wrap=True)
    _common_lines(result, f"{result.accepted} trajectories")


@blueprint_app.callback(invoke_without_command=True)
def blueprint(
    ctx: typer.Context,
    env: str | None = ENV_OPT,
    n: int = typer.Option(200, "--n", help="Accepted blueprints wanted in the run."),
    config: Path | None = CONFIG_OPT,
    run: Path | None = RUN_OPT,
    data_dir: Path | None = DATA_DIR_OPT,
    seed: int | None = SEED_OPT,
    concurrency: int | None = CONCURRENCY_OPT,
    drafter: str | None = typer.Option(None, "--drafter", help="llm or walk."),
    quiet: bool = QUIET_OPT,
    executor: str = EXECUTOR_OPT,
    ray_address: str | None = RAY_ADDRESS_OPT,
    env_class: str | None = ENV_CLASS_OPT,
    env_config: Path | None = ENV_CONFIG_OPT,
    env_init: str | None = ENV_INIT_OPT,
    force_config: bool = FORCE_CONFIG_OPT,
    max_cost: float | None = MAX_COST_OPT,
    max_calls: int | None = MAX_CALLS_OPT,
    log_requests: bool = LOG_REQUESTS_OPT,
    max_slots: int | None = typer.Option(
        None, "--max-slots", help="Stop after this many drafting slots (e.g. 1, to try a "
                                  "model), accepted or not."),
):
    """Phase 1: draft blueprints and keep those that pass every check."""
    if ctx.invoked_subcommand is not None:
        return
    result = api.blueprint(env, n, run=run, config=config, data_dir=data_dir, seed=seed,
                           concurrency=concurrency, drafter=drafter, env_class=env_class,
                           env_config=env_config, env_init=env_init, executor=executor,
                           ray_address=ray_address, force_config=force_config,
                           max_cost=max_cost, max_calls=max_calls, log_requests=log_requests,
                           max_slots=max_slots, progress=progress_choice(quiet),
                           command=typed_command())
    print_blueprints(result, quiet)
    if not result.stopped:
        next_line("rollout", "--run", str(result.run_dir), "--n", str(result.accepted))


@blueprint_app.command("check")
def blueprint_check(
    env: str = typer.Option(..., "--env", help="Environment name or folder."),
    tasks: Path = typer.Option(..., "--tasks", help="Tasks file (same shapes as env replay)."),
    split: str | None = typer.Option(None, "--split", help="Split to use from a splits file."),
    data_dir: Path | None = DATA_DIR_OPT,
    review: bool = typer.Option(False, "--review", help="Also run the review committee."),
    config: Path | None = CONFIG_OPT,
):
    """Lint hand-written tasks: format, execution, policy (and committee with --review)."""
    import json

    from apigen_mt.runner.lint import lint_tasks

    def line(row: dict) -> None:
        print(json.dumps(row))

    accepted, total, stages = lint_tasks(env, tasks, split, data_dir, review, config, line)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(stages.items()))
    console.print(f"{accepted}/{total} accepted" + (f"; rejected at {detail}"
                                                    if detail else ""))


def rollout(
    run: Path | None = LATEST_RUN_OPT,
    n: int = typer.Option(100, "--n", help="Accepted trajectories wanted in the run."),
    trials: int | None = TRIALS_OPT,
    concurrency: int | None = CONCURRENCY_OPT,
    best_of_n: int | None = typer.Option(None, "--best-of-n",
                                         help="Human candidates per turn (1: off)."),
    config: Path | None = CONFIG_OPT,
    quiet: bool = QUIET_OPT,
    executor: str = EXECUTOR_OPT,
    ray_address: str | None = RAY_ADDRESS_OPT,
    force_config: bool = FORCE_CONFIG_OPT,
    max_cost: float | None = MAX_COST_OPT,
    max_calls: int | None = MAX_CALLS_OPT,
    log_requests: bool = LOG_REQUESTS_OPT,
):
    """Phase 2: play accepted blueprints out; keep conversations their final state proves."""
    result = api.rollout(run, n, trials=trials, concurrency=concurrency, best_of_n=best_of_n,
                         config=config, executor=executor, ray_address=ray_address,
                         force_config=force_config, max_cost=max_cost, max_calls=max_calls,
                         log_requests=log_requests, progress=progress_choice(quiet),
                         command=typed_command(),
                         note=lambda text: console.print(text, highlight=False, soft_wrap=True))
    print_rollouts(result)
    if result.accepted and not result.stopped:
        next_line("export", "--run", str(result.run_dir), "--format", "sharegpt")


def run_all(
    env: str | None = ENV_OPT,
    n: int = typer.Option(100, "--n", help="Accepted trajectories wanted in the run."),
    config: Path | None = CONFIG_OPT,
    run: Path | None = RUN_OPT,
    data_dir: Path | None = DATA_DIR_OPT,
    seed: int | None = SEED_OPT,
    trials: int | None = TRIALS_OPT,
    concurrency: int | None = CONCURRENCY_OPT,
    quiet: bool = QUIET_OPT,
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

    def phase_done(result: BlueprintResult | RolloutResult) -> None:
        if isinstance(result, BlueprintResult):
            print_blueprints(result, quiet)
        else:
            print_rollouts(result)

    result = api.run(env, n, run=run, config=config, data_dir=data_dir, seed=seed,
                     trials=trials, concurrency=concurrency, env_class=env_class,
                     env_config=env_config, env_init=env_init, executor=executor,
                     ray_address=ray_address, force_config=force_config, max_cost=max_cost,
                     max_calls=max_calls, log_requests=log_requests,
                     progress=progress_choice(quiet), command=typed_command(),
                     note=lambda text: console.print(text, highlight=False, soft_wrap=True),
                     on_phase=phase_done)
    if result.stopped:
        return
    if not result.reached:
        console.print(f"stopped short of {n}: see {result.run_dir}")
        raise typer.Exit(1)
    next_line("export", "--run", str(result.run_dir), "--format", "sharegpt")


def register(app: typer.Typer) -> None:
    """Add ``blueprint``, ``rollout`` and ``run``, in that order."""
    app.add_typer(blueprint_app, name="blueprint")
    app.command("rollout")(rollout)
    app.command("run")(run_all)
