"""Fill a walk's arguments from a user's data and earlier observations, with no domain code.

The filler keeps a pool of values seen so far (:class:`~apigen_mt.env.values.ValuePool`,
indexed by the key they appeared under) and proposes each argument from it. It runs on a
scratch environment: reads that fail are dropped, read results widen the pool, and a
fill counts only when every write succeeds.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from apigen_mt.blueprint.preconditions import plan_session, prerequisites, session_tools
from apigen_mt.env.environment import Environment
from apigen_mt.env.values import IDENTITY_KEYS, ValuePool, propose_arguments
from apigen_mt.records import Action


def enrich(env: Environment, pool: ValuePool, budget: int = 12) -> None:
    """Run single-argument read tools on ids already in the pool to learn more values."""
    calls = 0
    for tool in env.domain.tools:
        required = tool.parameters.get("required", [])
        if tool.kind != "read" or len(required) != 1 or tool.ends_conversation:
            continue
        for value in list(pool.candidates(required[0]))[:6]:
            if calls >= budget:
                return
            if not isinstance(value, str):
                continue
            obs = env.execute(tool.name, {required[0]: value})
            calls += 1
            if not obs.startswith("Error:"):
                pool.absorb_observation(tool.name, obs)


@dataclass
class Fill:
    """A successful fill: the actions and the scratch environment after them."""

    actions: list[Action]
    env: Environment
    pool: ValuePool


def fill_walk(env: Environment, walk: list[str], view: dict[str, Any], rng: random.Random,
              attempts: int = 24, avoid: set[tuple[str, str]] | None = None,
              extra_views: list[dict[str, Any]] | None = None,
              tries_per_step: int = 4, repairs: int = 2) -> Fill | None:
    """Turn a walk into executable actions on a scratch copy.

    Each step gets a few argument proposals; a step none of whose proposals succeeds
    first gets up to ``repairs`` prerequisite calls that its error points to (log in,
    create the record, change directory) and is dropped if it still fails. Session
    tools the policy asks for come before the first write. A fill counts when a write
    other than a session step succeeded and the data changed. ``extra_views`` (other
    records) only widen the choice of values, e.g. a new address.
    """
    avoid = avoid or set()
    schemas = {t.name: t.schema["function"] for t in env.domain.tools}
    listing = [t.schema for t in env.domain.tools]
    kinds = {t.name: t.kind for t in env.domain.tools}
    sessions = set(session_tools(listing))
    substantive_exists = any(k == "write" and n not in sessions for n, k in kinds.items())
    seed_pool = ValuePool(domain=env.domain.description or env.policy[:400])
    seed_pool.absorb(view)
    seed_pool.absorb_groups(view)
    user = view.get("user") if isinstance(view, dict) else None
    if isinstance(user, dict):
        seed_pool.preferred = ValuePool()
        seed_pool.preferred.absorb(user)
    enrich(env.fresh(), seed_pool)
    for other in extra_views or []:
        seed_pool.absorb_groups(other)
        extra = ValuePool()
        extra.absorb(other)
        for key, values in extra.values.items():
            # another user's ids and identity stay theirs: only their other values (an
            # address, say) widen the choice
            if not (key == "id" or key.endswith("_id") or key in IDENTITY_KEYS):
                for value in values:
                    seed_pool.add(key, value)
    step = _Stepper(schemas, listing, kinds, avoid, rng, tries_per_step)
    for _ in range(attempts):
        scratch = env.fresh()
        pool = seed_pool.copy()
        actions: list[Action] = []
        steps = plan_session(walk, listing, env.policy, kinds) \
            if sessions and rng.random() < 0.85 else list(walk)
        for name in steps:
            if name in schemas:
                scratch = step.run(name, scratch, pool, actions, repairs)
        wrote = any(kinds[a.name] == "write" and (a.name not in sessions or
                                                  not substantive_exists) for a in actions)
        # a write that leaves the data as it was (same address, same item) proves nothing
        if wrote and scratch.state.changes() and scratch.diff():
            return Fill(_pruned(env, actions, sessions, scratch.hash()), scratch, pool)
    return None


def _pruned(env: Environment, actions: list[Action], sessions: set[str],
            final: str) -> list[Action]:
    """Drop a session step straight after another of the same tool (``cd`` then ``cd``)
    when the rest still succeeds and ends in the same state: repairs leave such detours."""
    i = 0
    while i < len(actions) - 1:
        if actions[i].name in sessions and actions[i + 1].name == actions[i].name:
            trial = [*actions[:i], *actions[i + 1:]]
            copy = env.fresh()
            ran = copy.replay([a.model_dump() for a in trial], skip_ending=False)
            if all(step.ok for step in ran) and copy.hash() == final:
                actions = trial
                continue
        i += 1
    return actions


@dataclass
class _Stepper:
    """Runs one walk step on a scratch copy, repairing its preconditions when it fails."""

    schemas: dict[str, dict[str, Any]]
    listing: list[dict[str, Any]]
    kinds: dict[str, str]
    avoid: set[tuple[str, str]]
    rng: random.Random
    tries: int

    def attempt(self, name: str, scratch: Environment, pool: ValuePool,
                actions: list[Action]) -> str | None:
        """Try a few proposals; None on success, else the last error."""
        error = None
        for _try in range(self.tries):
            args = propose_arguments(self.schemas[name], pool, self.rng)
            if args is None:
                return error or "no values"
            if _avoided(name, args, self.avoid):
                continue
            obs = scratch.execute(name, args)
            if not obs.startswith("Error:"):
                actions.append(Action(name=name, arguments=args))
                pool.absorb_observation(name, obs)
                return None
            error = obs
        return error or "avoided"

    def run(self, name: str, scratch: Environment, pool: ValuePool, actions: list[Action],
            repairs: int) -> Environment:
        """The environment after the step (and any prerequisite that made it work)."""
        error = self.attempt(name, scratch, pool, actions)
        if error is None or repairs <= 0:
            return scratch
        for fix in prerequisites(error, name, self.listing, self.kinds):
            trial, trial_actions = scratch.fork(), list(actions)
            trial_pool = pool.copy()
            if self.attempt(fix, trial, trial_pool, trial_actions) is not None:
                continue
            trial = self.run(name, trial, trial_pool, trial_actions, repairs - 1)
            if len(trial_actions) > len(actions) + 1 and trial_actions[-1].name == name:
                actions[:] = trial_actions
                pool.values, pool.records = trial_pool.values, trial_pool.records
                return trial
        return scratch


def _avoided(name: str, args: dict[str, Any], avoid: set[tuple[str, str]]) -> bool:
    """Feedback may name (tool, value) pairs to stay away from."""
    text = json.dumps(args)
    return any(tool == name and value in text for tool, value in avoid)
