"""How the offline ``sim`` model plays the phase-2 roles: human, critic and agent.

They read the same prompts real models get. The sim human understands instructions in
the form the template drafter writes ("You want to <tool in words> (<argument>: <value>;
…)"); the sim agent understands customers who state details as "<argument>: <value>".
Honest failure modes, at configurable rates (``sim.flaws``):

- ``human.wander``            a candidate reply changes a detail (the critic should catch it)
- ``agent.wrong_argument``    the agent uses another value seen in the data for a write
- ``agent.skip_confirmation`` the agent writes without asking for a yes
- ``agent.bad_json``          a tool call whose arguments are not valid JSON
- ``agent.vague_answer``      asked for a fact, the agent answers without it
- ``critic.noise``            the critic's score is off by a few points
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.blueprint.instructions import render_value, words
from apigen_mt.llm.sim import SimReply, SimRequest, default_handler, register_sim_role
from apigen_mt.rollout.settings import STOP

DEFAULT_FLAWS = {
    "human.wander": 0.12,
    "agent.wrong_argument": 0.06,
    "agent.skip_confirmation": 0.08,
    "agent.bad_json": 0.03,
    "agent.vague_answer": 0.1,
    "critic.noise": 0.1,
}
_OPENERS = ("You want to", "You would like to", "You need to", "You are hoping to",
            "Then you also want to", "After that, you want to", "You also need to",
            "In the same conversation, you want to")
_REQUEST = re.compile(
    r"(?:" + "|".join(re.escape(o) for o in _OPENERS) + r") ([a-z0-9 ]+?)"
    r"(?: \((.*?)\))?\.(?= [A-Z]|$)")
_IDENTITY = {
    "name": re.compile(r"[Yy]our name is ([A-Z][\w'-]* [A-Z][\w'-]*)"),
    "zip": re.compile(r"your zip code is (\w+)"),
    "email": re.compile(r"your email is ([^\s,]+@[^\s,]+?)(?=[,.]?(?:\s|$))"),
    "user id": re.compile(r"your user id is ([\w.-]+?)(?=[,.]?(?:\s|$))"),
}
_QUESTION = re.compile(r"You also want to ask for the ([a-z0-9 ]+?) \((.*?)\)\.(?= [A-Z]|$)")
_ANSWERED = "here is what you asked"
_DONE = ("done:", "has been completed", "successfully", _ANSWERED)
_FAILED = ("sorry, i could not", "i was unable")


def _split_outside_quotes(text: str, sep: str = "; ") -> list[str]:
    """Split on ``sep`` except inside JSON strings (text that itself holds separators)."""
    parts, start, quoted, i = [], 0, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _details(text: str | None) -> dict[str, str]:
    """``order id: #W1; reason: no longer needed`` → {"order id": "#W1", …}."""
    out = {}
    for part in _split_outside_quotes(text or ""):
        key, sep, value = part.partition(": ")
        if sep and key.strip():
            out[key.strip().lower()] = value.strip()
    return out


@dataclass
class Plan:
    """What a customer's instruction asks for, as the sim human reads it."""

    identity: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def read_instruction(text: str) -> Plan:
    """Parse a template-written instruction."""
    plan = Plan()
    for key, pattern in _IDENTITY.items():
        match = pattern.search(text)
        if match:
            plan.identity[key] = match.group(1)
    for match in _REQUEST.finditer(text):
        plan.requests.append((match.group(1), _details(match.group(2))))
    for match in _QUESTION.finditer(text):
        plan.requests.append((f"ask for the {match.group(1)}", _details(match.group(2))))
    return plan


def _instruction_of(req: SimRequest) -> str:
    text = req.system
    marker = "Your instruction:\n"
    if marker in text:
        return text.split(marker, 1)[1].split("\n\nHow to behave:", 1)[0]
    return text


def _say_details(details: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in details.items())


