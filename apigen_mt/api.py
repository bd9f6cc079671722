"""The pipeline from Python: the same steps as the command line, with typed results.

    import apigen_mt
    result = apigen_mt.run(env="retail", n=100)       # offline sim, runs/retail-seed0
    print(result.accepted, result.run_dir)
    apigen_mt.export("sharegpt", run=result.run_dir)

Every call resumes the run directory it is given (or the latest one), refuses bad input
with :class:`~apigen_mt.errors.UsageError` before any file is touched, raises
:class:`~apigen_mt.errors.RunFailure` when the job cannot complete and
:class:`~apigen_mt.errors.Interrupted` on Ctrl-C (what was spent is recorded either way).
A budget stop is not an error: the result's ``stopped`` says why.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from apigen_mt import bounds
from apigen_mt.runner.results import BlueprintResult, RolloutResult, RunResult, VerifyResult

__all__ = ["blueprint", "evaluate", "export", "rollout", "run", "verify"]

PathLike = str | Path


def _path(value: PathLike | None) -> Path | None:
    return None if value is None else Path(value)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _call(name: str, **kwargs: Any) -> str:
    """How a call is recorded in the manifest's ``commands``: as it was written."""
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if v not in (None, False))
    return f"apigen_mt.{name}({args})"


def _run_seed(run: Path | None, seed: int | None) -> int | None:
    """The seed given, else the one an existing run directory was made with."""
    if seed is not None or run is None or not (run / "manifest.json").is_file():
        return seed
    from apigen_mt.fileio import read_json

    return (read_json(run / "manifest.json", "manifest") or {}).get("seed")


def _setup(config, overrides, executor, ray_address, max_cost, max_calls, run_seed=None):
    """The config (``run_seed``: an existing run's own seed, used when no --seed is
    given, after the config and environment have been checked as they are), the
    executor and the budget."""
    from apigen_mt.runner.accounting import make_budget
    from apigen_mt.runner.opening import executor_choice, load_config

    budget = make_budget(max_cost, max_calls)
    executor = executor_choice(executor, ray_address)
    cfg = load_config(_path(config), overrides)
    if overrides.get("seed") is None and run_seed is not None and run_seed != cfg.seed:
        cfg = load_config(_path(config), {**overrides, "seed": run_seed})
    return cfg, executor, budget


def blueprint(env: str | None = None, n: int = 200, *, run: PathLike | None = None,
              config: PathLike | None = None, data_dir: PathLike | None = None,
              seed: int | None = None, concurrency: int | None = None,
              drafter: str | None = None, env_class: str | None = None,
              env_config: PathLike | None = None, env_init: str | None = None,
              executor: str = "local", ray_address: str | None = None,
              force_config: bool = False, max_cost: float | None = None,
              max_calls: int | None = None, log_requests: bool = False,
              max_slots: int | None = None, progress: bool = False,
              command: str | None = None) -> BlueprintResult:
    """Phase 1: draft blueprints until the run holds ``n`` that pass every check.

    ``run`` is the run directory (default ``runs/<env>-seed<seed>``; an existing run
    needs no ``env``). ``command`` is what the manifest records (default: this call).
    """
    from apigen_mt.runner.opening import resolve_env
    from apigen_mt.runner.pipeline import blueprint_phase

    command = command or _call("blueprint", env=env, n=n, run=run, seed=seed)
    env, data_dir = resolve_env(env, _path(data_dir), env_class, _path(env_config), env_init,
                                _path(run))
    bounds.check(n=n, concurrency=concurrency, seed=seed, max_slots=max_slots)
    cfg, executor, budget = _setup(config, {"seed": seed, "blueprint.drafter": drafter,
                                            "request_log": log_requests or None},
                                   executor, ray_address, max_cost, max_calls,
                                   _run_seed(_path(run), seed))
    return blueprint_phase(cfg, env, data_dir, n, _path(run), concurrency=concurrency,
                           progress=progress, executor=executor, ray_address=ray_address,
                           force_config=force_config, max_slots=max_slots, budget=budget,
                           command=command)


def rollout(run: PathLike | None = None, n: int = 100, *, trials: int | None = None,
            concurrency: int | None = None, best_of_n: int | None = None,
            config: PathLike | None = None, executor: str = "local",
            ray_address: str | None = None, force_config: bool = False,
            max_cost: float | None = None, max_calls: int | None = None,
            log_requests: bool = False, progress: bool = False, command: str | None = None,
            note: Callable[[str], None] = _stderr) -> RolloutResult:
    """Phase 2: play the run's blueprints until it holds ``n`` accepted trajectories.

    ``run`` defaults to the latest run. When the blueprints cannot give ``n`` (blueprints
    × trials), ``note`` hears it before any work; the result's ``exhausted`` says the
    trials ran out (``run()`` drafts more blueprints as needed).
    """
    from apigen_mt.runner.opening import check_models
    from apigen_mt.runner.pipeline import rollout_phase
    from apigen_mt.runner.store import resolve_run

    command = command or _call("rollout", run=run, n=n, trials=trials)
    bounds.check(n=n, trials=trials, concurrency=concurrency, best_of_n=best_of_n)
    cfg, executor, budget = _setup(config, {"request_log": log_requests or None},
                                   executor, ray_address, max_cost, max_calls)
    run_path = resolve_run(_path(run))
    check_models(cfg)  # a missing key or an unreachable endpoint: before any file
    return rollout_phase(cfg, run_path, n, trials=trials, concurrency=concurrency,
                         best_of_n=best_of_n, progress=progress, executor=executor,
                         ray_address=ray_address, force_config=force_config, budget=budget,
                         command=command, note=note)


