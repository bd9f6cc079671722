"""One round of ``run`` with its phases overlapped: phase 1 drafts, and first trials of
blueprints it has accepted start on the endpoint slots it leaves free
(:class:`~apigen_mt.runner.overlap.Prefetch`); phase 2 follows, taking those episodes
in its own order.

Both phases share one set of models: one client and one request limit per endpoint
(``max_concurrency`` holds for the two together) and one usage tracker, whose counts
are journalled under the phase of the role that made them (drafter, reviewers and
feedback: ``blueprint``; human, critic and agent: ``rollout``). Phase 1's result is
told (``on_phase``) the moment its last blueprint is committed, before phase 2 starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from apigen_mt.errors import Interrupted
from apigen_mt.llm.usage import UsageStats
from apigen_mt.runner.accounting import (
    add_usage,
    attach_usage,
    close_journal,
    count_lines,
    retries_by_kind,
    saved_line,
    settle_heap,
    survived_line,
)
from apigen_mt.runner.opening import (
    ceiling_note,
    open_blueprint_run,
    played_blueprints,
    rollout_settings,
)
from apigen_mt.runner.results import blueprint_result, rollout_result

PHASE1_ROLES = ("drafter", "reviewers", "feedback")
PHASE2_ROLES = ("human", "critic", "agent")


def phase_usage(models, roles: tuple[str, ...]) -> UsageStats:
    """What ``roles`` have spent this invocation, summed."""
    by_role = models.usage.snapshot().by_role
    return UsageStats(**{k: sum(getattr(by_role[r], k) for r in roles if r in by_role)
                         for k in UsageStats.model_fields})


def _retries_since(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v - before.get(k, 0)}


def _phase_cost(run, phase: str) -> float:
    """The phase's cost so far across invocations, read from the journal as it stands."""
    from apigen_mt.llm.usage_log import USAGE_FILE, summary

    return summary(run.path / USAGE_FILE).get(phase, {}).get("cost", 0.0)


def _done_first_trials(run) -> set[str]:
    """Blueprints whose first trial is committed already (earlier rounds, or a resume)."""
    from apigen_mt.runner.phase2 import ACCEPTED, FAILED, LEDGER

    return {r["blueprint_id"] for name in (ACCEPTED, FAILED, LEDGER)
            for r in run.log(name).rows() if r.get("trial") == 0}


def overlapped_round(cfg, env: str, data_dir: Path | None, wanted: int, n: int,
                     out: Path | None, *, trials: int, concurrency: int | None,
                     progress: bool | None, force_config: bool, budget, command: str | None,
                     record: bool, note: Callable[[str], None],
                     on_phase: Callable | None):
    """Phase 1 to ``wanted`` accepted blueprints and phase 2 on them (``trials`` each)
    towards ``n`` trajectories, overlapped; returns (BlueprintResult, RolloutResult or
    None when phase 1 stopped at the budget)."""
    from apigen_mt.llm.registry import build_role_models
    from apigen_mt.rollout.episode import Roles, play_episode
    from apigen_mt.rollout.judge import target_for
    from apigen_mt.runner.build import EnvRef, build_phase1
    from apigen_mt.runner.fingerprint import enforce, phase_values
    from apigen_mt.runner.overlap import Prefetch
    from apigen_mt.runner.phase2 import ACCEPTED as TRAJECTORIES

    env_ref, run = open_blueprint_run(cfg, env, data_dir, out, command, record, force_config)
    try:
        settings = rollout_settings(cfg).model_copy(update={"trials": trials})
        manifest = run.manifest()
        seed = manifest.get("seed", cfg.seed)
        rollout_env = EnvRef(**manifest["env"]).load()
        # both phases' recorded configurations are checked before either does any work
        enforce(run, "rollout", phase_values("rollout", cfg, EnvRef(**manifest["env"]),
                                             rollout_env, seed, settings),
                force_config, command or "")
        models = build_role_models(cfg, run.path)
        phase, _ = build_phase1(cfg, env_ref, run.path, models)
        attach_usage(models, run, "blueprint", budget)
        models.usage.role_phases = dict.fromkeys(PHASE2_ROLES, "rollout")
        roles = Roles(human=models.human, critic=models.critic, agent=models.agent)

        def play(bp):
            return play_episode(bp, rollout_env, target_for(rollout_env, bp), roles,
                                settings, 0, seed)

        conc1 = concurrency or phase.settings.concurrency
        reached = models.usage.budget_reached if budget else None
        prefetch = Prefetch(play, conc1, seed=seed, size=wanted,
                            needed=n - count_lines(run.path / TRAJECTORIES),
                            done=_done_first_trials(run), budget=reached)
        state: dict = {"phase": "blueprint", "retries": {}}
        go = _round(cfg, run, phase, models, prefetch, rollout_env, roles, settings, seed,
                    wanted, n, conc1, concurrency or settings.concurrency, progress, reached,
                    note, on_phase, state)
        bp, outcome = _drive(go, run, models, state, command)
        if outcome is None:
            return bp, None
        retries = state["rollout_retries"]
        return bp, rollout_result(run, n, state["blueprints"], settings.trials, outcome,
                                   models, _phase_cost(run, "rollout"), retries,
                                   usage=phase_usage(models, PHASE2_ROLES))
    finally:
        run.close()