def human(req: SimRequest) -> SimReply:
    """The customer: announce a request, answer what is asked, confirm, move on, stop."""
    plan = read_instruction(_instruction_of(req))
    agent_lines = [m.get("content") or "" for m in req.messages if m.get("role") == "user"]
    last = agent_lines[-1].lower() if agent_lines else ""
    progressed = sum(1 for line in agent_lines
                     if any(p in line.lower() for p in _DONE + _FAILED))
    if not plan.requests or progressed >= len(plan.requests):
        return SimReply(text=f"That is everything, thank you. {STOP}")
    what, details = plan.requests[progressed]
    if req.chance("human.wander", DEFAULT_FLAWS["human.wander"]) and details:
        details = _wander(details, req)
    question = what.startswith("ask for the ")
    if question and not any(w in last for w in ("before i can help", "verify", "identify")):
        opener = "Thanks. " if any(p in last for p in _DONE + _FAILED) else ""
        return SimReply(text=f"{opener}Could you tell me the {what[len('ask for the '):]} "
                             f"({_say_details(details)})?")
    if any(p in last for p in _DONE + _FAILED):
        return SimReply(text=f"Thanks. I would also like to {what}.")
    if "proceed" in last or "yes/no" in last or "confirm" in last:
        agreed = all(v.lower() in last for v in details.values())
        if agreed:
            return SimReply(text="Yes, please go ahead.")
        return SimReply(text=f"No, that is not right. Please {what} with {_say_details(details)}.")
    identity_words = ("before i can help", "verify", "identify", "authenticate")
    if plan.identity and any(w in last for w in identity_words):
        return SimReply(text=_identify(plan.identity, last))
    if len(agent_lines) <= 1 or "help you" in last or "what would you like" in last:
        return SimReply(text=f"Hi, I would like to {what}.")
    asked = re.search(r"could you provide the (.+?)\?", last)
    unknown = [f for f in (asked.group(1).split(", ") if asked else []) if f not in details]
    if unknown:  # the instruction never says: admit it rather than invent a value
        known = _say_details(details)
        return SimReply(text=(f"Sure. {known}. " if known else "")
                        + f"I do not know the {', '.join(unknown)}.")
    if details:
        return SimReply(text=f"Sure. {_say_details(details)}")
    return SimReply(text="I do not have more details than that.")


def _identify(identity: dict[str, str], asked: str) -> str:
    """Answer with the first identifying detail the agent asked for that we know."""
    if "email" in asked and "email" in identity:
        return f"My email is {identity['email']}."
    if ("name" in asked or "zip" in asked) and "name" in identity and "zip" in identity:
        return f"My name is {identity['name']} and my zip code is {identity['zip']}."
    if "user id" in asked and "user id" in identity:
        return f"My user id is {identity['user id']}."
    return " ".join(f"My {k} is {v}." for k, v in identity.items())


def _wander(details: dict[str, str], req: SimRequest) -> dict[str, str]:
    key = req.rng.choice(sorted(details))
    value = details[key]
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if digits:
        i = req.rng.choice(digits)
        value = value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1:]
    else:
        value = value + " (or something similar)"
    return {**details, key: value}


def critic(req: SimRequest) -> SimReply:
    """Score a candidate 0–10: details the instruction does not support lower it."""
    text = req.last_user
    instruction = text.split("Instruction:\n", 1)[-1].split("\n\nConversation so far:", 1)[0]
    candidate = text.split("Candidate customer reply:\n", 1)[-1]
    question = _ASK.search(candidate)
    if question:
        stated = _details(question.group(2))
    elif candidate.startswith("Sure."):
        stated = _details(candidate.split(". I do not know the", 1)[0].split(". ", 1)[-1])
    else:
        stated = _details(candidate.split(" with ", 1)[-1])
    unsupported = [f"{k}: {v}" for k, v in stated.items() if v.lower() not in instruction.lower()]
    score = 2 if unsupported else 9
    if req.chance("critic.noise", DEFAULT_FLAWS["critic.noise"]):
        score = max(0, min(10, score + req.rng.choice([-2, -1, 1])))
    reason = ("states details the instruction does not give: " + "; ".join(unsupported)
              if unsupported else "consistent with the instruction")
    return SimReply(text=json.dumps({"score": score, "reason": reason}))


# ----------------------------------------------------------------------- the agent


def _functions(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in tools or []}


