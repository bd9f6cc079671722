"""``export``, ``stats`` and ``eval``: what to do with a run once it holds data."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from apigen_mt import bounds
from apigen_mt.atomic import write_atomic
from apigen_mt.errors import RunFailure, UsageError
from apigen_mt.outputs import check_output_file, check_output_folder

console = Console()
EVAL_FILES = ("results.json", "episodes.jsonl", "cache")  # what `eval` writes in --out


def _export(run: Path | None, fmt: str, out: Path | None, split: str | None,
            include_failed: bool, seed: int, license_id: str, skip_invalid: bool) -> None:
    from apigen_mt.export.exporter import ExportOptions, export_run
    from apigen_mt.export.source import RunData
    from apigen_mt.runner.store import resolve_run

    path = resolve_run(run)
    data = RunData.load(path)
    result = export_run(data, ExportOptions(fmt=fmt, out=out, split=split,
                                            include_failed=include_failed, seed=seed,
                                            license=license_id, skip_invalid=skip_invalid))
    parts = ", ".join(f"{name} {info['records']}" for name, info in result.files.items())
    failed = ", ".join(f"{name} {info['records']}" for name, info in result.failed_files.items())
    console.print(f"{result.out}: {fmt} export, {parts} records"
                  + (f"; failures: {failed}" if failed else "")
                  + "; dataset card README.md")
    if result.empty:
        console.print(f"no records, so not written: {', '.join(result.empty)}")
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} record(s), e.g. {result.skipped[0]}")


def _stats(run: Path | None, html: Path | None) -> None:
    from apigen_mt.export.source import RunData
    from apigen_mt.runner.store import resolve_run
    from apigen_mt.stats.compute import compute
    from apigen_mt.stats.html import render_html
    from apigen_mt.stats.terminal import print_stats

    path = resolve_run(run)
    if html is not None:  # before any work: a refusal leaves every file as it was
        check_output_file(html, "--html", input_dirs=[path])
    data = RunData.load(path)
    stats = compute(  # streamed: one record at a time, whatever the size of the run
        env=data.env_name, blueprints=data.blueprints.rows(), rejected=data.rejected.rows(),
        accepted=data.trajectories.rows(), failed=data.failed.rows(), ledger=data.ledger.rows(),
        blueprint_errors=data.blueprint_errors, episode_errors=data.episode_errors,
        tool_kinds=data.tool_kinds, usage=data.usage())
    print_stats(stats, console)
    if html is not None:
        page = render_html(stats, f"apigen-mt run report: {path.name}")
        try:
            html.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(html, page)
        except OSError as exc:
            raise UsageError(f"cannot write {html}: {exc.strerror or exc}") from None
        console.print(f"report written to {html}")


def _default_eval_dir(env: str, tasks: Path, split: str | None, seed: int) -> Path:
    from apigen_mt.runner.store import runs_root

    stem = "-".join(p for p in (Path(env).name, tasks.stem, split) if p)
    return runs_root() / "eval" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', stem)}-seed{seed}"


def _eval(env: str, tasks: Path, split: str | None, data_dir: Path | None, trials: int,
          config: Path | None, concurrency: int | None, out: Path | None,
          quiet: bool, protocol: str = "apigen-mt") -> None:
    from apigen_mt.commands_pipeline import load_config
    from apigen_mt.commands_rollout import rollout_settings
    from apigen_mt.env.tasks import load_tasks
    from apigen_mt.llm.registry import build_role_models
    from apigen_mt.rollout.episode import Roles
    from apigen_mt.runner.build import EnvRef
    from apigen_mt.stats.evaluate import TaskResult, evaluate, summarize, task_to_blueprint

    bounds.check(trials=trials, concurrency=concurrency)
    if out is not None:
        check_output_folder(out, "--out", EVAL_FILES)
    task_rows = load_tasks(tasks, split)
    if not task_rows:
        raise UsageError(f"{tasks} holds no tasks" + (f" in split {split}" if split else ""))
    cfg = load_config(config, {})
    env_ref = EnvRef(env, str(data_dir) if data_dir else None, 0, cfg.tau_compat).resolved()
    environment = env_ref.load()
    env_name = Path(env).name
    for i, task in enumerate(task_rows):
        for j, action in enumerate(task["actions"]):
            if action["name"] not in environment.tools:
                raise UsageError(f"{tasks}: task {task.get('index', i)} action {j} names an "
                                 f"unknown tool '{action['name']}'")
    blueprints = [task_to_blueprint(t, env_name) for t in task_rows]
    from apigen_mt.rollout.settings import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not '{protocol}'")
    settings = rollout_settings(cfg).for_protocol(protocol)
    out_dir = out or _default_eval_dir(env, tasks, split, cfg.seed)
    check_output_folder(out_dir, "--out", EVAL_FILES)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    models = build_role_models(cfg, out_dir)
    roles = Roles(human=models.human, critic=models.critic, agent=models.agent)
    done = [0]
    total = len(blueprints) * trials

    def tick(_traj) -> None:
        done[0] += 1
        if not quiet and (done[0] % 50 == 0 or done[0] == total):
            console.print(f"  {done[0]}/{total} episodes", highlight=False)

    async def go():
        try:
            return await evaluate(blueprints, environment, roles, settings, trials, cfg.seed,
                                  concurrency or settings.concurrency, tick)
        finally:
            await models.aclose()

    outcomes = asyncio.run(go())
    results = [TaskResult(bp, row.get("index", i), trajs)
               for i, (bp, row, trajs) in enumerate(zip(blueprints, task_rows, outcomes,
                                                        strict=True))]
    summary = summarize(results, trials)
    snap = models.usage.snapshot().total
    summary.update({"protocol": protocol, "protocol_rules": PROTOCOLS[protocol],
                    "env": env_ref.as_dict(), "tasks_file": str(tasks), "split": split,
                    "seed": cfg.seed, "models": {"agent": cfg.roles.agent.model,
                                                 "human": cfg.roles.human.model,
                                                 "critic": cfg.roles.critic.model},
                    "usage": snap.model_dump()})
    try:  # each file whole or not at all
        write_atomic(out_dir / "episodes.jsonl", "".join(
            t.model_dump_json() + "\n" for r in results for t in r.outcomes))
        write_atomic(out_dir / "results.json", json.dumps(summary, indent=1) + "\n")
    except OSError as exc:
        raise RunFailure(str(exc)) from None
    _print_passk(summary, trials)
    console.print(f"protocol {protocol}: {PROTOCOLS[protocol]}", highlight=False)
    if models.cache is not None and models.cache.invalid:
        console.print(f"response cache {models.cache.path}: {models.cache.invalid} invalid "
                      "entries ignored and asked again")
    console.print(f"{out_dir}: results.json, episodes.jsonl ({total} episodes, "
                  f"{snap.calls} model calls, ${snap.cost:.4f})")


def _print_passk(summary: dict, trials: int) -> None:
    table = Table(title=f"pass^k over {summary['tasks']} tasks × {trials} trials, "
                        f"protocol {summary.get('protocol', 'apigen-mt')}")
    table.add_column("domain")
    table.add_column("tasks", justify="right")
    for k in range(1, trials + 1):
        table.add_column(f"pass^{k}", justify="right")
    rows = [(d, v) for d, v in summary["per_domain"].items()]
    if len(rows) > 1:
        rows.append(("all", {"tasks": summary["tasks"], "pass_hat_k": summary["pass_hat_k"]}))
    for domain, v in rows:
        table.add_row(domain, str(v["tasks"]),
                      *(f"{v['pass_hat_k'].get(str(k), 0.0):.3f}" for k in range(1, trials + 1)))
    console.print(table)
    if summary.get("failure_reasons"):  # why episodes failed, e.g. an unreadable instruction
        console.print("failed episodes: " + ", ".join(
            f"{reason} {count}" for reason, count in summary["failure_reasons"].items()))


def register(app: typer.Typer) -> None:
    """Add ``export``, ``stats`` and ``eval``."""

    @app.command("export")
    def export(
        fmt: str = typer.Option(..., "--format",
                                help="sharegpt, openai, parquet, hf or dpo."),
        run: Path | None = typer.Option(None, "--run", help="Run directory (default: latest)."),
        out: Path | None = typer.Option(None, "--out",
                                           help="Output folder (default: RUN/export/FORMAT)."),
        split: str | None = typer.Option(None, "--split",
                                            help="By blueprint, e.g. train=0.9,test=0.1."),
        include_failed: bool = typer.Option(False, "--include-failed",
                                            help="Also write failed trajectories, with reasons."),
        seed: int = typer.Option(0, "--seed", help="Seed of the split."),
        license_id: str = typer.Option("cc-by-4.0", "--license",
                                       help="Licence identifier for the dataset card."),
        skip_invalid: bool = typer.Option(False, "--skip-invalid",
                                          help="Leave out records the format rejects (e.g. a "
                                               "malformed tool call) instead of refusing."),
    ):
        """Write the accepted trajectories as training data, with a dataset card."""
        _export(run, fmt, out, split, include_failed, seed, license_id, skip_invalid)

    @app.command("stats")
    def stats(
        run: Path | None = typer.Option(None, "--run", help="Run directory (default: latest)."),
        html: Path | None = typer.Option(None, "--html",
                                            help="Also write a self-contained HTML report."),
    ):
        """Funnel, rejection reasons, distributions, tool coverage, diversity and cost."""
        _stats(run, html)

    @app.command("eval")
    def eval_cmd(
        env: str = typer.Option(..., "--env", help="Environment name or folder."),
        tasks: Path = typer.Option(..., "--tasks",
                                   help="Tasks: a run's blueprints.jsonl or τ-bench tasks.json."),
        split: str | None = typer.Option(None, "--split", help="Split of a splits file."),
        data_dir: Path | None = typer.Option(None, "--data-dir", help="τ-bench-format data."),
        trials: int = typer.Option(5, "--trials", help="Trials per task (k goes up to this)."),
        config: Path | None = typer.Option(None, "--config",
                                              help="Run config YAML (default: offline sim)."),
        concurrency: int | None = typer.Option(None, "--concurrency"),
        out: Path | None = typer.Option(None, "--out",
                                           help="Results folder (default: runs/eval/…)."),
        quiet: bool = typer.Option(False, "--quiet"),
        protocol: str = typer.Option(
            "apigen-mt", "--protocol",
            help="apigen-mt (ours: best-of-N user, strict judge) or tau (τ-bench's "
                 "protocol, so pass^k compares with its published numbers)."),
    ):
        """Play a fixed task set with the configured agent and report pass^k."""
        _eval(env, tasks, split, data_dir, trials, config, concurrency, out, quiet, protocol)
