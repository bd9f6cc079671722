"""How the offline ``sim`` model plays the agent: from the conversation and the tools only.

It understands what the customer wants from their words (a verb and an object that name
one tool, see :func:`~apigen_mt.sim.phrasing.match_intent`), identifies them with a
lookup tool whose arguments they gave (email, or name and zip, or user id), reads the
details they state ("The order is #W1.", "order #W1"), asks in one question for those a
change still needs, looks the target up, then states the change in plain words and asks
for consent before every write. It answers questions by reading the record.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from apigen_mt.sim.dates import iso_dates, present_date
from apigen_mt.sim.instructions import render_value
from apigen_mt.sim.itinerary import count_of, plain_counts, plain_travel
from apigen_mt.sim.model import default_handler
from apigen_mt.sim.phrasebook import PHRASES
from apigen_mt.sim.phrasing import (
    Slot,
    lookup_ids,
    noun,
    nouns_named,
    parse_address,
    parse_value,
    slots_for,
    speak_address,
    speak_intent,
    speak_value,
    value_pieces,
    words,
)
from apigen_mt.sim.reading import EMAIL
from apigen_mt.sim.request import SimReply, SimRequest
from apigen_mt.sim.wording import detail_patterns

# Rates are per write (a call with a mistake in it), so a conversation's chance of one grows
# with its writes: tasks average about 2.5 writes, so these give roughly the per-
# conversation rates single-write tasks had at 0.06 / 0.08 / 0.03.
DEFAULT_FLAWS = {
    "agent.wrong_argument": 0.025,
    "agent.skip_confirmation": 0.035,
    "agent.bad_json": 0.015,
    "agent.vague_answer": 0.1,
}
_IDENTITY_KEYS = {"email", "first_name", "last_name", "zip", "phone", "user_id"}
_LOOKED_UP = {"user_id", "customer_id"}  # ids an identification lookup returns
_PHONE = re.compile(r"phone number is (\+?\d[\d() -]{5,}\d)")
_YES = re.compile(r"^\s*(?:(?:um|oh|alright|right|lovely|great|fine|well),? )?"
                  r"(yes|yeah|yep|yup|sure|confirmed|certainly|right|go ahead|please do|"
                  r"please go ahead|that's right|correct|sounds good|ok|okay|absolutely|"
                  r"perfect|do it)\b",
                  re.IGNORECASE)
_SAYS = PHRASES["agent"]
_CONSENT = tuple(_SAYS["consent"])
# a fact asked about one record, in the ways customers ask it ("What's the email on user
# id X?", "Which cabin is listed for reservation Y?"); never "... for my order X" (nor "I
# need the bags on file for my booking X changed": a record is named in a word or two)
_QUESTION = re.compile(r"(?:(?:tell me|[Ww]hat's|[Ww]hat is|know|need|check|looking up) the "
                       r"([a-z0-9 ]+?)|[Ww]hat ([a-z0-9 ]+?) do you have|[Ww]hich ([a-z0-9 ]+?) "
                       r"is listed|[Ww]hat does it say the ([a-z0-9 ]+?) is) (?:of|for|on) "
                       r"(?:the )?((?!my |your )[a-z]+(?: (?!my |your )[a-z]+)?) "
                       r"(\S+?)[?.](?:\s|$)")
_NAME = re.compile(r"(?:[Nn]ame is|I'm|I am|[Ii]t's(?: under)?|name's|[Tt]his is|name of) "
                   r"([A-Z][\w'-]+) ([A-Z][\w'-]+)")
_ZIP = re.compile(r"zip(?: code)?(?: is)? (\d{5})\b")
_BARE = re.compile(r"(?:^|, )(?:it's|it is|that would be|that'd be|i believe it's|i think it's|"
                   r"it should be|it would be|that's) (.+?)[.!]?$|^(?:Well|Honestly), (.+?)[.!]?$",
                   re.IGNORECASE)
_ID = r"#?[\w-]*\d[\w-]*"
_IDS = rf"{_ID}(?:(?:, | and ){_ID})*"  # an id or number, or a list of them
_USER_ID = re.compile(r"(?:[Uu]ser id is|[Uu]ser id, which is|[Ii]t's|[Uu]ser id|[Mm]y id is|"
                      r"I'm|[Ll]ook me up as) "
                      r"([a-z]+(?:_[a-z]+)+_?\d+)\b")  # "User id X." opens a sentence too


def _functions(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in tools or []}


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


def _identity(messages: list[dict[str, Any]]) -> dict[str, str]:
    """What the customer said about who they are, as lookup arguments."""
    facts: dict[str, str] = {}
    for m in messages:
        if m.get("role") != "user":
            continue
        text = m.get("content") or ""
        email = EMAIL.search(text)
        if email:
            facts["email"] = email.group(0).rstrip(".")
        name = _NAME.search(text)
        if name:
            facts["first_name"], facts["last_name"] = name.group(1), name.group(2)
        phone = _PHONE.search(text)
        if phone:
            facts["phone"] = phone.group(1)
        zip_code = _ZIP.search(text)
        if zip_code:
            facts["zip"] = zip_code.group(1)
        uid = _USER_ID.search(text)
        if uid:
            facts["user_id"] = uid.group(1)
    return facts


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])(?<!\bSt\.)\s+(?=[A-Z\"#0-9])", text.strip()) if s]


def _request(messages: list[dict[str, Any]], writes: list[str]) -> tuple[int, str | None,
                                                                          re.Match | None]:
    """Index of the customer's latest request, the tool it names or the question asked."""
    from apigen_mt.sim.phrasing import match_intent

    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") != "user":
            continue
        text = m.get("content") or ""
        asked = _QUESTION.search(text)
        if asked:
            return i, None, asked
        for sentence in _sentences(text):
            tool = match_intent(sentence, writes)
            if tool:
                return i, tool, None
    return -1, None, None


