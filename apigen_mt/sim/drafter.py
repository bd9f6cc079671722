"""How the offline ``sim`` model plays the phase-1 roles: drafter, reviewer, feedback,
recombiner. Each reads the same prompt a real model would and answers in the format the
prompt asks for, with realistic, configurable flaws (``sim.flaws``):

- ``drafter.bad_format``      a misspelt argument name (the format check catches it)
- ``drafter.wrong_argument``  an id that does not exist (the execution check catches it)
- ``drafter.omit_detail``     the instruction leaves out a detail (reviewers catch it)
- ``drafter.policy_violation`` a write aimed at a record the suggested tools do not apply
  to (the execution or policy check)
- ``drafter.unparseable``     prose instead of JSON (answered with the parse error)
- ``drafter.info_request``    (not a flaw) the task also asks for a fact of a record
- ``reviewer.false_reject``   a reviewer wrongly fails a criterion (split votes)
- ``reviewer.miss``           a reviewer misses a real problem
- ``reviewer.dull``           creativity judged 0

Every role answers from its request alone (no environment, no project checks); beyond
the named flaws, the drafter's mistakes are those of reading the context carelessly (see
:mod:`apigen_mt.sim.drafting`). Redrafts read the feedback: the flaw it names
is not repeated, the (tool, value) pairs it names are avoided, numbers it corrects are
corrected, and when it names the failing writes by position only those are drafted again.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from apigen_mt.env.values import strings_in
from apigen_mt.prompts import CONTEXT_FENCE
from apigen_mt.records import Action
from apigen_mt.sim.drafting import (
    build_pool,
    corrected,
    fact_to_ask,
    fill_walk,
    parse_tools,
    repair_plan,
)
from apigen_mt.sim.instructions import render_value, write_instruction
from apigen_mt.sim.reading import is_task_sentence
from apigen_mt.sim.request import SimReply, SimRequest

DEFAULT_FLAWS = {
    "drafter.bad_format": 0.10,
    "drafter.wrong_argument": 0.12,
    "drafter.omit_detail": 0.15,
    "drafter.policy_violation": 0.25,
    "drafter.unparseable": 0.05,
    "drafter.info_request": 0.3,  # not a flaw: a share of tasks also ask for a fact
    "reviewer.false_reject": 0.08,
    "reviewer.miss": 0.10,
    "reviewer.dull": 0.10,
}
_ID_ARG = re.compile(r"(^|_)id$")
_REDRAFT_DAMPING = 0.2  # feedback fixes most flaws: later rounds repeat them rarely


def _context(req: SimRequest) -> dict[str, Any]:
    for m in req.messages:
        text = m.get("content") or ""
        if m.get("role") == "user" and CONTEXT_FENCE in text:
            body = text.split(CONTEXT_FENCE, 1)[1].split("```", 1)[0]
            return json.loads(body)
    return {}


def _avoid_pairs(feedback: str, tool_names: list[str]) -> set[tuple[str, str]]:
    """(tool, value) pairs named on the same line of the advice."""
    pairs = set()
    for line in feedback.splitlines():
        tools = [t for t in tool_names if t in line]
        values = re.findall(r"'([^']{3,})'|\"([^\"]{3,})\"|(#?[A-Z0-9]{6,})", line)
        for tool in tools:
            for groups in values:
                value = next(g for g in groups if g)
                if value not in tool_names:
                    pairs.add((tool, value))
    return pairs


def _previous(req: SimRequest) -> dict[str, Any] | None:
    text = next((m.get("content") for m in reversed(req.messages)
                 if m.get("role") == "assistant"), None)
    try:
        draft = json.loads(text) if text else None
    except (json.JSONDecodeError, TypeError):
        return None
    return draft if isinstance(draft, dict) else None


def _named_values(previous: dict[str, Any] | None, feedback: str,
                  tool_names: list[str]) -> set[tuple[str, str]]:
    """(tool, value) pairs for values of the previous draft that the advice names."""
    if not previous or not feedback:
        return set()
    pairs = set()
    for line in feedback.splitlines():
        for action in previous.get("actions") or []:
            if not isinstance(action, dict):
                continue
            name = action.get("name")
            if name not in tool_names or name not in line:
                continue
            for value in strings_in(action.get("arguments") or {}):
                if len(value) >= 3 and (value in line or _said_in_words(value, line)):
                    pairs.add((name, value))
    return pairs


def _count(actions: Any, writes: set[str]) -> int:
    """Writes among actions (Action objects, or a previous draft's JSON)."""
    if isinstance(actions, dict):
        actions = actions.get("actions") or []
    return sum(1 for a in actions
               if (a.get("name") if isinstance(a, dict) else a.name) in writes)


def _said_in_words(value: str, line: str) -> bool:
    """An id the advice names by its words: "gift card balance is not enough" names
    gift_card_6297408 (two words or more, so a lone common word names nothing)."""
    parts = [w for w in re.split(r"[\W\d_]+", value.lower()) if len(w) >= 3]
    return len(parts) >= 2 and " ".join(parts) in line.lower()


def _named_flaws(feedback: str) -> set[str]:
    text = feedback.lower()
    found = set()
    if "format" in text or "unexpected argument" in text or "missing argument" in text:
        found.add("bad_format")
    if "execution" in text or "failed" in text:
        found.add("wrong_argument")
    if "policy" in text:
        found.add("policy_violation")
    if "instruction" in text or "completeness" in text:
        found.add("omit_detail")
    return found


def _flaw(req: SimRequest, name: str, round_no: int, named: set[str]) -> bool:
    rate = req.flaw(f"drafter.{name}", DEFAULT_FLAWS[f"drafter.{name}"])
    if round_no > 0:
        rate *= 0 if name in named else _REDRAFT_DAMPING
    return req.rng.random() < rate


def _mangle(value: str, rng: random.Random) -> str:
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if not digits:
        return value + "x"
    i = rng.choice(digits)
    return value[:i] + str((int(value[i]) + rng.randint(1, 8)) % 10) + value[i + 1:]


def _example_values(examples: list[Any], tool: str, name: str) -> list[Any]:
    """Values an example's calls used for an argument called ``name`` (calls of the same
    tool first)."""
    out, same = [], []
    for ex in examples:
        for action in (ex.get("actions") or []) if isinstance(ex, dict) else []:
            if isinstance(action, dict):
                value = (action.get("arguments") or {}).get(name)
                if isinstance(value, str):
                    (same if action.get("name") == tool else out).append(value)
    return same or out


def _off_target(walk: list[dict[str, Any]], pool: Any, rng: random.Random,
                examples: list[Any]) -> list[dict[str, Any]] | None:
    """The walk with one write aimed at a record its preconditions exclude: an order that
    is no longer pending, a reservation that cannot be cancelled, or a record copied from
    an example (someone else's order)."""
    options = []
    for i, step in enumerate(walk):
        for name, allowed in (step.get("applies_to") or {}).items():
            others = [v for v in pool.candidates(name) if v not in allowed
                      and isinstance(v, str)]
            copied = [v for v in _example_values(examples, step["name"], name)
                      if v not in allowed]
            if copied and (not others or rng.random() < 0.8):
                others = copied
            if others:
                options.append((i, name, others))
    if not options:
        return None
    i, name, others = rng.choice(options)
    changed = [dict(s) for s in walk]
    changed[i]["applies_to"] = {**changed[i]["applies_to"], name: [rng.choice(others)]}
    return changed


def _keep_old_value(actions: list[Action], writes: set[str], rng: random.Random) -> None:
    """A change that keeps the old value (``new_item_ids`` equal to ``item_ids``)."""
    options = [(a, k) for a in actions if a.name in writes for k in a.arguments
               if k.startswith("new_") and k[4:] in a.arguments]
    if options:
        action, key = rng.choice(options)
        action.arguments[key] = json.loads(json.dumps(action.arguments[key[4:]]))


def drafter(req: SimRequest) -> SimReply:
    """Draft a blueprint from the context block and the tool list, the way the drafter
    prompt asks, with nothing but the request to go on."""
    ctx = _context(req)
    if not ctx:
        return SimReply(text="I need a context block to draft a blueprint.")
    tools = parse_tools(req.system)
    walk = [s for s in ctx.get("suggested_tools") or [] if isinstance(s, dict)]
    if not tools or not walk:
        return SimReply(text="I need the tools and a suggested sequence to draft from.")
    round_no = sum(1 for m in req.messages if m.get("role") == "assistant")
    feedback = req.last_user if round_no else ""
    names = sorted(tools)
    previous = _previous(req) if round_no else None
    named = _named_flaws(feedback)
    avoid = _avoid_pairs(feedback, names) | _named_values(previous, feedback, names)
    if _flaw(req, "unparseable", round_no, named):
        return SimReply(text="Here is an idea: the customer wants to change something "
                             "about their account. Let me know if that works.")
    writes = {s["name"] for s in walk if s.get("changes_records")}
    kinds = {n: "write" if n in writes else "read" for n in tools}
    pool = build_pool(ctx)
    actions = corrected(previous, feedback) if previous else None
    plan = repair_plan(previous, feedback, walk, tools) if previous and actions is None \
        else None
    if plan is not None:
        actions = fill_walk(walk, tools, pool, req.rng, avoid, *plan)
        if actions is not None and _count(actions, writes) < _count(previous, writes):
            actions = None  # nothing else fits the failed write: draft the task afresh
    if actions is None:
        careless = _flaw(req, "policy_violation", round_no, named)
        swaps = any(s.get("changes_records") and s["name"] in tools and any(
            k.startswith("new_") for k in tools[s["name"]].get("parameters", {})
            .get("properties", {})) for s in walk)
        if careless and not (swaps and req.rng.random() < 0.7):
            walk = _off_target(walk, pool, req.rng, ctx.get("examples") or []) or walk
            careless = False
        actions = fill_walk(walk, tools, pool, req.rng, avoid)
        if careless and actions:
            _keep_old_value(actions, writes, req.rng)
    if not actions:
        return SimReply(text="I could not find a request that works with these records.")
    actions = [a.model_copy(deep=True) for a in actions]
    write_at = [i for i, a in enumerate(actions) if a.name in writes]
    omit = None
    if write_at and _flaw(req, "omit_detail", round_no, named):
        i = req.rng.choice(write_at)
        keys = sorted(actions[i].arguments)
        req.rng.shuffle(keys)
        # the detail forgotten is one the rest of the instruction does not give either
        plain = write_instruction(actions, kinds, ctx.get("user_id"),
                                  ctx.get("user_records"), None, random.Random(0),
                                  omit=None, offers=ctx.get("catalogue")).lower()
        for key in keys:
            said = re.escape(render_value(actions[i].arguments[key]).lower())
            if len(re.findall(rf"(?<!\w){said}(?!\w)", plain)) == 1:
                omit = (i, key)
                break
    questions, outputs = [], []
    if req.chance("drafter.info_request", DEFAULT_FLAWS["drafter.info_request"]):
        asked = fact_to_ask(actions, tools, pool, writes, req.rng)
        if asked is not None:
            read, key, value = asked
            actions.append(read)
            param, param_value = next(iter(read.arguments.items()))
            questions.append((key, param, param_value))
            outputs.append(render_value(value))
    instruction = write_instruction(actions, kinds, ctx.get("user_id"),
                                    ctx.get("user_records"), ctx.get("persona"), req.rng,
                                    omit=omit, questions=questions,
                                    offers=ctx.get("catalogue"))
    if write_at and _flaw(req, "wrong_argument", round_no, named):
        i = req.rng.choice(write_at)
        # an id (an order, a payment method): one that does not exist fails to execute,
        # where a mangled free-text value ("FLx" for a state) would pass every check
        strings = [k for k, v in actions[i].arguments.items()
                   if isinstance(v, str) and _ID_ARG.search(k)]
        if strings:
            key = req.rng.choice(sorted(strings))
            actions[i].arguments[key] = _mangle(actions[i].arguments[key], req.rng)
    body = {"user_id": ctx.get("user_id"), "instruction": instruction,
            "actions": [a.model_dump() for a in actions], "outputs": outputs}
    if write_at and _flaw(req, "bad_format", round_no, named):
        i = req.rng.choice(write_at)
        args = body["actions"][i]["arguments"]
        if args:
            key = req.rng.choice(sorted(args))
            camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), key)
            args[camel if camel != key else key + "_value"] = args.pop(key)
    return SimReply(text="```json\n" + json.dumps(body) + "\n```")