def run(env: str | None = None, n: int = 100, *, run: PathLike | None = None,
        config: PathLike | None = None, data_dir: PathLike | None = None,
        seed: int | None = None, trials: int | None = None, concurrency: int | None = None,
        env_class: str | None = None, env_config: PathLike | None = None,
        env_init: str | None = None, executor: str = "local", ray_address: str | None = None,
        force_config: bool = False, max_cost: float | None = None,
        max_calls: int | None = None, log_requests: bool = False, progress: bool = False,
        command: str | None = None, note: Callable[[str], None] = _stderr,
        on_phase: Callable[[BlueprintResult | RolloutResult], None] | None = None,
        ) -> RunResult:
    """Both phases until the run holds ``n`` accepted trajectories, drafting more
    blueprints while trials run out. ``on_phase`` hears each phase's result as it ends."""
    from apigen_mt.runner.opening import resolve_env
    from apigen_mt.runner.pipeline import run_pipeline

    run_dir = _path(run)
    command = command or _call("run", env=env, n=n, run=run, seed=seed)
    env, data_dir = resolve_env(env, _path(data_dir), env_class, _path(env_config), env_init,
                                run_dir)
    bounds.check(n=n, trials=trials, concurrency=concurrency, seed=seed)
    cfg, executor, budget = _setup(config, {"seed": seed, "request_log": log_requests or None},
                                   executor, ray_address, max_cost, max_calls,
                                   _run_seed(run_dir, seed))
    return run_pipeline(cfg, env, data_dir, n, run_dir, trials=trials, concurrency=concurrency,
                        progress=progress, executor=executor, ray_address=ray_address,
                        force_config=force_config, budget=budget, command=command, note=note,
                        on_phase=on_phase)


def export(format: str, *, run: PathLike | None = None, out: PathLike | None = None,
           split: str | None = None, include_failed: bool = False, seed: int = 0,
           license: str = "cc-by-4.0", skip_invalid: bool = False):
    """Write a run's accepted trajectories as training data with a dataset card
    (``format``: sharegpt, openai, parquet, hf or dpo); returns the exporter's result."""
    from apigen_mt.export.exporter import ExportOptions, export_run
    from apigen_mt.export.source import RunData
    from apigen_mt.runner.store import resolve_run

    data = RunData.load(resolve_run(_path(run)))
    return export_run(data, ExportOptions(fmt=format, out=_path(out), split=split,
                                          include_failed=include_failed, seed=seed,
                                          license=license, skip_invalid=skip_invalid))


def verify(env: str, tasks: PathLike, conversations: PathLike, *,
           data_dir: PathLike | None = None, split: str | None = None,
           out: PathLike | None = None, protocol: str = "apigen-mt",
           config: PathLike | None = None, sink: BinaryIO | None = None,
           on_problem: Callable[[str], None] | None = None) -> VerifyResult:
    """Judge conversations made elsewhere against their tasks, replaying every call.

    One JSON line per conversation goes to ``out`` (whole or not at all) or ``sink``;
    inputs that cannot be judged are listed in the result's ``problems``.
    """
    from apigen_mt.runner.verification import verify_conversations

    return verify_conversations(env, Path(tasks), Path(conversations),
                                data_dir=_path(data_dir), split=split, out=_path(out),
                                protocol=protocol, config=_path(config), sink=sink,
                                on_problem=on_problem)


def evaluate(env: str, tasks: PathLike, *, split: str | None = None,
             data_dir: PathLike | None = None, trials: int = 5,
             config: PathLike | None = None, concurrency: int | None = None,
             out: PathLike | None = None, protocol: str = "apigen-mt",
             on_episode: Callable[[int, int], None] | None = None):
    """Play a fixed task set (a run's ``blueprints.jsonl`` or τ-bench ``tasks.json``)
    ``trials`` times with the configured agent, as ``apigen-mt eval`` does.

    Writes ``results.json`` and ``episodes.jsonl`` to ``out`` (default ``runs/eval/…``)
    and returns an ``EvalResult`` whose ``summary`` holds pass^k; ``on_episode(done,
    total)`` is called as episodes finish.
    """
    from apigen_mt.runner.evaluation import evaluate_tasks

    return evaluate_tasks(env, Path(tasks), split, _path(data_dir), trials, _path(config),
                          concurrency, _path(out), protocol, on_episode)
