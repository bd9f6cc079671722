"""How the offline ``sim`` model plays the phase-1 roles: drafter, reviewer, feedback,
recombiner. Each reads the same prompt a real model would and answers in the format the
prompt asks for, with realistic, configurable flaws (``sim.flaws``):

- ``drafter.bad_format``      a misspelt argument name (the format check catches it)
- ``drafter.wrong_argument``  an id that does not exist (the execution check catches it)
- ``drafter.omit_detail``     the instruction leaves out a detail (reviewers catch it)
- ``drafter.policy_violation`` a draft that breaks a domain rule (the policy check)
- ``drafter.unparseable``     prose instead of JSON (answered with the parse error)
- ``drafter.ignores_policy``  the rules in the context are not heeded (natural violations)
- ``reviewer.false_reject``   a reviewer wrongly fails a criterion (split votes)
- ``reviewer.miss``           a reviewer misses a real problem
- ``reviewer.dull``           creativity judged 0

Redrafts read the feedback: the flaw it names is not repeated, and the (tool, value)
pairs it names are avoided.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from apigen_mt.blueprint.checks import check_policy, execute_actions
from apigen_mt.blueprint.context import user_view
from apigen_mt.blueprint.drafters import CONTEXT_FENCE
from apigen_mt.blueprint.fill import fill_walk
from apigen_mt.blueprint.instructions import render_value, write_instruction
from apigen_mt.env.domain import load_environment
from apigen_mt.env.graph import ApiGraph
from apigen_mt.llm.sim import SimReply, SimRequest, register_sim_role
from apigen_mt.records import Action, Blueprint

DEFAULT_FLAWS = {
    "drafter.bad_format": 0.08,
    "drafter.wrong_argument": 0.12,
    "drafter.omit_detail": 0.15,
    "drafter.policy_violation": 0.10,
    "drafter.unparseable": 0.05,
    "drafter.info_request": 0.3,
    "drafter.ignores_policy": 0.35,  # not a flaw: a share of tasks also ask for a fact
    "reviewer.false_reject": 0.08,
    "reviewer.miss": 0.10,
    "reviewer.dull": 0.10,
}
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


def _named_values(req: SimRequest, feedback: str,
                  tool_names: list[str]) -> set[tuple[str, str]]:
    """(tool, value) pairs for values of the previous draft that the advice names."""
    previous = next((m.get("content") for m in reversed(req.messages)
                     if m.get("role") == "assistant"), None)
    if not previous or not feedback:
        return set()
    try:
        draft = json.loads(previous)
    except (json.JSONDecodeError, TypeError):
        return set()
    pairs = set()
    for line in feedback.splitlines():
        for action in draft.get("actions", []) if isinstance(draft, dict) else []:
            name = action.get("name")
            if name not in tool_names or name not in line:
                continue
            for value in (action.get("arguments") or {}).values():
                if isinstance(value, str) and len(value) >= 3 and value in line:
                    pairs.add((name, value))
    return pairs


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


def drafter(req: SimRequest) -> SimReply:
    """Draft a blueprint from the context block, the way the drafter prompt asks."""
    ctx = _context(req)
    if not ctx:
        return SimReply(text="I need a context block to draft a blueprint.")
    round_no = sum(1 for m in req.messages if m.get("role") == "assistant")
    feedback = req.last_user if round_no else ""
    ref = ctx.get("env") or {}
    env = load_environment(ref.get("spec"), data_dir=ref.get("data_dir"),
                           seed=ref.get("seed", 0))
    tool_names = [t.name for t in env.domain.tools]
    named = _named_flaws(feedback)
    avoid = _avoid_pairs(feedback, tool_names) | _named_values(req, feedback, tool_names)
    if _flaw(req, "unparseable", round_no, named):
        return SimReply(text="Here is an idea: the customer wants to change something "
                             "about their account. Let me know if that works.")
    graph = ApiGraph.build(env.domain.tools, env.domain.graph_add, env.domain.graph_remove)
    kinds = {t.name: t.kind for t in env.domain.tools}
    view = ctx.get("user_data") or {}
    users = sorted(env.state[env.domain.user_table])
    others = [user_view(env, req.rng.choice(users))] if users else []
    # a drafter that read the policy rules in its context mostly respects them
    mindful = bool(ctx.get("policy_rules")) and not req.chance(
        "drafter.ignores_policy", DEFAULT_FLAWS["drafter.ignores_policy"])
    chosen = None
    for attempt in range(8):
        walk = ctx.get("suggested_tool_sequence") if attempt == 0 else None
        filled = fill_walk(env, walk or graph.walk(req.rng), view, req.rng, attempts=4,
                           avoid=avoid, extra_views=others)
        if filled is None:
            continue
        chosen = chosen or filled.actions
        bp = Blueprint(env=env.name, user_id=ctx.get("user_id"), instruction="-",
                       actions=filled.actions)
        if not mindful or check_policy(env, execute_actions(env, bp)).passed:
            chosen = filled.actions
            break
    if chosen is None:
        return SimReply(text="I could not find a request that works with this data.")
    if _flaw(req, "policy_violation", round_no, named):
        chosen = _violating_variant(env, ctx.get("user_id"), chosen, req.rng) or chosen
    actions = [a.model_copy(deep=True) for a in chosen]
    writes = [i for i, a in enumerate(actions) if kinds.get(a.name) == "write"]
    omit = None
    if writes and _flaw(req, "omit_detail", round_no, named):
        i = req.rng.choice(writes)
        if actions[i].arguments:
            omit = (i, req.rng.choice(sorted(actions[i].arguments)))
    questions, outputs = [], []
    if req.chance("drafter.info_request", DEFAULT_FLAWS["drafter.info_request"]):
        asked = _info_request(env, ctx.get("user_id"), actions, req.rng)
        if asked is not None:
            read, key, value = asked
            actions.append(read)
            param, param_value = next(iter(read.arguments.items()))
            questions.append((key, param, param_value))
            outputs.append(render_value(value))
    instruction = write_instruction(actions, kinds, ctx.get("user_id"), ctx.get("user_data"),
                                    ctx.get("persona"), req.rng, omit=omit,
                                    questions=questions)
    if writes and _flaw(req, "wrong_argument", round_no, named):
        i = req.rng.choice(writes)
        strings = [k for k, v in actions[i].arguments.items() if isinstance(v, str)]
        if strings:
            key = req.rng.choice(sorted(strings))
            actions[i].arguments[key] = _mangle(actions[i].arguments[key], req.rng)
    body = {"user_id": ctx.get("user_id"), "instruction": instruction,
            "actions": [a.model_dump() for a in actions], "outputs": outputs}
    if writes and _flaw(req, "bad_format", round_no, named):
        i = req.rng.choice(writes)
        args = body["actions"][i]["arguments"]
        if args:
            key = req.rng.choice(sorted(args))
            camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), key)
            args[camel if camel != key else key + "_value"] = args.pop(key)
    return SimReply(text="```json\n" + json.dumps(body) + "\n```")


def _info_request(env: Any, user_id: str | None, actions: list[Action],
                  rng: random.Random) -> tuple[Action, str, Any] | None:
    """A fact to ask for at the end: a field of a record the task touched, read after the
    changes (so the agent must look it up again to answer)."""
    bp = Blueprint(env=env.name, user_id=user_id, instruction="-", actions=actions)
    final = execute_actions(env, bp).env
    reads = {t.name: t for t in env.domain.tools if t.kind == "read"
             and len(t.parameters.get("required", [])) == 1 and not t.ends_conversation}
    options = []
    for action in actions:
        for name, tool in sorted(reads.items()):
            param = tool.parameters["required"][0]
            if param in action.arguments and isinstance(action.arguments[param], str):
                options.append(Action(name=name, arguments={param: action.arguments[param]}))
    rng.shuffle(options)
    for read in options[:4]:
        observation = final.execute(read.name, read.arguments)
        try:
            record = json.loads(observation)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        fields = [(k, v) for k, v in record.items()
                  if not (k == "id" or k.endswith("_id") or k in read.arguments)
                  and ((isinstance(v, str) and 0 < len(v) < 40 and render_value(v) == v)
                       or (isinstance(v, (int, float)) and not isinstance(v, bool)))]
        if fields:
            key, value = rng.choice(fields)
            return read, key, value
    return None


def _variants(action: Action, schema: dict[str, Any], env: Any,
              rng: random.Random) -> list[Action]:
    """Plausible mistakes on one write: keep the old value, drop a count, flip an enum,
    or act on another record of the same table (someone else's order, say)."""
    out = []
    args = action.arguments
    for key, value in args.items():
        if isinstance(value, str):
            for table in env.state:
                if value in env.state[table]:
                    keys = list(env.state[table])
                    for other in rng.sample(keys, k=min(3, len(keys))):
                        if other != value:
                            out.append(Action(name=action.name,
                                              arguments={**args, key: other}))
                    break
        for prefix in ("new_",):
            if key.startswith(prefix) and key[len(prefix):] in args:
                out.append(Action(name=action.name,
                                  arguments={**args, key: args[key[len(prefix):]]}))
        prop = schema.get("properties", {}).get(key, {})
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            out.append(Action(name=action.name, arguments={**args, key: 0}))
        for alt in prop.get("enum", []):
            if alt != value:
                out.append(Action(name=action.name, arguments={**args, key: alt}))
    return out


def _violating_variant(env: Any, user_id: str | None, actions: list[Action],
                       rng: random.Random) -> list[Action] | None:
    """A variant of the actions that still executes but breaks a domain rule."""
    schemas = {t.name: t.parameters for t in env.domain.tools}
    options = []
    for i, action in enumerate(actions):
        if env.tools[action.name].kind != "write":
            continue
        options += [(i, v) for v in _variants(action, schemas[action.name], env, rng)]
    rng.shuffle(options)
    for i, variant in options[:24]:
        candidate = [*actions[:i], variant, *actions[i + 1:]]
        bp = Blueprint(env=env.name, user_id=user_id, instruction="-", actions=candidate)
        run = execute_actions(env, bp)
        if all(t.ok for t in run.trace if t.kind == "write") and \
                not check_policy(env, run).passed:
            return candidate
    return None


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
                if scalar and render_value(v).lower() not in instruction:
                    missing.append(f"{action['name']}.{key} = {render_value(v)}")
    return missing


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
    """Merge instructions: keep the first identity sentence, then each request in turn."""
    match = re.search(r"```json\n(.*?)\n```", req.last_user, re.DOTALL)
    tasks = json.loads(match.group(1)) if match else []
    sentences: list[str] = []
    for task in tasks:
        for sentence in re.split(r"(?<=\.)\s+", task.get("instruction", "")):
            if sentence and sentence not in sentences and not sentence.startswith("Give details"):
                sentences.append(sentence)
    sentences.append("Give details only when the agent asks for them, and confirm before "
                     "changes.")
    return SimReply(text=json.dumps({"instruction": " ".join(sentences)}))


def register() -> None:
    """Install the phase-1 role handlers in the sim backend."""
    register_sim_role("drafter", drafter)
    register_sim_role("reviewer", reviewer)
    register_sim_role("feedback", feedback)
    register_sim_role("recombiner", recombiner)


register()
