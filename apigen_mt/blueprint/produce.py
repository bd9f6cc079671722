"""One slot of phase 1, end to end: context → draft → checks → committee → feedback.

No file I/O here: the batch layer decides what is written. Everything a slot does is a
function of (seed, slot, the accepted blueprints it may see) and the models' answers.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.blueprint.checks import (
    Execution,
    check_execution,
    check_format,
    check_policy,
)
from apigen_mt.blueprint.committee import Reviewer, reduce_reviews, review_all, review_messages
from apigen_mt.blueprint.context import Context, ContextSampler
from apigen_mt.blueprint.drafters import Drafter
from apigen_mt.blueprint.feedback import FeedbackWriter
from apigen_mt.blueprint.replies import ReplyError, parse_json_object
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.env.environment import Environment, is_error
from apigen_mt.env.values import strings_in
from apigen_mt.llm.base import ChatModel, Settings
from apigen_mt.prompts import load_prompt
from apigen_mt.records import (
    Action,
    Blueprint,
    Provenance,
    RejectedBlueprint,
    Review,
    Verdict,
)


@dataclass
class Phase1:
    """Everything a slot needs, built once per run."""

    env: Environment
    settings: BlueprintSettings
    sampler: ContextSampler
    drafter: Drafter
    reviewers: list[Reviewer]
    feedback: FeedbackWriter
    recombiner: ChatModel | None
    recombiner_settings: Settings
    seed: int
    models: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_version(self) -> str:
        """Tags of every prompt this phase uses."""
        return ",".join(load_prompt(n).tag for n in ("drafter", "reviewer", "feedback",
                                                     "recombine"))


@dataclass
class SlotResult:
    """What one slot produced: an accepted blueprint or a rejection (never both)."""

    slot: int
    accepted: Blueprint | None = None
    rejected: RejectedBlueprint | None = None


def _policy_for(env: Environment, tools: set[str]) -> str:
    """The policy sections that bear on the blueprint's tools (the whole text otherwise)."""
    hints = env.domain.hints
    if hints is not None and hints.policy_for is not None and env.policy:
        return hints.policy_for(env.policy, tools)
    return env.policy or "\n".join(f"- {r.name}: {r.description}" for r in env.domain.rules)


def touched_records(env: Environment, bp: Blueprint, run: Execution) -> dict[str, Any]:
    """The records the actions name (and the user's), before and after the actions."""
    before = run.before[0] if run.before else env.fresh().state
    after = run.env.state
    names = {bp.user_id, *(v for a in bp.actions for v in strings_in(a.arguments))}
    names |= {c.path[1] for c in run.diff if len(c.path) > 1}
    out: dict[str, Any] = {}
    for table in env.domain.tables:
        for key in sorted(n for n in names if isinstance(n, str)):
            old = before[table][key] if key in before[table] else None  # noqa: SIM401
            new = after[table][key] if key in after[table] else None  # noqa: SIM401
            if old is not None or new is not None:
                out[f"{table}/{key}"] = {"before": old, "after": new}
    return out


async def run_checks(p: Phase1, draft: dict[str, Any], review: bool = True,
                     require_change: bool = True) -> tuple[list[Verdict], Blueprint | None,
                                                           list[Review]]:
    """Format → execution → policy → committee; stops at the first failure, except that a
    draft whose writes failed to execute is also held to the policy: one redraft can then
    mend both (a booking's price and its bags), where one check at a time takes a round
    each. The first failed verdict is the rejection; a later one only adds to it."""
    verdicts: list[Verdict] = []
    v, bp = check_format(draft, p.env)
    verdicts.append(v)
    if not v.passed or bp is None:
        return verdicts, bp, []
    v, run = check_execution(p.env, bp, require_change=require_change)
    verdicts.append(v)
    if not v.passed:
        if run.trace and any(not done.ok and done.kind == "write" for done in run.trace):
            also = check_policy(p.env, run, user_id=bp.user_id)
            if not also.passed:
                verdicts.append(also)
        return verdicts, bp, []
    bp = bp.model_copy(update={"target_hash": v.details["hash"],
                               "diff": [c.model_dump() for c in run.diff]})
    v = check_policy(p.env, run, user_id=bp.user_id)
    verdicts.append(v)
    if not v.passed or not review:
        return verdicts, bp, []
    messages = review_messages(bp, [c.render() for c in run.diff],
                               _policy_for(p.env, {a.name for a in bp.actions}),
                               set(p.env.write_tools),
                               touched_records(p.env, bp, run), p.env.domain.hints)
    answers = await review_all(p.reviewers, messages)
    reviews = [a for a in answers if a is not None]
    verdicts.append(reduce_reviews(reviews, p.settings.accept_threshold))
    return verdicts, bp, reviews


