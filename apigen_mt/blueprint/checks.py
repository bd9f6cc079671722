"""The rule-based checks of a draft, in order: format → execution → policy.

Each returns a :class:`Verdict` with reasons; none returns a bare bool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from apigen_mt.env.diff import Change
from apigen_mt.env.domain import RuleInput
from apigen_mt.env.environment import Environment, Executed
from apigen_mt.env.state import State
from apigen_mt.env.tools import ArgumentError
from apigen_mt.records import Blueprint, Verdict


def check_format(draft: Any, env: Environment) -> tuple[Verdict, Blueprint | None]:
    """Schema, known tools, argument names and types, known user."""
    if not isinstance(draft, dict):
        return Verdict(stage="format", passed=False,
                       reasons=["the draft must be a JSON object"]), None
    try:
        bp = Blueprint.model_validate({**draft, "env": env.name})
    except ValidationError as exc:
        reasons = [f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors()]
        return Verdict(stage="format", passed=False, reasons=reasons[:5]), None
    reasons = []
    if not bp.instruction.strip():
        reasons.append("the instruction is empty")
    for i, action in enumerate(bp.actions):
        tool = env.tools.get(action.name)
        if tool is None:
            reasons.append(f"action {i}: unknown tool '{action.name}'")
            continue
        try:
            tool.validate(action.arguments)
        except ArgumentError as exc:
            reasons.append(f"action {i} ({action.name}): {exc}")
    table = env.domain.user_table
    if bp.user_id is not None and table in env.state and bp.user_id not in env.state[table]:
        reasons.append(f"user_id '{bp.user_id}' does not exist")
    return Verdict(stage="format", passed=not reasons, reasons=reasons), bp


@dataclass
class Execution:
    """What running a blueprint's actions on a fresh copy produced."""

    env: Environment
    trace: list[Executed] = field(default_factory=list)
    before: list[State] = field(default_factory=list)
    diff: list[Change] = field(default_factory=list)


def execute_actions(env: Environment, bp: Blueprint) -> Execution:
    """Run the actions on a fresh copy, remembering the state before each call."""
    fresh = env.fresh()
    result = Execution(env=fresh)
    for action in bp.actions:
        tool = fresh.tools.get(action.name)
        if tool is not None and tool.ends_conversation:
            continue
        result.before.append(fresh.state.fork())
        fresh.execute(action.name, action.arguments)
        result.trace.append(fresh.trace[-1])
    result.diff = fresh.diff()
    return result


def check_execution(env: Environment, bp: Blueprint,
                    require_change: bool = True) -> tuple[Verdict, Execution]:
    """Every write must succeed; a failing read is a warning. Stores the diff.

    ``require_change`` rejects drafts that neither change the state nor expect an
    output: a rollout of such a task proves nothing.
    """
    run = execute_actions(env, bp)
    reasons, warnings = [], []
    for i, done in enumerate(run.trace):
        if done.ok:
            continue
        line = f"action {i} ({done.name}) failed: {done.observation}"
        (reasons if done.kind == "write" else warnings).append(line)
    if require_change and not reasons and not run.diff and not bp.outputs:
        reasons.append("the actions leave the database unchanged and no output is expected: "
                       "nothing to verify")
    verdict = Verdict(stage="execution", passed=not reasons, reasons=reasons, warnings=warnings,
                      details={"hash": run.env.hash(),
                               "diff": [c.render() for c in run.diff]})
    return verdict, run


def check_policy(env: Environment, run: Execution,
                 messages: list[dict[str, Any]] | None = None,
                 user_id: str | None = None) -> Verdict:
    """The domain's rules over the executed actions (conversation rules need messages;
    ``user_id`` is the task's customer, whom every change must be for)."""
    inp = RuleInput(actions=run.trace, before=run.before, messages=messages, user_id=user_id)
    reasons = []
    for rule in env.domain.rules:
        if rule.conversation_only and messages is None:
            continue
        try:
            found = rule.check(inp)
        except Exception as exc:  # a broken rule is a finding, not a crash
            found = [f"rule raised {type(exc).__name__}: {exc}"]
        reasons.extend(f"{rule.name}: {r}" for r in found)
    return Verdict(stage="policy", passed=not reasons, reasons=reasons)