# two details said in one breath, and how to hear them
_PAIRED = [(("origin", "destination"), re.compile(r"\b([A-Z]{3}) to ([A-Z]{3})\b")),
           (("flight type", "cabin"), re.compile(r"\b(one way|round trip)\b.*?\b(basic economy|"
                                                  r"economy|business)\b", re.IGNORECASE)),
           (("total bags", "paid bags"),
            re.compile(r"\b(\d+) (?:checked )?(?:bags?|suitcases?)\b.*?,(?: with| and)? "
                       r"(\d+|none|both|all)"
                       r" (?:of (?:them|those) )?(?:are )?paid\b"))]

_NO_BAGS = re.compile(r"\bno (?:checked )?(?:bags|luggage)\b|\bnothing to check\b|"
                      r"\bnot checking any bags\b|\bzero bags\b", re.IGNORECASE)


def _statements(text: str, slot_nouns: list[str]) -> dict[str, str]:
    """``The order is #W1.`` / ``the reason should be …`` → {noun: spoken value}."""
    out = {}
    forms = detail_patterns(slot_nouns, _IDS)
    for sentence in _sentences(plain_counts(text)):
        pair = next(((ns, p.search(sentence)) for ns, p in _PAIRED
                     if all(n in slot_nouns for n in ns) and p.search(sentence)), None)
        if {"total bags", "paid bags"} <= set(slot_nouns) and _NO_BAGS.search(sentence):
            out.update({"total bags": "0", "paid bags": "0"})  # "No bags at all."
            continue
        if pair:  # "JFK to MIA", "3 bags, 1 of them paid": two details in one sentence
            # "One way" as "one way", "JFK" as it is
            heard = [v if v not in ("both", "all") else pair[1].group(1)  # every bag paid
                     for v in pair[1].groups()]
            out.update({n: "0" if v == "none" else v if v.isupper() else v.lower()
                        for n, v in zip(pair[0], heard, strict=True)})
            continue
        named = next(((n, f) for n, f in forms if n not in out and f.search(sentence)), None)
        if named:  # "pay with credit_card_1", "3 bags in total"
            out[named[0]] = named[1].search(sentence).group(1)
            continue
        for noun_ in sorted(slot_nouns, key=len, reverse=True):
            found = re.search(rf"\bthe {re.escape(noun_)}(?: in question| I mean)? (?:is|"
                              rf"are|should be|would be|it's|is about) (.+?)[.!]?$|"
                              rf"\bthe {re.escape(noun_)}, it's "
                              rf"(.+?)[.!]?$|\babout the {re.escape(noun_)} (.+?)[.!]?$",
                              sentence, re.IGNORECASE)
            # "Order #W1." / "And items 1 and 2." / "cancel order #W1 for me"
            found = found or re.search(rf"(?:^|\s){re.escape(noun_)} ({_IDS})(?=[.!?,;]?(?:\s|$))",
                                       sentence, re.IGNORECASE)
            if found:
                out[noun_] = next(g for g in found.groups() if g is not None)
                break
    return out