def _drive(go, run, models, state, command: str | None):
    """Run the round's event loop; its usage and retries are written however it ends."""
    settle_heap()
    try:
        result = asyncio.run(go)
    except KeyboardInterrupt:
        _account(run, models, state)
        raise Interrupted(saved_line(run, state["phase"], command)) from None
    except Exception:
        retries = _account(run, models, state)
        if line := survived_line(retries):
            print(line, flush=True)
        raise
    _account(run, models, state)
    return result


def _account(run, models, state) -> dict[str, int]:
    """Write both phases' usage (and their retries) into the manifest; the retries of all."""
    total = retries_by_kind(models)
    close_journal(models)
    first = state.get("blueprint_retries")
    if first is None:  # phase 1 did not end
        add_usage(run, "blueprint", total)
        return total
    state["rollout_retries"] = _retries_since(total, first)
    add_usage(run, "blueprint", first)
    add_usage(run, "rollout", state["rollout_retries"])
    return total


async def _round(cfg, run, phase, models, prefetch, env, roles, settings, seed, wanted, n,
                 conc1, conc2, progress, reached, note, on_phase, state):
    from apigen_mt.runner.build import models_description
    from apigen_mt.runner.phase1 import run_phase1
    from apigen_mt.runner.phase2 import run_phase2
    from apigen_mt.runner.progress import Progress

    try:
        bar = Progress("blueprints", wanted, models.usage.snapshot, enabled=progress)
        with bar:
            o1 = await run_phase1(phase, run, wanted, conc1, bar, budget=reached,
                                  overlap=prefetch)
        state["blueprint_retries"] = retries_by_kind(models)
        bp = blueprint_result(run, wanted, o1, phase_usage(models, PHASE1_ROLES),
                              _phase_cost(run, "blueprint"), state["blueprint_retries"],
                              models)
        if on_phase:
            on_phase(bp)  # phase 1's work is done: its closing line comes now
        if bp.stopped:
            return bp, None
        state["phase"] = "rollout"
        blueprints = played_blueprints(run, wanted)
        state["blueprints"] = len(blueprints)
        if line := ceiling_note(len(blueprints), settings.trials, n, run.path):
            note(line)
        bar = Progress("trajectories", n, models.usage.snapshot, enabled=progress)
        with bar:
            outcome = await run_phase2(
                blueprints, env, roles, settings, run, n, seed, conc2, bar, budget=reached,
                models=models_description(cfg, PHASE2_ROLES), prefetch=prefetch)
        return bp, outcome
    finally:
        await prefetch.close()
        await models.aclose()