def _task(req: SimRequest) -> dict[str, Any]:
    text = req.last_user
    match = re.search(r"```json\n(.*?)\n```", text, re.DOTALL)
    return json.loads(match.group(1)) if match else {}


def _missing_details(task: dict[str, Any]) -> list[str]:
    """Write arguments whose values the instruction never states."""
    instruction = (task.get("instruction") or "").lower()
    writes = set(task.get("write_tools") or [])
    missing = []
    for action in task.get("actions", []):
        if action.get("name") not in writes:
            continue
        for key, value in (action.get("arguments") or {}).items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                scalar = isinstance(v, (str, int, float)) and not isinstance(v, bool)
                said = re.escape(render_value(v).lower())
                if scalar and not re.search(rf"(?<!\w){said}(?!\w)", instruction):
                    missing.append(f"{action['name']}.{key} = {render_value(v)}")
    return missing


def _unreadable_outputs(task: dict[str, Any]) -> list[str]:
    """Expected outputs that the records after the calls do not show."""
    records = task.get("records") or {}
    if not records:
        return []
    after = json.dumps([r.get("after") for r in records.values() if isinstance(r, dict)])
    after = after.lower().replace(",", "")
    return [o for o in task.get("outputs") or []
            if isinstance(o, str) and o.lower().replace(",", "") not in after]