def _facts(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Everything the customer has said as key → value (later statements win)."""
    facts: dict[str, str] = {}
    for m in messages:
        if m.get("role") != "user":
            continue
        text = m.get("content") or ""
        name = re.search(r"[Mm]y name is ([A-Z][\w'-]*) ([A-Z][\w'-]*)", text)
        if name:
            facts["first name"], facts["last name"] = name.group(1), name.group(2)
        for key, pattern in (("zip", r"zip code is (\w+)"), ("email", r"email is (\S+?)\.?$"),
                             ("user id", r"user id is ([\w.-]+?)\.?$")):
            found = re.search(pattern, text)
            if found:
                facts[key] = found.group(1)
        text = text.split(". I do not know the", 1)[0]
        body = text.split("Sure. ", 1)[-1] if text.startswith("Sure. ") else \
            text.split(" with ", 1)[-1] if text.startswith("No, that is not right") else ""
        facts.update({k: v.rstrip(".") if not v.endswith("..") else v
                      for k, v in _details(body).items()})
    return facts


def _intent(messages: list[dict[str, Any]], functions: dict[str, dict[str, Any]]) -> str | None:
    """The tool the customer's latest announced request maps to."""
    by_words = {words(name): name for name in functions}
    for m in reversed(messages):
        if m.get("role") != "user":
            continue
        found = re.search(r"like to ([a-z0-9 ]+?)\.?$", m.get("content") or "")
        if found and found.group(1) in by_words:
            return by_words[found.group(1)]
    return None


_ASK = re.compile(r"[Cc]ould you tell me the ([a-z0-9 ]+?) \((.*)\)\?$")


def _current_request(messages: list[dict[str, Any]]) -> tuple[int, re.Match | None]:
    """Index of the customer's latest request, and its match when it is a question."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") != "user":
            continue
        text = m.get("content") or ""
        asked = _ASK.search(text)
        if asked:
            return i, asked
        if re.search(r"like to ([a-z0-9 ]+?)\.?$", text):
            return i, None
    return -1, None


def _find_field(data: Any, key: str) -> Any:
    """The first value stored under ``key`` (top level first, then nested)."""
    if isinstance(data, dict):
        if key in data and not isinstance(data[key], (dict, list)):
            return data[key]
        for value in data.values():
            found = _find_field(value, key)
            if found is not None:
                return found
    elif isinstance(data, list):
        for value in data:
            found = _find_field(value, key)
            if found is not None:
                return found
    return None


def _answer(asked: re.Match, since: list[dict[str, Any]],
            functions: dict[str, dict[str, Any]], req: SimRequest) -> SimReply:
    """Look the record up (one read) and tell the customer the field they asked for."""
    field_words, details = asked.group(1), _details(asked.group(2))
    lookups = []
    for name, f in sorted(functions.items(), key=lambda kv: ("details" not in kv[0], kv[0])):
        required = f["parameters"].get("required", [])
        if len(required) == 1 and words(required[0]) in details:
            value = _convert(details[words(required[0])],
                             f["parameters"]["properties"].get(required[0], {}))
            lookups.append((name, {required[0]: value}))
    if not lookups:
        return SimReply(text=f"Sorry, I could not look up the {field_words}.")
    done = [(n, a, obs) for n, a, obs in _calls(since)]
    for name, args in lookups:
        for n, a, obs in done:
            if n == name and a == args and not obs.startswith("Error:"):
                try:
                    value = _find_field(json.loads(obs), field_words.replace(" ", "_"))
                except json.JSONDecodeError:
                    value = None
                if value is not None and req.chance("agent.vague_answer",
                                                    DEFAULT_FLAWS["agent.vague_answer"]):
                    return SimReply(text=f"Here is what you asked: the {field_words} is on "
                                         "your account page.")
                if value is not None:
                    return SimReply(text=f"Here is what you asked: the {field_words} is "
                                         f"{render_value(value)}.")
    tried = {(n, json.dumps(a, sort_keys=True)) for n, a, _ in done}
    for name, args in lookups:
        if (name, json.dumps(args, sort_keys=True)) not in tried:
            return SimReply(tool_calls=[(name, args)])
    return SimReply(text=f"Sorry, I could not find the {field_words}.")


def _calls(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], str]]:
    """(tool, arguments, observation) of every call so far."""
    observations = {m.get("tool_call_id"): m.get("content") or "" for m in messages
                    if m.get("role") == "tool"}
    out = []
    for m in messages:
        for call in m.get("tool_calls") or []:
            fn = call["function"]
            try:
                args = json.loads(fn["arguments"])
            except (json.JSONDecodeError, TypeError):
                args = {}
            out.append((fn["name"], args, observations.get(call["id"], "")))
    return out


def _since_intent(messages: list[dict[str, Any]], intent: str) -> list[dict[str, Any]]:
    """Messages after the customer announced ``intent``."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") == "user" and (m.get("content") or "").endswith(
                f"like to {words(intent)}."):
            return messages[i:]
    return messages