def _provenance(p: Phase1, slot: int, ctx: Context, rounds: int, verdicts: list[Verdict],
                reviews: list[Review], feedback: list[str],
                recombined: list[str] | None = None) -> Provenance:
    return Provenance(slot=slot, seed=p.seed, drafter=p.drafter.name, rounds=rounds,
                      context=ctx.summary(), verdicts=verdicts, reviews=reviews,
                      feedback=feedback, models=p.models, prompt_version=p.prompt_version,
                      recombined_from=recombined or [])


async def produce(p: Phase1, slot: int, visible: list[dict[str, Any]]) -> SlotResult:
    """Run one drafting slot; ``visible`` are accepted blueprints this slot may use.
    (Recombination has its own attempts, after drafting: see :func:`recombination_groups`.)"""
    return await draft_with_feedback(p, slot, visible)


async def draft_with_feedback(p: Phase1, slot: int,
                              visible: list[dict[str, Any]]) -> SlotResult:
    """Draft, check, and redraft with feedback up to the domain's round limit."""
    ctx = p.sampler.sample(slot, visible)
    max_rounds = p.settings.rounds_for(p.env.name)
    history: list[Verdict] = []
    advice: list[str] = []
    previous: dict[str, Any] | None = None
    last: Verdict | None = None
    also: list[Verdict] = []
    for round_no in range(max_rounds):
        draft = await p.drafter.draft(ctx, round_no, previous, advice[-1] if advice else None)
        if draft.blueprint is None:
            last = Verdict(stage="drafter", passed=False, reasons=[draft.error or "no draft"],
                           details={"round": round_no})
            history.append(last)
            also = []
        else:
            verdicts, bp, reviews = await run_checks(p, draft.blueprint)
            for v in verdicts:
                v.details["round"] = round_no
            history.extend(verdicts)
            failed = [v for v in verdicts if not v.passed]
            last, also = (failed[0], failed[1:]) if failed else (verdicts[-1], [])
            if last.passed and bp is not None:
                bp = bp.model_copy(update={
                    "persona": ctx.persona,
                    "provenance": _provenance(p, slot, ctx, round_no + 1, history, reviews,
                                              advice)}).with_id()
                return SlotResult(slot, accepted=bp)
            previous = draft.blueprint
        if round_no + 1 < max_rounds:
            advice.append(await p.feedback.advise(previous, last, also))
    assert last is not None
    return SlotResult(slot, rejected=RejectedBlueprint(
        slot=slot, env=p.env.name, stage=last.stage, reasons=last.reasons, rounds=max_rounds,
        draft=previous, verdicts=history, feedback=advice))


def _writes_on(bp: dict[str, Any], env: Environment | None,
               writes: set[str]) -> set[tuple[str, str]]:
    """(write tool, record id) for every record (a key of the environment's tables) that
    one of the blueprint's writes names."""
    if env is None:
        return set()
    out = set()
    for action in bp["actions"]:
        if action["name"] not in writes:
            continue
        for value in strings_in(action.get("arguments") or {}):
            if value != bp.get("user_id") and any(value in env.state[t]
                                                  for t in env.domain.tables):
                out.add((action["name"], value))
    return out