def reviewer(req: SimRequest) -> SimReply:
    """Score the four criteria; real problems lower them, noise splits some votes."""
    task = _task(req)
    missing = _missing_details(task)
    scores = {"correctness": 1, "completeness": 1, "satisfaction": 1, "creativity": 1}
    notes = []
    if missing and not req.chance("reviewer.miss", DEFAULT_FLAWS["reviewer.miss"]):
        scores["completeness"] = 0
        scores["correctness"] = 0
        notes.append("the instruction never states " + "; ".join(missing[:3]))
    stale = _unreadable_outputs(task)
    if stale and not req.chance("reviewer.miss", DEFAULT_FLAWS["reviewer.miss"]):
        scores["correctness"] = 0
        notes.append("after the changes the records no longer show " + "; ".join(stale[:3]))
    for criterion in ("correctness", "completeness", "satisfaction"):
        if req.chance("reviewer.false_reject", DEFAULT_FLAWS["reviewer.false_reject"]):
            scores[criterion] = 0
            notes.append(f"I am not convinced about {criterion}")
    if req.chance("reviewer.dull", DEFAULT_FLAWS["reviewer.dull"]):
        scores["creativity"] = 0
        notes.append("the request feels generic")
    reflection = "; ".join(notes) or "the calls match the request and every detail is given"
    return SimReply(text=json.dumps({**scores, "reflection": reflection}))