def _convert(value: str, schema: dict[str, Any]) -> Any:
    if value.startswith('"'):  # text written as JSON because it holds separators
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    kinds = [s.get("type") for s in schema.get("anyOf", [])]  # optional: T | None
    if kinds:
        schema = next((s for s in schema["anyOf"] if s.get("type") not in (None, "null")),
                      schema)
    kind = schema.get("type")
    if kind in ("array", "object") or (kind in ("integer", "number") and value):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if kind == "boolean":
        return value.lower() in ("true", "yes")
    return value


_IDENTITY_KEYS = {"email", "first_name", "last_name", "zip", "user_id"}


def agent(req: SimRequest) -> SimReply:
    """One agent turn: ask, look up, confirm, write, or report — one call per turn."""
    if req.settings.tool_choice not in (None, "auto", "none"):
        return default_handler(req)  # a forced call (e.g. `apigen-mt check`'s probe)
    functions = _functions(req.tools)
    msgs = req.messages
    facts = _facts(msgs)
    calls = _calls(msgs)
    last = msgs[-1]
    start, asked = _current_request(msgs)
    intent = None if asked else _intent(msgs, functions)
    if intent is None and asked is None:
        return SimReply(text="Could you tell me what you would like me to do today?")
    identify = [n for n, f in functions.items()
                if n != intent and set(f["parameters"].get("required", [])) and
                set(f["parameters"].get("required", [])) <= _IDENTITY_KEYS]
    if asked is not None:
        if identify and not any(n in identify and not obs.startswith("Error:")
                                for n, _, obs in calls):
            return _identify_customer(identify, functions, facts)
        return _answer(asked, msgs[start:], functions, req)
    recent = _since_intent(msgs, intent)
    recent_calls = _calls(recent)
    for name, _, obs in recent_calls:
        if name == intent and not obs.startswith("Error:"):
            if last.get("role") == "tool":
                return SimReply(text=f"Done: your request to {words(intent)} has been "
                                     "completed. Is there anything else?")
            return SimReply(text="Is there anything else I can help you with?")
    if last.get("role") == "tool" and recent_calls and recent_calls[-1][0] == intent:
        error = last.get("content", "")
        if "JSON" not in error:
            return SimReply(text=f"Sorry, I could not {words(intent)}: {error}")
    # 1. identify the customer before any change
    user_id = next((obs.strip() for n, _, obs in calls if n in identify and
                    n.startswith("find_") and not obs.startswith("Error:")), None)
    identified = not identify or any(n in identify and not obs.startswith("Error:")
                                     for n, _, obs in calls)
    if not identified:
        return _identify_customer(identify, functions, facts)
    # 2. gather every required argument
    params = functions[intent]["parameters"]
    args: dict[str, Any] = {}
    missing = []
    for p in params.get("required", []):
        if words(p) in facts:
            args[p] = _convert(facts[words(p)], params["properties"].get(p, {}))
        elif p == "user_id" and (user_id or facts.get("user id")):
            args[p] = user_id or facts["user id"]
        else:
            missing.append(words(p))
    for p, schema in params.get("properties", {}).items():
        if p not in args and words(p) in facts:
            args[p] = _convert(facts[words(p)], schema)
    if missing:
        said = (last.get("content") or "") if last.get("role") == "user" else ""
        if "i do not know the" in said.lower():
            return SimReply(text=f"Sorry, I could not {words(intent)} without the "
                                 f"{', '.join(missing)}.")
        return SimReply(text=f"Could you provide the {', '.join(missing)}?")
    # 3. look the target up first (a read that takes one of the write's arguments)
    for name, f in sorted(functions.items()):
        required = f["parameters"].get("required", [])
        if name == intent or len(required) != 1 or required[0] not in args:
            continue
        if name in identify or "details" not in name:
            continue
        if not any(n == name and a == {required[0]: args[required[0]]} for n, a, _ in calls):
            return SimReply(tool_calls=[(name, {required[0]: args[required[0]]})])
    # 4. confirm, then write
    described = "; ".join(f"{words(k)}: {render_value(v)}" for k, v in args.items())
    confirmation = f"To confirm, I will {words(intent)} with {described}. Shall I proceed (yes/no)?"
    previous_agent = next((m.get("content") or "" for m in reversed(msgs[:-1])
                           if m.get("role") == "assistant" and m.get("content")), "")
    said_yes = last.get("role") == "user" and re.match(
        r"\s*(yes|sure|go ahead|please proceed|confirm)", (last.get("content") or "").lower())
    confirmed = said_yes and previous_agent == confirmation
    if not confirmed and not req.chance("agent.skip_confirmation",
                                        DEFAULT_FLAWS["agent.skip_confirmation"]):
        return SimReply(text=confirmation)
    if req.chance("agent.wrong_argument", DEFAULT_FLAWS["agent.wrong_argument"]):
        args = _wrong(args, calls, req)
    if req.chance("agent.bad_json", DEFAULT_FLAWS["agent.bad_json"]):
        return SimReply(tool_calls=[(intent, json.dumps(args)[:-1])])
    return SimReply(tool_calls=[(intent, args)])


