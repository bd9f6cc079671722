"""What every command module shares: the console, the options several commands take, the
command line as typed, and the ``next:`` hint."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import typer
from rich.console import Console

console = Console()

PROGRESS_ENV = "APIGEN_MT_PROGRESS"  # bar (as on a terminal), off, or unset: a terminal decides


def progress_choice(quiet: bool) -> bool | None:
    """The live bar: off with --quiet, forced by APIGEN_MT_PROGRESS=bar, else a tty's."""
    if quiet:
        return False
    wanted = os.environ.get(PROGRESS_ENV, "").strip().lower()
    return {"bar": True, "off": False}.get(wanted)


TYPED: list[str] = []  # the arguments of the command being run, set by the root group


def typed_command() -> str:
    """The command line as the user typed it (``run --env retail --n 100``), for the
    manifest and the resume hints."""
    return shlex.join(TYPED)


def next_line(*args: str) -> None:
    """``next: apigen-mt …``: the command to run after this one."""
    console.print("next: apigen-mt " + shlex.join(args), highlight=False, soft_wrap=True)


RUN_OPT = typer.Option(None, "--run", "--out", help="Run directory (--out is the same).")
LATEST_RUN_OPT = typer.Option(None, "--run", help="Run directory (default: the latest run).")
CONFIG_OPT = typer.Option(None, "--config", help="Run config YAML (default: offline sim).")
SEED_OPT = typer.Option(None, "--seed", help="Seed of the run (default 0 or the config's).")
CONCURRENCY_OPT = typer.Option(None, "--concurrency",
                               help="Items worked on at once (default: the config's).")
QUIET_OPT = typer.Option(False, "--quiet", help="No live progress bar and no blueprint funnel.")
DATA_DIR_OPT = typer.Option(None, "--data-dir", help="τ-bench-format data folder.")
ENV_OPT = typer.Option(None, "--env", help="Environment name or folder.")
EXECUTOR_OPT = typer.Option("local", "--executor",
                            help="local (asyncio, this process) or ray (Ray actors).")
FORCE_CONFIG_OPT = typer.Option(False, "--force-config",
                                help="Resume a run made with another configuration (the "
                                     "change is recorded in its manifest).")
LOG_REQUESTS_OPT = typer.Option(False, "--log-requests",
                                help="Write every model request and reply (secrets removed) "
                                     "to requests.jsonl in the run directory.")
RAY_ADDRESS_OPT = typer.Option(None, "--ray-address",
                               help="Ray cluster to join (auto, ray://host:10001); "
                                    "default: start a local Ray. Implies --executor ray.")
ENV_CLASS_OPT = typer.Option(None, "--env-class",
                             help="A Python class as the environment: package.module:Class.")
ENV_CONFIG_OPT = typer.Option(None, "--env-config",
                              help="JSON with the class's initial state (with --env-class).")
ENV_INIT_OPT = typer.Option(None, "--env-init",
                            help="How --env-config is applied: constructor, attributes, or "
                                 "a loader method's name (default: the one that fits).")
MAX_COST_OPT = typer.Option(None, "--max-cost",
                            help="Stop cleanly once the run has spent this many USD "
                                 "(all invocations of the run count).")
MAX_CALLS_OPT = typer.Option(None, "--max-calls",
                             help="Stop cleanly after this many paid model calls in the run.")
TRIALS_OPT = typer.Option(None, "--trials", help="Trials per blueprint (default: the config's).")


def run_arg(path: Path) -> str:
    """A run directory as a command argument."""
    return str(path)
