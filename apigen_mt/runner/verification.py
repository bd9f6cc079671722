"""Judging conversations made elsewhere against their tasks, replaying every call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import orjson

from apigen_mt.errors import UsageError
from apigen_mt.runner.opening import load_config, rollout_settings
from apigen_mt.runner.results import VerifyResult


def protocol_settings(config: Path | None, protocol: str):
    """The rollout settings of the config, under ``protocol``."""
    from apigen_mt.rollout.settings import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not '{protocol}'")
    return rollout_settings(load_config(config, {})).for_protocol(protocol)


def verify_conversations(env: str, tasks: Path, conversations: Path, *,
                         data_dir: Path | None = None, split: str | None = None,
                         out: Path | None = None, protocol: str = "apigen-mt",
                         config: Path | None = None, sink: BinaryIO | None = None,
                         on_problem: Callable[[str], None] | None = None) -> VerifyResult:
    """One JSON line per conversation into ``out`` (written whole or not at all, with a
    closing summary line) or else ``sink``; problems go to ``on_problem`` as they come."""
    from apigen_mt.env.tasks import load_tasks
    from apigen_mt.rollout.verify import TaskIndex
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
    environment = EnvRef(env, str(data_dir) if data_dir else None, 0,
                         load_config(config, {}).tau_compat).load()
    index = TaskIndex(rows, Path(env).name)
    tmp = None
    if out is not None:
        tmp, sink = _open_tmp(out)
    done = False
    try:
        summary, line = _judge_all(conversations, index, environment, settings, protocol,
                                   sink, on_problem, closing=tmp is not None)
        done = True
    finally:
        if tmp is not None and sink is not None:
            sink.close()
            if not done:  # never leave half a file behind
                tmp.unlink(missing_ok=True)
    if tmp is not None and out is not None:
        tmp.replace(out)
    elif sink is not None:
        sink.flush()
    return VerifyResult(passed=summary.passed, judged=summary.judged,
                        agreement=(summary.agree, summary.with_reward),
                        problems=[p.render() if hasattr(p, "render") else str(p)
                                  for p in summary.problems],
                        line=line, out=out)


def _open_tmp(out: Path) -> tuple[Path, BinaryIO]:
    """A hidden file beside ``out``, open for writing, to be renamed into place."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.tmp"
        return tmp, open(tmp, "wb")  # closed by the caller, then renamed into place
    except OSError as exc:
        raise UsageError(f"--out: cannot write {out}: {exc.strerror or exc}") from None


def _judge_all(conversations: Path, index, environment, settings, protocol: str,
               sink: BinaryIO | None, on_problem: Callable[[str], None] | None, *,
               closing: bool):
    """Every conversation judged: each outcome a JSON line into ``sink``, each problem to
    ``on_problem``; with ``closing``, a summary line last. Returns the summary and its
    one-line rendering."""
    from apigen_mt.rollout.verify import Outcome, Summary, tally, verify_file

    summary = Summary()
    for item in verify_file(conversations, index, environment, settings):
        tally(summary, item)
        if isinstance(item, Outcome):
            if sink is not None:
                sink.write(orjson.dumps(item.row()) + b"\n")
        elif on_problem is not None:
            on_problem(item.render())
    line = f"{summary.line()} (protocol {protocol})"
    if closing and sink is not None:
        sink.write(orjson.dumps({"summary": line, "passed": summary.passed,
                                 "judged": summary.judged,
                                 "agreement": [summary.agree, summary.with_reward],
                                 "problems": len(summary.problems)}) + b"\n")
    return summary, line
