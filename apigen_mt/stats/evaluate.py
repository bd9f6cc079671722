"""``apigen-mt eval``: play a fixed task set k times each and report pass^k.

The episodes are exactly the rollout phase's (:func:`play_episode` with the same
judge: final state hash against the replayed ground truth, outputs said), so a model's
score here and its acceptance rate in a run measure the same thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apigen_mt.env.environment import Environment
from apigen_mt.records import Blueprint, Trajectory
from apigen_mt.rollout.episode import Roles, play_episode
from apigen_mt.rollout.judge import Target, target_for
from apigen_mt.rollout.settings import RolloutSettings
from apigen_mt.runner.phase2 import failure_reason
from apigen_mt.stats.passk import pass_hat_curve


def task_to_blueprint(task: dict[str, Any], env_name: str) -> Blueprint:
    """A task (τ-bench's or a blueprint row) as a :class:`Blueprint`
    (see :meth:`Blueprint.from_task`)."""
    return Blueprint.from_task(task, env_name)


@dataclass
class TaskResult:
    """One task's trials."""

    blueprint: Blueprint
    index: Any
    outcomes: list[Trajectory]

    @property
    def successes(self) -> int:
        return sum(t.verdict.passed for t in self.outcomes)


async def evaluate(blueprints: list[Blueprint], env: Environment, roles: Roles,
                   settings: RolloutSettings, trials: int, seed: int, concurrency: int,
                   on_done: Callable[[Trajectory], None] | None = None) -> list[list[Trajectory]]:
    """Every (task, trial) episode, ``concurrency`` at a time; results by task, by trial."""
    sem = asyncio.Semaphore(concurrency)
    targets: dict[int, Target] = {}

    async def one(i: int, trial: int) -> Trajectory:
        async with sem:
            if i not in targets:
                targets[i] = target_for(env, blueprints[i])  # once per task
            traj = await play_episode(blueprints[i], env, targets[i], roles, settings, trial,
                                      seed)
        if on_done is not None:
            on_done(traj)
        return traj

    flat = await asyncio.gather(*(one(i, t) for i in range(len(blueprints))
                                  for t in range(trials)))
    return [list(flat[i * trials:(i + 1) * trials]) for i in range(len(blueprints))]


def summarize(results: list[TaskResult], trials: int) -> dict[str, Any]:
    """pass^k overall and per domain, and one line per task."""
    by_domain: dict[str, list[tuple[int, int]]] = {}
    for r in results:
        by_domain.setdefault(r.blueprint.env, []).append((r.successes, len(r.outcomes)))
    overall = [(r.successes, len(r.outcomes)) for r in results]
    return {
        "trials": trials,
        "tasks": len(results),
        "pass_hat_k": {str(k): v for k, v in pass_hat_curve(overall).items()},
        "per_domain": {d: {"tasks": len(v), "pass_hat_k": {str(k): p for k, p in
                                                           pass_hat_curve(v).items()}}
                       for d, v in sorted(by_domain.items())},
        "per_task": [{"index": r.index, "blueprint_id": r.blueprint.id, "env": r.blueprint.env,
                      "successes": r.successes, "trials": len(r.outcomes),
                      "failures": sorted({failure_reason(t) for t in r.outcomes
                                          if not t.verdict.passed})}
                     for r in results],
    }