def _bare_answer(text: str) -> str | None:
    """``It's #W1.`` / ``That would be 2.`` → the value said."""
    said = _sentences(text)
    for sentence in said:
        found = _BARE.search(sentence)
        if found:
            return found.group(1) or found.group(2)
    # a value said alone among a few words around it ("Let me check. #W1. Thanks.")
    alone = [s.strip().rstrip(".!") for s in said if " " not in s.strip()]
    valued = [s for s in alone if any(c.isdigit() for c in s)]
    if len(valued) == 1:
        return valued[0]
    if len(said) == 1 and len(alone) == 1:
        return alone[0]
    return None


def _slot_from_speech(slot: Slot, spoken: str, schema: dict[str, Any]) -> dict[str, Any]:
    if slot.is_address:
        return parse_address(spoken, slot.params) or {}
    kind = schema.get(slot.params[0], {})
    if kind.get("type") == "integer":  # "It's three." is 3
        spoken = count_of(spoken) or spoken
    return {slot.params[0]: parse_value(spoken, kind)}


def _gather(messages: list[dict[str, Any]], slots: list[Slot],
            props: dict[str, Any], today: dt.date | None = None) -> dict[str, Any]:
    """Arguments stated since the request was made (later statements win); a date said in
    words is heard as ``YYYY-MM-DD`` (its year, when left out, from ``today``)."""
    nouns = [s.noun for s in slots]
    by_noun = {s.noun: s for s in slots}
    args: dict[str, Any] = {}
    asked: list[str] = []
    for m in messages:
        text = m.get("content") or ""
        if m.get("role") == "assistant" and text:
            asked = _asked(text, nouns)
        if m.get("role") != "user":
            continue
        text = plain_travel(iso_dates(text, today), today)
        said = _statements(text, nouns)
        if not said and len(asked) == 1:
            bare = _bare_answer(text)
            if bare is not None:
                said = {asked[0]: bare}
        for noun_, spoken in said.items():
            args.update(_slot_from_speech(by_noun[noun_], spoken, props))
    return args


def _asked(text: str, nouns: list[str]) -> list[str]:
    """The details an agent message asks for, its consent question aside."""
    questions = " ".join(s for s in _sentences(text) if s.endswith("?") and s not in _CONSENT)
    return nouns_named(questions, nouns)


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
    field = next(g for g in asked.groups()[:4] if g)
    about, value = asked.group(5), asked.group(6)
    lookups = []
    for name, f in sorted(functions.items(), key=lambda kv: ("details" not in kv[0], kv[0])):
        required = f["parameters"].get("required", [])
        if len(required) == 1 and noun(required[0]) == about:
            schema = f["parameters"]["properties"].get(required[0], {})
            lookups.append((name, {required[0]: parse_value(value, schema)}))
    if not lookups:
        return SimReply(text=f"I'm sorry, I could not look up the {field}.")
    done = _calls(since)
    for name, args in lookups:
        for n, a, obs in done:
            if n == name and a == args and not obs.startswith("Error:"):
                try:
                    found = _find_field(json.loads(obs), field.replace(" ", "_"))
                except json.JSONDecodeError:
                    found = None
                if found is not None and req.chance("agent.vague_answer",
                                                    DEFAULT_FLAWS["agent.vague_answer"]):
                    return SimReply(text=f"You can see the {field} of {about} {value} in your "
                                         "account.")
                if found is not None:
                    return SimReply(text=req.rng.choice(_SAYS["answer"]).format(
                            f=field, a=about, v=value, x=render_value(found)))
    tried = {(n, json.dumps(a, sort_keys=True)) for n, a, _ in done}
    for name, args in lookups:
        if (name, json.dumps(args, sort_keys=True)) not in tried:
            return SimReply(tool_calls=[(name, args)])
    return SimReply(text=f"I'm sorry, I could not find the {field}.")


