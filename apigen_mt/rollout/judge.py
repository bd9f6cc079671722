"""The judge: a rollout is kept only when the final state proves it.

The final state's hash must equal the hash reached by replaying the blueprint's actions
on a fresh copy, and every expected output must appear in the agent's replies
(τ-bench's rule: lowercase, commas removed, substring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apigen_mt.blueprint.checks import Execution, check_policy
from apigen_mt.env.environment import Environment
from apigen_mt.records import Blueprint, JudgeVerdict


@dataclass
class Target:
    """A blueprint's ground truth, computed once and shared by all its trials."""

    env: Environment  # the state after replaying the actions
    hash: str


def target_for(env: Environment, bp: Blueprint) -> Target:
    """Replay the blueprint's actions (skipping conversation-ending tools) on a fresh copy."""
    fresh = env.fresh()
    fresh.replay([a.model_dump() for a in bp.actions])
    return Target(env=fresh, hash=fresh.hash())


def _normalise(text: str) -> str:
    return text.lower().replace(",", "")


def missing_outputs(outputs: list[str], messages: list[dict[str, Any]]) -> list[str]:
    """Expected outputs that no assistant reply contains."""
    said = _normalise(" ".join(m.get("content") or "" for m in messages
                               if m.get("role") == "assistant"))
    return [o for o in outputs if _normalise(o) not in said]


def judge(bp: Blueprint, target: Target, final: Environment,
          messages: list[dict[str, Any]], conversation_rules: bool = False) -> JudgeVerdict:
    """State match, outputs present, and (optionally) the conversation-only rules."""
    final_hash = final.hash()
    state_match = final_hash == target.hash
    missing = missing_outputs(bp.outputs, messages)
    reasons = []
    diff: list[str] = []
    if not state_match:
        diff = [c.render() for c in final.diff(target.env)]
        reasons.append("final state differs from the target: " + (diff[0] if diff else "?"))
    if missing:
        reasons.append("outputs never said: " + ", ".join(missing))
    violations: list[str] = []
    if conversation_rules:
        run = Execution(env=final, trace=list(final.trace), before=[])
        run.before = _states_before(final)
        verdict = check_policy(final, run, messages=messages)
        violations = verdict.reasons
        reasons.extend(violations)
    return JudgeVerdict(passed=not reasons, reasons=reasons, state_match=state_match,
                        missing_outputs=missing, diff=diff, rule_violations=violations)


def _states_before(final: Environment) -> list[Any]:
    """Rebuild the state before each executed call by replaying the trace."""
    fresh = final.fresh()
    states = []
    for done in final.trace:
        states.append(fresh.state.fork())
        fresh.execute(done.name, done.arguments)
    return states
