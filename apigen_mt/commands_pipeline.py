"""Pipeline commands: ``blueprint`` (and ``blueprint check``), ``rollout``, ``run``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from apigen_mt.errors import UsageError

console = Console()
blueprint_app = typer.Typer(help="Phase 1: draft and verify task blueprints.")

CONFIG_OPT = typer.Option(None, "--config", help="Run config YAML (default: offline sim).")


def load_config(path: Path | None, overrides: dict[str, Any]):
    """The run config: file < environment < these flags."""
    from apigen_mt.config import RunConfig

    return RunConfig.load(path, {k: v for k, v in overrides.items() if v is not None})


def _positive(name: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{name} must be a positive number, got {value}")


def open_run(out: Path | None, env_ref, config, command: str):
    """Open (and lock) the run directory; refuse one that belongs to another environment."""
    from apigen_mt.runner.store import RunDir, default_run_dir, remember_latest

    path = out or default_run_dir(env_ref.spec, config.seed)
    run = RunDir(path).open()
    manifest = run.manifest()
    if manifest and (manifest.get("env") != env_ref.as_dict()
                     or manifest.get("seed") != config.seed):
        run.close()
        raise UsageError(f"{path} holds a run of env {manifest.get('env', {}).get('spec')} with "
                         f"seed {manifest.get('seed')}; use another --out")
    run.update_manifest(env=env_ref.as_dict(), seed=config.seed,
                        commands=[*manifest.get("commands", []), command][-20:])
    run.write_json("config.json", config.redacted_dump())
    remember_latest(path)
    return run


def add_usage(run, phase: str, snapshot) -> float:
    """Accumulate this invocation's usage into the manifest; returns the phase's total cost."""
    manifest = run.manifest()
    usage = manifest.get("usage", {})
    prev = usage.get(phase, {})
    total = snapshot.total
    merged = {k: prev.get(k, 0) + getattr(total, k) for k in
              ("calls", "cache_hits", "errors", "prompt_tokens", "completion_tokens",
               "cached_tokens", "cost", "saved_cost")}
    usage[phase] = merged
    run.update_manifest(usage=usage)
    return merged["cost"]


@blueprint_app.callback(invoke_without_command=True)
def blueprint(
    ctx: typer.Context,
    env: str | None = typer.Option(None, "--env", help="Environment name or folder."),
    n: int = typer.Option(200, "--n", help="Accepted blueprints wanted."),
    config: Path | None = CONFIG_OPT,
    out: Path | None = typer.Option(None, "--out", help="Run directory."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="τ-bench-format data."),
    seed: int | None = typer.Option(None, "--seed"),
    concurrency: int | None = typer.Option(None, "--concurrency"),
    drafter: str | None = typer.Option(None, "--drafter", help="llm or walk."),
    quiet: bool = typer.Option(False, "--quiet", help="No live progress."),
):
    """Draft blueprints and keep those that pass every check."""
    if ctx.invoked_subcommand is not None:
        return
    if env is None:
        raise UsageError("--env is required (see `apigen-mt env list`)")
    _positive("--n", n)
    _positive("--concurrency", concurrency)
    cfg = load_config(config, {"seed": seed, "blueprint.drafter": drafter})
    run_blueprint_phase(cfg, env, data_dir, n, out, concurrency, quiet)


def run_blueprint_phase(cfg, env: str, data_dir: Path | None, n: int, out: Path | None,
                        concurrency: int | None, quiet: bool):
    """Phase 1 end to end, with progress and the closing funnel; returns the run dir."""
    from apigen_mt.runner.build import EnvRef, build_phase1
    from apigen_mt.runner.funnel import Funnel
    from apigen_mt.runner.phase1 import ACCEPTED, REJECTED, run_phase1
    from apigen_mt.runner.progress import Progress

    env_ref = EnvRef(env, str(data_dir) if data_dir else None, 0)
    env_ref.load()  # fail on a bad name or data dir before touching the disk
    run = open_run(out, env_ref, cfg, f"blueprint --n {n}")
    try:
        phase, models = build_phase1(cfg, env_ref, run.path)
        conc = concurrency or phase.settings.concurrency
        progress = Progress("blueprints", n, models.usage.snapshot,
                            enabled=False if quiet else None)

        async def go():
            try:
                with progress:
                    return await run_phase1(phase, run, n, conc, progress)
            finally:
                await models.aclose()

        outcome = asyncio.run(go())
        cost = add_usage(run, "blueprint", models.usage.snapshot())
        accepted = list(run.log(ACCEPTED).rows())
        rejected = list(run.log(REJECTED).rows())
        if not quiet:
            Funnel.from_records(accepted, rejected).print(console, cost)
        snap = models.usage.snapshot().total
        console.print(f"{run.path}: {outcome.accepted_total} accepted "
                      f"(+{outcome.added} this run, {outcome.rejected} rejected, "
                      f"{outcome.errored} errored; {snap.calls} model calls, "
                      f"{snap.cache_hits} from cache)")
        run.update_manifest(blueprints={"accepted": len(accepted), "rejected": len(rejected)})
        return run.path
    finally:
        run.close()


@blueprint_app.command("check")
def blueprint_check(
    env: str = typer.Option(..., "--env", help="Environment name or folder."),
    tasks: Path = typer.Option(..., "--tasks", help="Tasks file (same shapes as env replay)."),
    split: str | None = typer.Option(None, "--split"),
    data_dir: Path | None = typer.Option(None, "--data-dir"),
    review: bool = typer.Option(False, "--review", help="Also run the review committee."),
    config: Path | None = CONFIG_OPT,
):
    """Lint hand-written tasks: format, execution, policy (and committee with --review)."""
    from apigen_mt.blueprint.produce import run_checks
    from apigen_mt.env.tasks import load_tasks
    from apigen_mt.runner.build import EnvRef, build_phase1

    task_list = load_tasks(tasks, split)
    cfg = load_config(config, {})
    env_ref = EnvRef(env, str(data_dir) if data_dir else None, 0)
    phase, models = build_phase1(cfg, env_ref, None)
    stages: dict[str, int] = {}

    async def go():
        accepted = 0
        try:
            for i, task in enumerate(task_list):
                draft = {k: task[k] for k in ("user_id", "instruction", "actions", "outputs")
                         if k in task}
                draft.setdefault("instruction", "(no instruction)")
                verdicts, _, _ = await run_checks(phase, draft, review=review,
                                                  require_change=False)
                last = verdicts[-1]
                accepted += last.passed
                if not last.passed:
                    stages[last.stage] = stages.get(last.stage, 0) + 1
                print(json.dumps({"index": task.get("index", i), "accepted": last.passed,
                                  "stage": last.stage, "reasons": last.reasons}))
        finally:
            await models.aclose()
        return accepted

    accepted = asyncio.run(go())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(stages.items()))
    console.print(f"{accepted}/{len(task_list)} accepted" + (f"; rejected at {detail}"
                                                              if detail else ""))


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the main app."""
    app.add_typer(blueprint_app, name="blueprint")
    from apigen_mt.commands_rollout import register as register_rollout

    register_rollout(app)