def _describe(intent: str, args: dict[str, Any], req: SimRequest) -> str:
    """The change in plain words, every value stated."""
    parts = []
    for slot in slots_for(list(args)):
        if slot.params[0] in _LOOKED_UP:  # stated too: every value of the call is said
            parts.append(f"the account {args[slot.params[0]]}")
        elif slot.is_address:
            parts.append(f"the {slot.noun} {speak_address(args)}")
        else:
            parts.append(f"the {slot.noun} {speak_value(args[slot.params[0]])}")
    said = speak_intent(intent, req.rng, "your")
    listed = (", ".join(parts[:-1]) + " and " + parts[-1]) if len(parts) > 1 else "".join(parts)
    lead = req.rng.choice(_SAYS["confirm_lead"])
    text = lead.format(i=said) + (f", with {listed}." if listed else ".")
    return f"{text} {req.rng.choice(_CONSENT)}"


def _confirmed(msgs: list[dict[str, Any]], args: dict[str, Any]) -> bool:
    """The customer said yes right after a consent question that stated these values."""
    last = msgs[-1]
    if last.get("role") != "user" or not _YES.match(last.get("content") or ""):
        return False
    previous = next((m.get("content") or "" for m in reversed(msgs[:-1])
                     if m.get("role") == "assistant" and m.get("content")), "")
    low = previous.lower()
    stated = {k: v for k, v in args.items() if k not in _LOOKED_UP}
    return any(c in previous for c in _CONSENT) and all(
        p.lower() in low for p in value_pieces(stated))


