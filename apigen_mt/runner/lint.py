"""``blueprint check``: hand-written tasks through the blueprint checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apigen_mt.runner.opening import load_config


def lint_tasks(env: str, tasks: Path, split: str | None, data_dir: Path | None,
               review: bool, config: Path | None,
               on_task: Callable[[dict[str, Any]], None]) -> tuple[int, int, dict[str, int]]:
    """Check every task (format, execution, policy, and the committee with ``review``);
    ``on_task`` hears each verdict. Returns (accepted, tasks, rejections by stage)."""
    from apigen_mt.blueprint.produce import run_checks
    from apigen_mt.env.tasks import load_tasks
    from apigen_mt.runner.build import EnvRef, build_phase1

    task_list = load_tasks(tasks, split)
    cfg = load_config(config, {})
    env_ref = EnvRef(env, str(data_dir) if data_dir else None, 0, cfg.tau_compat)
    phase, models = build_phase1(cfg, env_ref, None)
    stages: dict[str, int] = {}

    async def go() -> int:
        accepted = 0
        try:
            for i, task in enumerate(task_list):
                draft = {k: task[k] for k in ("user_id", "instruction", "actions", "outputs")
                         if k in task}
                draft.setdefault("instruction", "(no instruction)")
                verdicts, _, _ = await run_checks(phase, draft, review=review,
                                                  require_change=False)
                failed = [v for v in verdicts if not v.passed]
                last = failed[0] if failed else verdicts[-1]  # the check that rejected it
                accepted += last.passed
                if not last.passed:
                    stages[last.stage] = stages.get(last.stage, 0) + 1
                on_task({"index": task.get("index", i), "accepted": last.passed,
                         "stage": last.stage,
                         "reasons": [*last.reasons, *(f"({v.stage}) {r}" for v in failed[1:]
                                                      for r in v.reasons)]})
        finally:
            await models.aclose()
        return accepted

    return asyncio.run(go()), len(task_list), stages