def feedback(req: SimRequest) -> SimReply:
    """Turn each reason into one line of advice that names what to change."""
    text = req.last_user
    stage = re.search(r"Rejected at the (\w+) check", text)
    lines = []
    for reason in re.findall(r"^- \[\w+\] (.*)$", text, re.MULTILINE):
        if stage and stage.group(1) == "execution":
            lines.append(f"Execution failed; avoid this call or value: {reason}")
        elif stage and stage.group(1) == "policy":
            lines.append(f"Policy violation; choose a different target: {reason}")
        elif stage and stage.group(1) == "committee":
            lines.append(f"Reviewers objected; state every detail in the instruction: {reason}")
        elif stage and stage.group(1) == "format":
            lines.append(f"Format problem; use the exact argument names: {reason}")
        else:
            lines.append(f"Fix: {reason}")
    return SimReply(text="\n".join(lines[:8]) or "Write a valid JSON blueprint.")


def recombiner(req: SimRequest) -> SimReply:
    """Merge instructions: who the customer is and how they behave once, then every
    request of every task in turn with its details (a request or a detail said twice
    belongs to two tasks, so it is kept twice)."""
    match = re.search(r"```json\n(.*?)\n```", req.last_user, re.DOTALL)
    tasks = json.loads(match.group(1)) if match else []
    sentences: list[str] = []
    for task in tasks:
        for sentence in re.split(r"(?<=\.)\s+", task.get("instruction", "")):
            if sentence and (sentence not in sentences or is_task_sentence(sentence)):
                sentences.append(sentence)
    sentences.append("Confirm each change before it is made.")
    return SimReply(text=json.dumps({"instruction": " ".join(sentences)}))