def agent(req: SimRequest) -> SimReply:
    """One agent turn: ask, look up, confirm, write, or report — one call per turn."""
    if req.settings.tool_choice not in (None, "auto", "none"):
        return default_handler(req)  # a forced call (e.g. `apigen-mt check`'s probe)
    req = req.worded_by_state()
    functions = _functions(req.tools)
    msgs = req.messages
    calls = _calls(msgs)
    last = msgs[-1]
    identify = [n for n, f in functions.items()
                if set(f["parameters"].get("required", [])) and
                set(f["parameters"].get("required", [])) <= _IDENTITY_KEYS]
    writes = [n for n in functions if n not in identify]
    start, intent, asked = _request(msgs, writes)
    if intent is None and asked is None:
        if last.get("role") == "user" and "?" not in (last.get("content") or ""):
            return SimReply(text=req.rng.choice([
                "Is there anything else I can help you with?",
                "Could you tell me what you would like me to do today?"]))
        return SimReply(text=req.rng.choice([
            "I'm not sure I follow. What would you like me to do?",
            "Could you tell me what you would like me to do today?"]))
    identified = not identify or any(n in identify and not obs.startswith("Error:")
                                     for n, _, obs in calls)
    if not identified:
        return _identify_customer(identify, functions, _identity(msgs), calls, req)
    if asked is not None:
        return _answer(asked, msgs[start:], functions, req)
    assert intent is not None
    recent = msgs[start:]
    recent_calls = _calls(recent)
    for name, _, obs in recent_calls:
        if name == intent and not obs.startswith("Error:"):
            if last.get("role") == "tool":
                return SimReply(text=req.rng.choice(_SAYS["done"]))
            return SimReply(text=req.rng.choice(_SAYS["anything_else"]))
    if last.get("role") == "tool" and recent_calls and recent_calls[-1][0] == intent:
        error = last.get("content", "")
        if "JSON" not in error:
            return SimReply(text=f"I'm sorry, I couldn't do that. {error}")
    user_id = next((obs.strip() for n, _, obs in calls if n in identify and n.startswith("find_")
                    and not obs.startswith("Error:")), None)
    params = functions[intent]["parameters"]
    props = params.get("properties", {})
    found_ids = lookup_ids(list(functions))  # filled from the lookup, never asked for
    slots = [s for s in slots_for(list(props)) if s.params[0] not in found_ids]
    system = " ".join(m.get("content") or "" for m in msgs if m.get("role") == "system")
    args = _gather(recent, slots, props, present_date(system))
    for p in found_ids & set(props):
        known = user_id or _identity(msgs).get("user_id")
        if known:
            args[p] = known
    missing = [s for s in slots if any(p in params.get("required", []) and p not in args
                                       for p in s.params)]
    if missing:
        said = (last.get("content") or "").lower() if last.get("role") == "user" else ""
        if "don't know" in said or "don't have" in said:
            return SimReply(text=f"I'm sorry, I'm unable to {words(intent).split()[0]} that "
                                 f"without the {missing[0].noun}.")
        nouns = [s.noun for s in missing]  # everything it still needs, in one question
        if len(nouns) == 2:
            return SimReply(text=req.rng.choice(_SAYS["ask_two"]).format(*nouns))
        if len(nouns) > 2:
            listed = ", ".join(f"the {n}" for n in nouns[:-1]) + f" and the {nouns[-1]}"
            return SimReply(text=req.rng.choice(_SAYS["ask_many"]).format(listed))
        return SimReply(text=req.rng.choice(_SAYS["ask_one"]).format(nouns[0]))
    # look the target up first (a read that takes one of the write's arguments)
    for name, f in sorted(functions.items()):
        required = f["parameters"].get("required", [])
        if name == intent or len(required) != 1 or required[0] not in args:
            continue
        if name in identify or "details" not in name:
            continue
        if not any(n == name and a == {required[0]: args[required[0]]} for n, a, _ in calls):
            return SimReply(tool_calls=[(name, {required[0]: args[required[0]]})])
    if not _confirmed(msgs, args) and not req.chance("agent.skip_confirmation",
                                                     DEFAULT_FLAWS["agent.skip_confirmation"]):
        return SimReply(text=_describe(intent, args, req))
    if req.chance("agent.wrong_argument", DEFAULT_FLAWS["agent.wrong_argument"]):
        args = _wrong(args, calls, req)
    if req.chance("agent.bad_json", DEFAULT_FLAWS["agent.bad_json"]):
        return SimReply(tool_calls=[(intent, json.dumps(args)[:-1])])
    return SimReply(tool_calls=[(intent, args)])


def _identify_customer(identify: list[str], functions: dict[str, dict[str, Any]],
                       facts: dict[str, str], calls: list[tuple[str, dict[str, Any], str]],
                       req: SimRequest) -> SimReply:
    """Look the customer up when they gave what a lookup needs; otherwise ask for it."""
    ordered = sorted(identify, key=lambda n: ("email" not in n, "user_id" in
                                              functions[n]["parameters"]["required"], n))
    tried = {(n, json.dumps(a, sort_keys=True)) for n, a, _ in calls}
    for name in ordered:
        needed = functions[name]["parameters"]["required"]
        if all(p in facts for p in needed):
            args = {p: facts[p] for p in needed}
            if (name, json.dumps(args, sort_keys=True)) not in tried:
                return SimReply(tool_calls=[(name, args)])
    by_user_id = [n for n in ordered if functions[n]["parameters"]["required"] == ["user_id"]]
    if len(by_user_id) < len(ordered):  # a lookup by what people remember comes first
        ordered = [n for n in ordered if n not in by_user_id]
    options = []
    for n in ordered:
        needed = functions[n]["parameters"]["required"]
        if {"first_name", "last_name"} <= set(needed):
            rest = [noun(p) for p in needed if p not in ("first_name", "last_name")]
            options.append("your full name and " + " and ".join(rest) if rest else "full name")
        else:
            options.append("your " + " and ".join(noun(p) for p in needed))
    asked = ", or ".join(dict.fromkeys(options))
    if calls and any(n in identify for n, _, _ in calls):
        return SimReply(text=f"I can't find an account with those details. Could you give me "
                             f"{asked}?")
    lead = req.rng.choice(_SAYS["identify_lead"])
    return SimReply(text=req.rng.choice(_SAYS["identify"]).format(l=lead, a=asked))


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
