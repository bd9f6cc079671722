"""``eval``: a fixed task set played with the configured agent, scored as pass^k."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apigen_mt import bounds
from apigen_mt.atomic import write_atomic
from apigen_mt.errors import RunFailure, UsageError
from apigen_mt.llm.usage import UsageStats
from apigen_mt.outputs import check_output_folder
from apigen_mt.runner.opening import load_config, rollout_settings

EVAL_FILES = ("results.json", "episodes.jsonl", "cache")  # what `eval` writes in --out


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation wrote and found."""

    summary: dict[str, Any]  # results.json
    out: Path
    episodes: int
    usage: UsageStats
    cache_invalid: int = 0


def default_eval_dir(env: str, tasks: Path, split: str | None, seed: int) -> Path:
    from apigen_mt.runner.store import runs_root

    stem = "-".join(p for p in (Path(env).name, tasks.stem, split) if p)
    return runs_root() / "eval" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', stem)}-seed{seed}"


def evaluate_tasks(env: str, tasks: Path, split: str | None, data_dir: Path | None,
                   trials: int, config: Path | None, concurrency: int | None,
                   out: Path | None, protocol: str = "apigen-mt",
                   tick: Callable[[int, int], None] | None = None) -> EvalResult:
    """Play every task ``trials`` times with the configured agent; write results.json and
    episodes.jsonl (each whole or not at all) and return the summary."""
    from apigen_mt.llm.registry import build_role_models
    from apigen_mt.rollout.settings import PROTOCOLS
    from apigen_mt.stats.evaluate import TaskResult, summarize, task_to_blueprint

    bounds.check(trials=trials, concurrency=concurrency)
    if out is not None:
        check_output_folder(out, "--out", EVAL_FILES)
    task_rows = _load_task_rows(tasks, split)
    cfg = load_config(config, {})
    env_ref, environment = _load_checked_env(env, data_dir, cfg, tasks, task_rows)
    blueprints = [task_to_blueprint(t, Path(env).name) for t in task_rows]
    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not '{protocol}'")
    settings = rollout_settings(cfg).for_protocol(protocol)
    out_dir = _open_out_dir(out or default_eval_dir(env, tasks, split, cfg.seed))
    models = build_role_models(cfg, out_dir)
    total = len(blueprints) * trials
    outcomes = _play(blueprints, environment, models, settings, trials, cfg.seed,
                     concurrency or settings.concurrency, total, tick)
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
    _write_results(out_dir, results, summary)
    return EvalResult(summary=summary, out=out_dir, episodes=total, usage=snap,
                      cache_invalid=models.cache.invalid if models.cache is not None else 0)


def _load_task_rows(tasks: Path, split: str | None) -> list[dict]:
    """The task file's rows (of ``split``), refusing a file that holds none."""
    from apigen_mt.env.tasks import load_tasks

    task_rows = load_tasks(tasks, split)
    if not task_rows:
        raise UsageError(f"{tasks} holds no tasks" + (f" in split {split}" if split else ""))
    return task_rows


def _load_checked_env(env: str, data_dir: Path | None, cfg, tasks: Path,
                      task_rows: list[dict]):
    """The environment reference and the loaded environment, refusing any task action
    that names a tool the environment does not have."""
    from apigen_mt.runner.build import EnvRef

    env_ref = EnvRef(env, str(data_dir) if data_dir else None, 0, cfg.tau_compat).resolved()
    environment = env_ref.load()
    for i, task in enumerate(task_rows):
        for j, action in enumerate(task["actions"]):
            if action["name"] not in environment.tools:
                raise UsageError(f"{tasks}: task {task.get('index', i)} action {j} names an "
                                 f"unknown tool '{action['name']}'")
    return env_ref, environment


def _open_out_dir(out_dir: Path) -> Path:
    """``out_dir`` checked to hold nothing but an evaluation's files, and created."""
    check_output_folder(out_dir, "--out", EVAL_FILES)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    return out_dir


def _play(blueprints, environment, models, settings, trials: int, seed: int,
          concurrency: int, total: int, tick: Callable[[int, int], None] | None) -> list:
    """Every blueprint played ``trials`` times; ``tick(done, total)`` after each episode;
    the models are closed at the end."""
    from apigen_mt.rollout.episode import Roles
    from apigen_mt.stats.evaluate import evaluate

    roles = Roles(human=models.human, critic=models.critic, agent=models.agent)
    done = [0]

    def ticked(_traj) -> None:
        done[0] += 1
        if tick is not None:
            tick(done[0], total)

    async def go():
        try:
            return await evaluate(blueprints, environment, roles, settings, trials, seed,
                                  concurrency, ticked)
        finally:
            await models.aclose()

    return asyncio.run(go())


def _write_results(out_dir: Path, results: list, summary: dict[str, Any]) -> None:
    """episodes.jsonl and results.json, each whole or not at all."""
    try:
        write_atomic(out_dir / "episodes.jsonl", "".join(
            t.model_dump_json() + "\n" for r in results for t in r.outcomes))
        write_atomic(out_dir / "results.json", json.dumps(summary, indent=1) + "\n")
    except OSError as exc:
        raise RunFailure(str(exc)) from None