# The most writes one recombined task may hold. Each write takes a conversation about
# five agent steps (ask, look up, confirm, act, report), and the rollout stops at 30: in
# offline `run --n 100` of both domains, 2 of 13 tasks with six or seven writes passed
# (most ran out of turns), against 14 of 18 with five.
MAX_WRITES_TOGETHER = 5


def _playable_together(combo: tuple[dict[str, Any], ...], env: Environment | None,
                       writes: set[str], writes_of=None) -> bool:
    """Can the tasks be done in one conversation? Together they make at most
    ``MAX_WRITES_TOGETHER`` writes, no write repeats another task's write on
    the same record (two cancellations of one order), and their actions, run one after
    the other on a fresh copy, all succeed (an address change and an item change on one
    pending order can; a change to an order another task cancels cannot). Costs no model
    call: it only spares the merged instruction's request. (``writes_of``: a blueprint's
    :func:`_writes_on`, remembered.)"""
    if sum(a["name"] in writes for bp in combo for a in bp["actions"]) > MAX_WRITES_TOGETHER:
        return False
    named = [writes_of(b) if writes_of else _writes_on(b, env, writes) for b in combo]
    if any(named[i] & named[j] for i, j in itertools.combinations(range(len(combo)), 2)):
        return False
    if env is None:
        return True
    world = env.fresh()
    return not any(is_error(world.execute(a["name"], a.get("arguments") or {}))
                   for bp in combo for a in bp["actions"])


# Drafted blueprints per user that recombination draws its groups from: the first ones
# accepted. Every pair and triple of them is checked and remembered, so without a bound the
# checks' memory and CPU grow with the cube of a user's blueprints, which grows with --n
# (a million triples at --n 5000 in retail, where the sim drafts for about 250 users).
POOL_PER_USER = 8


class Playable:
    """Which groups of one user's drafted blueprints can be played in one conversation
    (:func:`_playable_together`), checked as each blueprint is accepted, so the check's
    CPU is spent while drafting still waits on the model rather than in one block
    between drafting and recombination, with no request in flight."""

    def __init__(self, env: Environment | None):
        self.env = env
        self.writes = set(env.write_tools) if env else set()
        self.by_user: dict[str, list[dict[str, Any]]] = {}
        self.known: dict[tuple[str, ...], bool] = {}
        self._writes_on: dict[str, set[tuple[str, str]]] = {}

    def accepted(self, bp: dict[str, Any]) -> None:
        """A drafted blueprint was accepted: check the groups it closes."""
        if not in_pool(bp, self.by_user):
            return
        earlier = self.by_user.setdefault(bp["user_id"], [])
        for size in (1, 2):
            for combo in itertools.combinations(earlier, size):
                self.check((*combo, bp))
        earlier.append(bp)

    def check(self, combo: tuple[dict[str, Any], ...]) -> bool:
        """Can ``combo`` be played together (remembered)?"""
        key = tuple(b["id"] for b in combo)
        if key not in self.known:
            # tasks that cannot be played together cannot be with one more after them
            self.known[key] = self.known.get(key[:-1]) is not False and \
                _playable_together(combo, self.env, self.writes, self._named)
        return self.known[key]

    def _named(self, bp: dict[str, Any]) -> set[tuple[str, str]]:
        if bp["id"] not in self._writes_on:
            self._writes_on[bp["id"]] = _writes_on(bp, self.env, self.writes)
        return self._writes_on[bp["id"]]


def in_pool(bp: dict[str, Any], by_user: Mapping[str, Sized]) -> bool:
    """Is ``bp`` (an accepted blueprint's example view, coming after those of ``by_user``,
    a user's pool so far) one of the blueprints recombination draws from: drafted, not
    recombined, and among its user's first :data:`POOL_PER_USER`?"""
    return bool(bp.get("user_id")) and not (bp.get("provenance") or {}).get(
        "recombined_from") and len(by_user.get(bp["user_id"], ())) < POOL_PER_USER


