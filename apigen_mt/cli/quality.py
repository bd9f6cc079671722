"""``eval`` and ``verify``: how good a model is on fixed tasks, and whether conversations
made elsewhere hold up against theirs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from apigen_mt import api
from apigen_mt.cli.common import CONCURRENCY_OPT, QUIET_OPT, console
from apigen_mt.errors import RunFailure

PROTOCOL_OPT = typer.Option("apigen-mt", "--protocol",
                            help="Judge rules: apigen-mt (ours, the default) or tau "
                                 "(τ-bench's reward: target state and outputs).")


def eval_cmd(
    env: str = typer.Option(..., "--env", help="Environment name or folder."),
    tasks: Path = typer.Option(..., "--tasks",
                               help="Tasks: a run's blueprints.jsonl or τ-bench tasks.json."),
    split: str | None = typer.Option(None, "--split", help="Split of a splits file."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="τ-bench-format data."),
    trials: int = typer.Option(5, "--trials", help="Trials per task (k goes up to this)."),
    config: Path | None = typer.Option(None, "--config",
                                       help="Run config YAML (default: offline sim)."),
    concurrency: int | None = CONCURRENCY_OPT,
    out: Path | None = typer.Option(None, "--out", "--run",
                                    help="Results folder (default: runs/eval/…; --run is "
                                         "the same)."),
    quiet: bool = QUIET_OPT,
    protocol: str = typer.Option(
        "apigen-mt", "--protocol",
        help="apigen-mt (ours: best-of-N user, strict judge) or tau (τ-bench's "
             "protocol, so pass^k compares with its published numbers)."),
):
    """Play a fixed task set with the configured agent and report pass^k."""
    from apigen_mt.rollout.settings import PROTOCOLS

    def tick(done: int, total: int) -> None:
        if not quiet and (done % 50 == 0 or done == total):
            console.print(f"  {done}/{total} episodes", highlight=False)

    result = api.evaluate(env, tasks, split=split, data_dir=data_dir, trials=trials,
                          config=config, concurrency=concurrency, out=out, protocol=protocol,
                          on_episode=tick)
    _print_passk(result.summary, trials)
    console.print(f"protocol {protocol}: {PROTOCOLS[protocol]}", highlight=False)
    if result.cache_invalid:
        console.print(f"response cache: {result.cache_invalid} invalid entries ignored and "
                      "asked again")
    console.print(f"{result.out}: results.json, episodes.jsonl ({result.episodes} episodes, "
                  f"{result.usage.calls} model calls, ${result.usage.cost:.4f})")


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


def verify(
    env: str = typer.Option(..., "--env", help="Environment name or folder."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="τ-bench-format data."),
    tasks: Path = typer.Option(..., "--tasks",
                               help="Tasks: a run's blueprints.jsonl or τ-bench tasks.json."),
    split: str | None = typer.Option(None, "--split", help="Split of a splits file."),
    conversations: Path = typer.Option(
        ..., "--conversations",
        help="OpenAI chat JSONL (with blueprint_id or task_index), τ-bench results "
             "JSON, or a trajectories file."),
    out: Path | None = typer.Option(None, "--out",
                                    help="Write the JSON lines here (default: stdout)."),
    protocol: str = PROTOCOL_OPT,
    config: Path | None = typer.Option(None, "--config",
                                       help="Run config YAML (its rollout.judge rules)."),
):
    """Judge conversations made elsewhere against their tasks, replaying every call."""
    result = api.verify(env, tasks, conversations, data_dir=data_dir, split=split, out=out,
                        protocol=protocol, config=config,
                        sink=sys.stdout.buffer if out is None else None,
                        on_problem=lambda text: print(f"problem: {text}", file=sys.stderr))
    print(result.line)
    if result.problems:
        raise RunFailure(f"{len(result.problems)} problem(s) in {conversations}; the other "
                         "conversations were judged")


def register(app: typer.Typer) -> None:
    """Add ``eval`` and ``verify``."""
    app.command("eval")(eval_cmd)
    app.command("verify")(verify)