def _identify_customer(identify: list[str], functions: dict[str, dict[str, Any]],
                       facts: dict[str, str]) -> SimReply:
    """Look the customer up when they gave what a lookup needs; otherwise ask for it."""
    ordered = sorted(identify, key=lambda n: ("email" not in n, n))
    for name in ordered:
        needed = functions[name]["parameters"]["required"]
        if all(words(p) in facts for p in needed):
            return SimReply(tool_calls=[(name, {p: facts[words(p)] for p in needed})])
    options = [" and ".join(words(p) for p in functions[n]["parameters"]["required"])
               for n in ordered]
    return SimReply(text=f"Before I can help, could you tell me your {' or your '.join(options)}?")


def _wrong(args: dict[str, Any], calls: list[tuple[str, dict[str, Any], str]],
           req: SimRequest) -> dict[str, Any]:
    """Swap one string (or list item) for another value of the same key seen in the data."""
    seen: dict[str, list[Any]] = {}

    def walk(data: Any) -> None:
        if isinstance(data, dict):
            for k, v in data.items():
                if isinstance(v, (str, int, float)) and not isinstance(v, bool):
                    seen.setdefault(k, []).append(v)
                else:
                    walk(v)
        elif isinstance(data, list):
            for v in data:
                walk(v)

    for _, _, obs in calls:
        try:
            walk(json.loads(obs))
        except (json.JSONDecodeError, TypeError):
            continue
    options = []
    for key, value in args.items():
        singular = key[:-1] if key.endswith("s") else key
        pool = [v for v in seen.get(singular, seen.get(key, [])) if v != value]
        if isinstance(value, list) and value:
            pool = [v for v in seen.get(singular, []) if v not in value]
        if pool:
            options.append((key, pool))
    if not options:
        return args
    key, pool = req.rng.choice(options)
    changed = dict(args)
    if isinstance(args[key], list):
        changed[key] = [req.rng.choice(pool), *args[key][1:]]
    else:
        changed[key] = req.rng.choice(pool)
    return changed


def register() -> None:
    """Install the phase-2 role handlers in the sim backend."""
    register_sim_role("human", human)
    register_sim_role("critic", critic)
    register_sim_role("agent", agent)


register()
