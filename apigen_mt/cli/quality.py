"""``verify``: judge conversations made elsewhere against their tasks."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer

from apigen_mt.errors import RunFailure, UsageError

PROTOCOL_OPT = typer.Option("apigen-mt", "--protocol",
                            help="Judge rules: apigen-mt (ours, the default) or tau "
                                 "(τ-bench's reward: target state and outputs).")


def protocol_settings(config: Path | None, protocol: str):
    """The rollout settings of the config, under ``protocol``."""
    from apigen_mt.commands_pipeline import load_config
    from apigen_mt.commands_rollout import rollout_settings
    from apigen_mt.rollout.settings import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not '{protocol}'")
    return rollout_settings(load_config(config, {})).for_protocol(protocol)


def _verify(env: str, data_dir: Path | None, tasks: Path, split: str | None,
            conversations: Path, out: Path | None, protocol: str,
            config: Path | None) -> None:
    from apigen_mt.env.tasks import load_tasks
    from apigen_mt.rollout.verify import Outcome, Summary, TaskIndex, tally, verify_file
    from apigen_mt.runner.build import EnvRef

    if not conversations.is_file():
        raise UsageError(f"--conversations: file not found: {conversations}")
    if out is not None:  # never over an input or a run's file, before any work
        from apigen_mt.outputs import check_output_file

        check_output_file(out, "--out", inputs=[conversations, tasks],
                          input_dirs=[data_dir])
    settings = protocol_settings(config, protocol)
    rows = load_tasks(tasks, split)
    # τ-bench's own data selects τ-bench's exact tools by itself; `tau_compat` forces them
    from apigen_mt.commands_pipeline import load_config

    environment = EnvRef(env, str(data_dir) if data_dir else None, 0,
                         load_config(config, {}).tau_compat).load()
    index = TaskIndex(rows, Path(env).name)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.parent / f".{out.name}.tmp"
            sink = open(tmp, "wb")  # noqa: SIM115 (closed below, renamed into place)
        except OSError as exc:
            raise UsageError(f"--out: cannot write {out}: {exc.strerror or exc}") from None
    else:
        tmp, sink = None, sys.stdout.buffer
    summary = Summary()
    done = False
    try:
        for item in verify_file(conversations, index, environment, settings):
            tally(summary, item)
            if isinstance(item, Outcome):
                sink.write(orjson.dumps(item.row()) + b"\n")
            else:
                print(f"problem: {item.render()}", file=sys.stderr)
        line = f"{summary.line()} (protocol {protocol})"
        if out is not None:
            sink.write(orjson.dumps({"summary": line, "passed": summary.passed,
                                     "judged": summary.judged,
                                     "agreement": [summary.agree, summary.with_reward],
                                     "problems": len(summary.problems)}) + b"\n")
        done = True
    finally:
        if tmp is not None:
            sink.close()
            if not done:  # never leave half a file behind
                tmp.unlink(missing_ok=True)
    if tmp is not None:
        tmp.replace(out)
    else:
        sys.stdout.flush()
    print(line)
    if summary.problems:
        raise RunFailure(f"{len(summary.problems)} problem(s) in {conversations}; the other "
                         "conversations were judged")


def register(app: typer.Typer) -> None:
    """Add ``verify``."""

    @app.command("verify")
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
        _verify(env, data_dir, tasks, split, conversations, out, protocol, config)
