"""``env``: list, show, replay and generate the data of environments."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from apigen_mt import bounds
from apigen_mt.atomic import write_atomic
from apigen_mt.errors import UsageError
from apigen_mt.outputs import check_output_file, check_output_folder

env_app = typer.Typer(no_args_is_help=True, help="Inspect and exercise environments.")
console = Console()


@env_app.command("list")
def env_list():
    """List the environments that can be loaded by name."""
    from apigen_mt.env.domain import available, load_domain

    for name in available():
        domain = load_domain(name)
        writes = sum(t.kind == "write" for t in domain.tools)
        console.print(f"{name:<12} {len(domain.tools):>3} tools ({writes} write)  "
                      f"{domain.description}")


@env_app.command("show")
def env_show(name: str = typer.Argument(..., help="Environment name or folder.")):
    """Show an environment's tools, their read/write tags and its API graph."""
    from apigen_mt.env.domain import load_domain
    from apigen_mt.env.graph import ApiGraph

    domain = load_domain(name)
    table = Table(title=f"{domain.name}: tools")
    for col in ("tool", "kind", "arguments", "ends"):
        table.add_column(col)
    for t in domain.tools:
        table.add_row(t.name, t.kind, ", ".join(t.parameters.get("properties", {})),
                      "yes" if t.ends_conversation else "")
    console.print(table)
    graph = ApiGraph.build(domain.tools, domain.graph_add, domain.graph_remove)
    console.print("[bold]API graph[/bold]")
    for line in graph.render():
        console.print("  " + line)
    if domain.rules:
        console.print("[bold]Policy rules[/bold]")
        for rule in domain.rules:
            tag = " (conversation only)" if rule.conversation_only else ""
            console.print(f"  {rule.name}{tag}: {rule.description}")


@env_app.command("replay")
def env_replay(
    env: str = typer.Option(..., "--env", help="Environment name or folder."),
    tasks: Path = typer.Option(..., "--tasks", help="JSON list of tasks, {splits: …}, or JSONL."),
    split: str | None = typer.Option(None, "--split", help="Split to use from a splits file."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="τ-bench-format data."),
    hash_method: str = typer.Option("canonical", "--hash", help="tau or canonical."),
    dump_state: Path | None = typer.Option(None, "--dump-state",
                                              help="Write each final state's changes here."),
):
    """Replay each task's actions on a fresh copy; print one JSON line per task."""
    from apigen_mt.env.domain import load_environment
    from apigen_mt.env.tasks import load_tasks, replay_task

    if hash_method not in ("tau", "canonical"):
        raise UsageError(f"--hash must be 'tau' or 'canonical', not '{hash_method}'")
    if dump_state is not None:  # before any work: a refusal leaves every file as it was
        check_output_file(dump_state, "--dump-state", inputs=[tasks], input_dirs=[data_dir])
    task_list = load_tasks(tasks, split)
    # τ-bench's hashes only mean something with τ-bench's exact tools
    environment = load_environment(env, data_dir=data_dir,
                                   tau_compat=True if hash_method == "tau" else None)
    dumps = []
    for i, task in enumerate(task_list):
        result = replay_task(environment, task, method=hash_method)  # type: ignore[arg-type]
        index = task.get("index", i)
        print(json.dumps({"index": index, "hash": result["hash"], "errors": result["errors"]}))
        if dump_state is not None:
            dumps.append({"index": index, "changes": result["env"].state.changes()})
    if dump_state is not None:
        try:
            write_atomic(dump_state, json.dumps(dumps, indent=1))
        except OSError as exc:
            raise UsageError(str(exc)) from None


@env_app.command("data")
def env_data(
    name: str = typer.Argument(..., help="Environment name."),
    out: Path = typer.Option(..., "--out", help="Folder to write <table>.json files into."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generator."),
    size: list[str] = typer.Option([], "--size", help="Generator option, e.g. users=5000."),
    users: int | None = typer.Option(None, "--users", help="Number of users."),
):
    """Generate a domain's data (same seed and options, byte-identical files)."""
    from apigen_mt.env.domain import load_domain

    bounds.check(seed=seed, users=users)
    domain = load_domain(name)
    check_output_folder(out, "--out", [f"{t}.json" for t in domain.tables])
    options: dict[str, int] = {}
    for item in size:
        key, _, value = item.partition("=")
        if key not in domain.generator_options or not value.isdigit():
            raise UsageError(f"--size expects KEY=N with KEY one of "
                             f"{', '.join(domain.generator_options) or '(none)'}")
        options[key] = int(value)
    if users is not None:
        if users <= 0:
            raise UsageError("--users must be positive")
        options["users"] = users
    tables = domain.generate(seed=seed, **options)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for table, records in tables.items():
            write_atomic(out / f"{table}.json",
                         json.dumps(records, indent=2, sort_keys=False) + "\n")
    except OSError as exc:
        raise UsageError(str(exc) if "cannot write" in str(exc)
                         else f"cannot write to {out}: {exc.strerror or exc}") from None
    console.print(f"wrote {', '.join(f'{t}.json ({len(r)})' for t, r in tables.items())} "
                  f"to {out}")
