"""One episode: a simulated human and an agent play a blueprint out on a fresh copy.

Pure with respect to files: it returns a :class:`Trajectory`; the batch layer writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from apigen_mt.env.environment import Environment
from apigen_mt.llm.base import Settings, ToolCall
from apigen_mt.records import (
    Blueprint,
    EndReason,
    HumanChoice,
    RoleUsage,
    Trajectory,
    content_id,
)
from apigen_mt.rollout.agent import Agent
from apigen_mt.rollout.human import SimulatedHuman
from apigen_mt.rollout.judge import Target, consent_violations, judge
from apigen_mt.rollout.meter import MeteredModel, usage_record
from apigen_mt.rollout.settings import STOP, UNREADABLE, RolloutSettings

MAX_EMPTY_TURNS = 3


@dataclass
class Roles:
    """The models an episode uses."""

    human: object
    critic: object
    agent: object


def _as_the_domain_runs_it(world: Environment, call: ToolCall) -> ToolCall:
    """A call the schema check refused only for unknown keys inside nested objects runs
    anyway in a domain whose tools ignore them (τ-bench's)."""
    if call.error is None or call.error.kind != "schema" or not world.domain.nested_extra_keys:
        return call
    tool = world.tools.get(call.name)
    try:
        arguments = json.loads(call.raw_arguments or "{}")
        tool.validate(arguments, nested_extra_keys=True)
    except (ValueError, AttributeError):  # still invalid (ArgumentError is a ValueError)
        return call
    return call.model_copy(update={"arguments": arguments, "error": None})


def broken_rule(writes: frozenset[str], convo: list[dict], calls: list[ToolCall],
                invalid_now: int, settings: RolloutSettings, at: int = 0) -> str | None:
    """Why the conversation so far can no longer be kept, whatever follows, or None;
    ``calls`` are the ones the message at index ``at`` made, ``writes`` the domain's write
    tools.

    Only rules whose breach stays in the record are asked: an invalid tool call while
    those are rejected, and a write made without consent (the judge reads the
    conversation before each write, which later turns cannot change).
    """
    if not settings.stop_at_broken_rule:
        return None
    if invalid_now and settings.reject_invalid_tool_calls:
        return "the agent made an invalid tool call"
    rules = settings.judge_rules()
    if rules.consent and any(c.name in writes and c.error is None for c in calls):
        found = consent_violations(convo, writes, set(rules.consent_skip_arguments), at)
        if found:
            return f"consent: {found[0]}"
    return None


async def play_episode(bp: Blueprint, env: Environment, target: Target, roles: Roles,
                       settings: RolloutSettings, trial: int, seed: int) -> Trajectory:
    """Play one trial of a blueprint and judge it."""
    world = env.fresh()
    sample = trial
    meters = {role: RoleUsage() for role in ("human", "critic", "agent")}
    agent = Agent(MeteredModel(roles.agent, meters["agent"]), world.policy,
                  world.tool_schemas(), Settings(seed=seed, sample=sample),
                  settings.one_tool_call_per_turn)
    human = SimulatedHuman(MeteredModel(roles.human, meters["human"]),
                           MeteredModel(roles.critic, meters["critic"]), bp.instruction,
                           settings.best_of_n, Settings(seed=seed, sample=sample),
                           critic_mode=settings.critic, parse_retries=settings.parse_retries)
    convo = [agent.system(), {"role": "assistant", "content": settings.greeting}]
    scores: list[list[float]] = []
    choices: list[HumanChoice] = []
    invalid = 0
    end: EndReason | None = None

    unreadable: list[str] = []
    stopped_at = ""

    async def human_turn(turn: int) -> bool:
        said = await human.reply(convo, turn)
        convo.append({"role": "user", "content": said.text})
        scores.append(said.scores)
        if len(said.candidates) > 1:
            choices.append(HumanChoice(turn=turn, candidates=said.candidates,
                                       scores=said.scores, reasons=said.reasons,
                                       chosen=said.chosen, critic_error=said.critic_error))
        if UNREADABLE in said.text:  # the customer cannot play its part: say why, stop
            unreadable.append(said.text.split(UNREADABLE, 1)[1].strip() or "no reason given")
            return True
        return STOP in said.text

    if await human_turn(0):
        end = "unreadable_instruction" if unreadable else "stop"
    steps = 0
    empty = 0
    while end is None:
        if steps >= settings.max_turns:
            end = "max_turns"
            break
        done = await agent.act(convo, steps)
        steps += 1
        convo.append(done.message())
        at = len(convo) - 1
        if done.tool_calls:
            empty = 0
            invalid_before = invalid
            for call in done.tool_calls:
                call = _as_the_domain_runs_it(world, call)
                if call.error is not None:
                    invalid += 1
                    observation = f"Error: {call.error.message}"
                else:
                    observation = world.execute(call.name, call.arguments or {})
                    if observation.startswith("Error:") and call.name not in world.tools:
                        invalid += 1
                convo.append({"role": "tool", "tool_call_id": call.id, "content": observation})
                tool = world.tools.get(call.name)
                if tool is not None and tool.ends_conversation and call.error is None:
                    end = "ending_tool"
            why = broken_rule(world.write_tools, convo, done.tool_calls,
                              invalid - invalid_before, settings, at)
            if why is not None and end is None:
                end, stopped_at = "broken_rule", why
            continue
        if not (done.text or "").strip():
            empty += 1
            if empty >= MAX_EMPTY_TURNS:
                end = "model_error"
            continue
        empty = 0
        if await human_turn(steps):
            end = "unreadable_instruction" if unreadable else "stop"
    verdict = judge(bp, target, world, convo, settings.judge_rules())
    if end in ("max_turns", "model_error"):  # cut off: not a complete example to learn from
        verdict = verdict.model_copy(update={
            "passed": False,
            "reasons": [*verdict.reasons, f"the conversation did not finish ({end})"]})
    if end == "broken_rule":  # what follows could not have saved it: not played out
        verdict = verdict.model_copy(update={
            "passed": False,
            "reasons": [*verdict.reasons, f"stopped at a broken rule: {stopped_at}"]})
    if unreadable:
        verdict = verdict.model_copy(update={
            "passed": False,
            "reasons": [*verdict.reasons, f"the customer could not read its instruction: "
                                          f"{unreadable[0]}"]})
    if invalid and settings.reject_invalid_tool_calls:
        verdict = verdict.model_copy(update={
            "passed": False,
            "reasons": [*verdict.reasons, f"the agent made {invalid} invalid tool call(s)"]})
    traj = Trajectory(blueprint_id=bp.id, env=bp.env, trial=trial, messages=convo,
                      verdict=verdict, end_reason=end, final_hash=world.hash(),
                      target_hash=target.hash, human_scores=scores, human_choices=choices,
                      invalid_tool_calls=invalid, usage=usage_record(meters), seed=seed)
    return traj.model_copy(update={"id": content_id("traj", traj.content_key())})