def recombination_groups(accepted: list[dict[str, Any]], seed: int,
                         tried: set[tuple[str, ...]],
                         env: Environment | None = None,
                         playable: Playable | None = None) -> list[list[dict[str, Any]]]:
    """Every untried pair and triple of a user's first :data:`POOL_PER_USER` drafted (not
    recombined) blueprints that can be played in one conversation (see
    :func:`_playable_together`; ``playable`` holds the checks already made), in a seeded
    order (pairs and triples mixed)."""
    playable = playable if playable is not None and playable.env is env else Playable(env)
    by_user: dict[str, list[dict[str, Any]]] = {}
    for bp in accepted:
        if in_pool(bp, by_user):
            by_user.setdefault(bp["user_id"], []).append(bp)
    groups = []
    for user in sorted(by_user):
        bps = by_user[user]
        for size in (2, 3):
            for combo in itertools.combinations(bps, size):
                if tuple(sorted(b["id"] for b in combo)) in tried:
                    continue
                if playable.check(combo):
                    groups.append(list(combo))
    rng = random.Random(f"{seed}:recombine")
    rng.shuffle(groups)
    # one group per user first, so the recombined tasks spread over many customers
    seen: set[str] = set()
    first = [g for g in groups if g[0]["user_id"] not in seen and not seen.add(g[0]["user_id"])]
    rest = [g for g in groups if not any(g is f for f in first)]
    return first + rest


async def recombine(p: Phase1, slot: int, group: list[dict[str, Any]]) -> SlotResult:
    """Join blueprints of one user: actions concatenated, outputs merged, new instruction."""
    actions = [Action.model_validate(a) for bp in group for a in bp["actions"]]
    outputs = list(dict.fromkeys(o for bp in group for o in bp.get("outputs", [])))
    instruction = await _merged_instruction(p, slot, group)
    draft = {"user_id": group[0]["user_id"], "instruction": instruction,
             "actions": [a.model_dump() for a in actions], "outputs": outputs}
    verdicts, bp, reviews = await run_checks(p, draft)
    persona = next((g.get("persona") for g in group if g.get("persona")), None)
    ctx = Context(env=p.env.name, user_id=group[0]["user_id"], persona=persona)
    if verdicts[-1].passed and bp is not None:
        bp = bp.model_copy(update={"persona": persona, "provenance": _provenance(
            p, slot, ctx, 1, verdicts, reviews, [], [g["id"] for g in group])}).with_id()
        return SlotResult(slot, accepted=bp)
    first = next((v for v in verdicts if not v.passed), verdicts[-1])
    return SlotResult(slot, rejected=RejectedBlueprint(
        slot=slot, env=p.env.name, stage=first.stage, reasons=first.reasons,
        rounds=1, draft=draft, verdicts=verdicts))


async def _merged_instruction(p: Phase1, slot: int, group: list[dict[str, Any]]) -> str:
    tasks = [{"instruction": g["instruction"], "actions": g["actions"]} for g in group]
    persona = next((g.get("persona") for g in group if g.get("persona")), None)
    fallback = " Also: ".join(g["instruction"] for g in group)
    if p.recombiner is None:
        return fallback
    messages = [{"role": "system", "content": load_prompt("recombine").render()},
                {"role": "user", "content": "Tasks:\n```json\n"
                 + json.dumps(tasks, separators=(",", ":"), ensure_ascii=False) + "\n```"
                 + (f"\n\nThe customer's persona (keep it): {persona}" if persona else "")}]
    settings = p.recombiner_settings.model_copy(update={"sample": slot})
    done = await p.recombiner.complete(messages, None, settings)
    try:
        text = parse_json_object(done.text).get("instruction")
    except ReplyError:
        text = None
    return text if isinstance(text, str) and text.strip() else fallback
