"""A suggested walk checked on a scratch copy, for domains that declare no preconditions.

A class environment says nothing about which records a write can act on or what must
come first (log in, change directory, shift into drive), yet a drafter — a model, or the
offline sim reading the same prompt — needs to know, as a person would who had tried
the calls. So the context sampler fills the sampled walk on a scratch copy and shows the
drafter a walk that works, each step stating its preconditions in the words the tools
use: a step without which a later call fails is ``needed_before`` that call,
``because`` of the error that call answers without it.
"""

from __future__ import annotations

import json
import random
from typing import Any

from apigen_mt.blueprint.fill import fill_walk
from apigen_mt.env.declarations import RuleInput
from apigen_mt.env.environment import Environment, Executed
from apigen_mt.env.graph import ApiGraph


def checked_steps(env: Environment, walk: list[str], view: dict[str, Any], graph: ApiGraph,
                  rng: random.Random, tries: int = 4) -> list[dict[str, Any]] | None:
    """A walk whose calls succeed in order from the initial state, as the prompt shows it.

    For a domain that declares no preconditions (a class environment) nothing says which
    records a write can act on, or what must happen first (log in, change directory,
    shift into drive). So the walk is filled on a scratch copy (the filler puts first
    the steps the calls' errors or the policy ask for) and the rules are checked. Each
    step then states what it applies to (the values of the records it acted on, or the
    schema's choices; invented text is left to the drafter), and a step without which a
    later call fails says so: ``needed_before`` that call, ``because`` of the error the
    call gives without it. A detour the filler took that nothing needs is dropped. None
    when no walk of a few could be filled.
    """
    kinds = {t.name: t.kind for t in env.domain.tools}
    shown = json.dumps(view, default=str)
    for attempt in range(tries):
        tried = walk if attempt == 0 else graph.walk(rng)
        filled = fill_walk(env, tried, view, rng, attempts=6)
        if filled is None:
            continue
        actions = [a.model_dump() for a in filled.actions]
        needs = _needs(env, actions)
        actions, needs = _without_detours(env, actions, needs, set(tried))
        if not actions or breaks_rules(env, actions):
            continue
        steps = []
        for i, action in enumerate(actions):
            step: dict[str, Any] = {"name": action["name"]}
            if kinds.get(action["name"]) == "write":
                step["changes_records"] = True
            props = env.tools[action["name"]].parameters.get("properties", {})
            applies = {k: [v] for k, v in action["arguments"].items()
                       if _shown(v, shown, props.get(k, {}).get("enum", []))}
            if applies:
                step["applies_to"] = applies
            if i in needs:
                step["needed_before"], step["because"] = needs[i]
            steps.append(step)
        return steps
    return None


def _replay(env: Environment, actions: list[dict[str, Any]]) -> list[Executed]:
    fresh = env.fresh()
    return fresh.replay(actions, skip_ending=False)


def _needs(env: Environment, actions: list[dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """Step index → (the first later call that fails without it, that call's error)."""
    needs = {}
    for i in range(len(actions) - 1):
        ran = _replay(env, actions[:i] + actions[i + 1:])
        failed = next((done for done in ran[i:] if not done.ok), None)
        if failed is not None:
            needs[i] = (failed.name, failed.observation.removeprefix("Error: "))
    return needs


def _without_detours(env: Environment, actions: list[dict[str, Any]],
                     needs: dict[int, tuple[str, str]], walk: set[str]
                     ) -> tuple[list[dict[str, Any]], dict[int, tuple[str, str]]]:
    """Drop the steps outside the sampled walk that no later call needs (a repair the
    filler tried that did not matter), as long as the rest still succeeds."""
    kept = [i for i, a in enumerate(actions) if a["name"] in walk or i in needs]
    if len(kept) == len(actions):
        return actions, needs
    trimmed = [actions[i] for i in kept]
    if not all(done.ok for done in _replay(env, trimmed)):
        return actions, needs
    return trimmed, _needs(env, trimmed)


def breaks_rules(env: Environment, actions: list[dict[str, Any]]) -> bool:
    """Whether the calls, run from the initial state, break one of the domain's rules."""
    fresh = env.fresh()
    before = []
    for action in actions:
        before.append(fresh.state.fork())
        fresh.execute(action["name"], action["arguments"])
    data = RuleInput(actions=fresh.trace, before=before)
    for rule in env.domain.rules:
        if rule.conversation_only:
            continue
        try:
            if rule.check(data):
                return True
        except Exception:  # a rule that cannot read these calls does not pass them
            return True
    return False


def _shown(value: Any, shown: str, enum: list[Any]) -> bool:
    """A value the records show (an id, a name, a path, a PIN) or the schema offers."""
    if isinstance(value, bool) or value is None:
        return False
    if value in enum:
        return True
    if isinstance(value, str):
        return json.dumps(value) in shown or any(
            json.dumps(part) in shown for part in value.strip("/").split("/") if part)
    return False
