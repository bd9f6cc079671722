"""How the offline ``sim`` model plays the phase-2 roles: human and critic (the agent is
in :mod:`apigen_mt.sim.agent`).

Each reads its request and nothing else — the messages, the tools, the settings. The sim
customer reads its instruction (:mod:`apigen_mt.sim.reading`) and speaks in varied
sentences coloured by its persona, one request at a time: a customer who comes prepared
says who they are in the first message and gives each request with its details (the
record named in it, items described as the records show them); one told to wait to be
asked answers the agent's questions. The agent states each change and asks for consent
before it writes. An instruction the customer cannot read is answered with
:data:`UNREADABLE` and the reason, so the episode fails for that reason instead of a
customer who hangs up at once.

Honest failure modes, at configurable rates (``sim.flaws``):

- ``human.wander``            a candidate reply changes a detail (the critic should catch it)
- ``agent.wrong_argument``    the agent uses another value seen in the data for a write
- ``agent.skip_confirmation`` the agent writes without asking for a yes
- ``agent.bad_json``          a tool call whose arguments are not valid JSON
- ``agent.vague_answer``      asked for a fact, the agent answers without it
- ``critic.noise``            the critic's score is off by a few points
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re

from apigen_mt.prompts import STOP, UNREADABLE
from apigen_mt.sim.agent import DEFAULT_FLAWS as AGENT_FLAWS
from apigen_mt.sim.itinerary import bag_counts
from apigen_mt.sim.phrasebook import PHRASES
from apigen_mt.sim.phrasing import SPOKEN_WORDS, WORDS, nouns_named
from apigen_mt.sim.reading import EMAIL, Plan, Request, read_instruction
from apigen_mt.sim.request import SimReply, SimRequest
from apigen_mt.sim.wording import (
    FORMS,
    STARTERS,
    agreement,
    asked_to_repeat,
    detail,
    difference,
    goodbye,
    item_story,
    moving,
    one_bag,
    question,
    repeat_please,
    reword,
    spoken,
)
from apigen_mt.sim.wording import (
    request as composed_request,
)

DEFAULT_FLAWS = {"human.wander": 0.12, **AGENT_FLAWS, "critic.noise": 0.1}
_SAYS = PHRASES["customer"]
_DONE = ("done", "all set", "taken care of", "completed", "has gone through")
_FAILED = ("couldn't", "could not", "unable to", "wasn't able to", "cannot do")
_CONSENT = ("go ahead", "proceed", "okay with you", "shall i", "should i", "do you want me to",
            "would you like me to", "confirm")


def _instruction_of(req: SimRequest) -> str:
    text = req.system
    marker = "Your instruction:\n"
    if marker in text:
        return text.split(marker, 1)[1].split("\n\nHow to behave:", 1)[0]
    return text


def _is_report(line: str, request: Request) -> bool:
    low = line.lower()
    if any(p in low for p in _FAILED):
        return True
    if request.is_question:
        return request.field in low and "?" not in low.split(request.field, 1)[1][:60]
    return any(p in low for p in _DONE)


def _asked_nouns(line: str, nouns: list[str]) -> list[str]:
    """Detail nouns the agent asks about in the question sentences of its message."""
    return nouns_named(" ".join(s for s in re.split(r"(?<=[.!?])\s+", line)
                                if s.endswith("?")), nouns)


def _wander(value: str, req: SimRequest) -> str:
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if not digits:
        return value
    i = req.rng.choice(digits)
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1:]


def _say(templates: list[str], req: SimRequest, **kw: str) -> str:
    text = req.rng.choice(templates)
    if "noun" in kw:
        kw["Noun"] = kw["noun"][:1].upper() + kw["noun"][1:]
        kw["be"] = "are" if kw["noun"].endswith("s") and not kw["noun"].endswith("ss") else "is"
    if "intent" in kw:
        kw["Intent"] = kw["intent"][:1].upper() + kw["intent"][1:]
    if "value" in kw:  # an id ("credit_card_1") is said as written, even first
        kw["Value"] = kw["value"] if re.match(r"[a-z]+_", kw["value"]) else \
            kw["value"][:1].upper() + kw["value"][1:]
    return text.format(**kw)


def _identify(plan: Plan, asked: str, req: SimRequest) -> str:
    who = plan.identity
    by_zip = ("zip" in asked or "name" in asked) and "name" in who and "zip" in who
    if "email" in asked and "email" in who and not (by_zip and req.rng.random() < 0.5):
        return _say(_SAYS["email"], req, email=who["email"])
    if "phone" in asked and "name" in who and "phone" in who:
        lead = req.rng.choice(_SAYS["no_email"]) if "email" in asked else ""
        said = f"my name is {who['name']} and my phone number is {who['phone']}."
        return (lead + said) if lead else said[0].upper() + said[1:]
    if by_zip:
        lead = req.rng.choice(_SAYS["no_email"]) if "email" in asked and "email" not in who \
            else ""
        said = _say(_SAYS["name_zip"], req, **who)
        return (lead + said) if lead else said[0].upper() + said[1:]
    if "user id" in asked and "user id" in who:
        return _say(_SAYS["user_id"], req, uid=who["user id"])
    if "user id" in who:
        return f"I only know my user id, which is {who['user id']}."
    return "I'm sorry, I don't have that information."


def _open(request: Request, req: SimRequest, plan: Plan, first: bool) -> str:
    if request.is_question:
        noun, value = request.about or ("", "")
        ask = question(request.field or "", noun, value, req.rng)
        if first and plan.upfront and plan.identity:
            return f"{_introduce(plan, req)} {ask}"
        return ask if first else req.rng.choice(_SAYS["then_ask"]) + " " + ask
    intent = reword(re.sub(r"\byour\b", "my", request.intent), req.rng)
    details = [d for d in request.details if d[0] != "user id"]
    if plan.upfront:  # "cancel my order #W1", not "cancel my pending order. Order #W1."
        intent, details = _with_record(intent, details, req)
    if not first:  # the next request, told as fully as the first: why, and its details
        text = (composed_request(intent, plan.tone, req.rng, again=True)
                if req.rng.random() < 0.85 else _say(_SAYS["also"], req, intent=intent))
        story = _story(request, req, plan)
        if story and req.rng.random() < (0.5 if story not in _GENERIC else 0.25):
            text += " " + story
        return text + _volunteered(details, req, plan, 0.5)
    hello = req.rng.choice(_SAYS["hello"][plan.tone])
    want = (composed_request(intent, plan.tone, req.rng) if req.rng.random() < 0.85
            else _say(_SAYS["want"][plan.tone], req, intent=intent))
    intro = _introduce(plan, req) if plan.upfront and plan.identity else ""
    if intro and req.rng.random() < 0.5:  # who they are first, or after what they want
        text = " ".join(p for p in (hello, intro, want) if p)
    else:
        text = " ".join(p for p in (hello, want, intro) if p)
    if plan.who and req.rng.random() < 0.6:  # a word about themselves, in character
        text += " " + req.rng.choice(_SAYS["aside"][plan.tone]).format(who=plan.who)
    elif plan.traits and req.rng.random() < 0.5:
        text += " " + _trait(plan, req)
    story = _story(request, req, plan)
    if story and req.rng.random() < (0.6 if story not in _GENERIC else 0.3):
        text += " " + story
    return text + _volunteered(details, req, plan, 0.4)


def _with_record(intent: str, details: list[tuple[str, str]], req: SimRequest
                 ) -> tuple[str, list[tuple[str, str]]]:
    """The record a request is about named in it by its id, as a customer who has it at
    hand says it ("change the address on my order #W1"), and the details left to say."""
    for k, (noun, value) in enumerate(details):
        if " " in value or not _IDS.fullmatch(value):
            continue
        said_as = [noun, *WORDS.get(noun, []), *SPOKEN_WORDS.get(noun, [])]
        names = "|".join(re.escape(n) for n in dict.fromkeys(said_as))
        found = re.search(rf"\bmy (?:[\w-]+ )*?(?:{names})$", intent)
        if found:
            # "my booking X", at times "my X booking"
            named = req.rng.choice([f for f in FORMS.get(noun, []) if "{v}" in f and
                                    f.split()[0] == "my"] or [f"my {noun} {{v}}"])
            return (f"{intent[:found.start()]}{named.replace('{v}', value)}",
                    details[:k] + details[k + 1:])
    return intent, details


def _introduce(plan: Plan, req: SimRequest) -> str:
    """Who the customer is, offered before the agent asks: what they know of themselves
    (an email, or name and zip, or a user id)."""
    who = plan.identity
    ways = [k for k in ("email", "zip", "phone") if k in who and (k == "email" or "name" in who)]
    said = ""
    way = req.rng.choice([*ways, "user id"] if "user id" in who else ways) if ways else ""
    if way and way != "user id":
        if way == "email":
            said = _say(_SAYS["intro_email"], req, email=who["email"])
        elif way == "phone":
            said = f"My name is {who['name']} and my phone number is {who['phone']}."
        else:
            said = _say(_SAYS["name_zip"], req, **who)
            said = said[0].upper() + said[1:]
    # the one thing some agents look people up by; someone who gave their email or name
    # seldom recites it as well
    if "user id" in who and (not said or req.rng.random() < 0.2):
        said = f"{said} {_say(_SAYS['intro_user_id'], req, uid=who['user id'])}".strip()
    return said


def _volunteered(volunteer: list[tuple[str, str]], req: SimRequest, plan: Plan,
                 chance: float) -> str:
    """The details of a request said with it: all of them by a customer who comes
    prepared, else at times the first (never by the terse)."""
    if not volunteer:
        return ""
    if plan.upfront:
        return " " + _details_said(volunteer, req, plan)
    if plan.tone == "terse" or req.rng.random() >= chance:
        return ""
    noun, value = volunteer[0]
    return " " + _say(["The {noun} {be} {value}.", "It's about the {noun} {value}."],
                      req, noun=noun, value=value)


def _details_said(details: list[tuple[str, str]], req: SimRequest, plan: Plan) -> str:
    """Every detail in its own sentence, each value ending its sentence (so it is heard
    whole), in the order the customer thinks of them."""
    said: list[str] = []
    shown: list[str] = []  # descriptions given so far, so a second of a kind says what differs
    details, paired = _paired(details, req)
    said.extend(paired)
    for k, (noun, known) in enumerate(details, start=len(paired)):
        value = spoken(known, req.rng)
        frames = _SAYS["detail_first"] if k == 0 else _SAYS["answer"]
        words = not _IDS.fullmatch(value) and not value.startswith("I ")
        named = detail(noun, value, req.rng, k == 0, words=words)
        if named and req.rng.random() < 0.9:  # "pay with credit_card_1", "3 bags in total"
            said.append(named + _described(value, plan, req, shown))
            continue
        if _IDS.fullmatch(value):  # "order #W1", as people type
            frames = _SAYS["compact_first"] if k == 0 else _SAYS["compact"]
        elif value.startswith("I "):  # a reason in their own words
            frames = ["The reason is that {value}.", "Honestly, the reason is that {value}."]
        said.append(_say(frames, req, noun=noun, value=value)
                    + _described(value, plan, req, shown))
    return " ".join(said)


# two details people say in one breath ("JFK to MIA, one way", "3 bags, 1 of them paid"):
# the nouns, the values that fit, and the sentences that carry both (``customer.pairs``;
# the agent reads them back the same way)
_PAIRS = [(tuple(p["nouns"]), p["value"], p["frames"]) for p in _SAYS["pairs"]]


def _paired(details: list[tuple[str, str]], req: SimRequest) -> tuple[list[tuple[str, str]],
                                                                        list[str]]:
    """The details left to say one by one, and the sentences that said two at once."""
    known = {n: v.replace("_", " ") for n, v in details}  # "one way", "basic economy"
    said = []
    if known.get("total bags") == "0" and known.get("paid bags") == "0" and \
            req.rng.random() < 0.7:  # nothing to say of bags but that there are none
        said.append(req.rng.choice(_SAYS["no_bags"]))
        details = [(n, v) for n, v in details if n not in ("total bags", "paid bags")]
    for nouns, value, frames in _PAIRS:
        if all(re.fullmatch(value, known.get(n, "")) for n in nouns) and \
                known.get(nouns[0]) != "0" and req.rng.random() < 0.7:
            values = [known[n] if known[n] != "0" else "none" for n in nouns]  # "none paid"
            if nouns == ("total bags", "paid bags"):  # "two bags, both paid"
                values = list(bag_counts(values[0], values[1], req.rng))
            sentence = one_bag(req.rng.choice(frames).format(*values))
            said.append(sentence[0].upper() + sentence[1:])
            details = [(n, v) for n, v in details if n not in nouns]
    return details, said


def _described(value: str, plan: Plan, req: SimRequest, shown: list[str] | None = None) -> str:
    """What the records a value names are, as the customer knows them ("That's a desk
    (walnut) and a floor lamp (black)."); '' when the instruction does not say. A thing of
    a kind described earlier in the message (``shown``) is told by what differs."""
    known = [plan.descriptions[v] for v in re.split(r", | and ", value)
             if v in plan.descriptions]
    if not known:
        return ""
    if shown is not None:
        differs = difference(known[0], shown, req.rng) if len(known) == 1 else None
        shown.extend(known)
        if differs:
            return " " + differs
    listed = ", ".join(known[:-1]) + " and " + known[-1] if len(known) > 1 else known[0]
    frames = _SAYS["described_many" if len(known) > 1 else "described"]
    return " " + req.rng.choice(frames).format(d=listed)


# one id or number, or a list of them ("#W1", "4216331714 and 3321841055"): said right after
# its noun, a value can go without "is"
_IDS = re.compile(r"#?[\w-]*\d[\w-]*(?:(?:, | and )#?[\w-]*\d[\w-]*)*")


def _agree(details: list[tuple[str, str]], req: SimRequest, plan: Plan) -> str:
    """A yes in the customer's tone, often with the detail they checked said back (a value
    the agent's proposal stated, so the yes stays a yes to that proposal)."""
    yes = (agreement(plan.tone, req.rng) if req.rng.random() < 0.85
           else req.rng.choice(_SAYS["yes"][plan.tone]))
    # a number or an id, never a phrase ("no longer needed" would read as a "no")
    short = [(n, v) for n, v in details if len(v) <= 48 and any(c.isdigit() for c in v)]
    if not short or plan.tone == "terse" or req.rng.random() >= 0.12:
        return yes
    noun, value = req.rng.choice(short)
    return f"{yes} " + _say(_SAYS["echo"], req, noun=noun, value=value)


def _goodbye(plan: Plan, rng: random.Random) -> str:
    """A goodbye in the customer's tone, at times naming a record that was dealt with."""
    composed = rng.random() < 0.85
    records = [v for r in plan.requests for n, v in r.details
               if " " not in v and any(c.isdigit() for c in v) and len(v) <= 16
               and n in ("order", "reservation", "booking", "account", "ticket")]
    recap = (rng.choice(_SAYS["recap"]).format(value=rng.choice(records))
             if records and rng.random() < 0.25 else "")
    if composed:  # the record dealt with said before the farewell
        return goodbye(plan.tone, rng, recap)
    bye = rng.choice(_SAYS["bye"][plan.tone]) + (f" {recap}" if recap else "")
    return bye + (rng.choice(_SAYS["bye_tail"]) if rng.random() < 0.3 else "")


def _trait(plan: Plan, req: SimRequest) -> str:
    """One persona trait said in passing."""
    trait = req.rng.choice(plan.traits)
    frame = req.rng.choice(_SAYS["trait_frame"])
    return frame.format(trait=trait, lower=trait[0].lower() + trait[1:] if not
                        trait.startswith("I") else trait)


# stories any request of a kind could have (no city, person, card or item in them): told
# less often than one about the request's own things
_GENERIC = {s for key in ("bags", "flights", "cancel", "call", "return", "send", "exchange",
                          "swap") for s in _SAYS["story"][key]}
_DESCRIBED_NAME = re.compile(r"^an? (.+?) \(")


def _story(request: Request, req: SimRequest, plan: Plan) -> str:
    """Why the customer is asking, in their words, from what the request is about."""
    stories = _SAYS["story"]
    details = dict(request.details)
    verb = request.intent.split()[0] if request.intent else ""
    address = next((v for n, v in details.items() if "address" in n), None)
    if address:
        parts = address.split(", ")
        city = parts[-3] if len(parts) >= 4 else ""
        if city:
            if req.rng.random() < 0.6:
                return moving(city, req.rng)
            return req.rng.choice(stories["moving"]).format(city=city)
    people = details.get("passengers")
    if people:
        first = people.split(",")[0].split(";")[0].strip()
        return req.rng.choice(stories["passengers"]).format(person=first)
    payment = details.get("payment method", "")
    for kind, said in (("gift_card", "gift card"), ("credit_card", "credit card"),
                       ("paypal", "PayPal account")):
        if payment.startswith(kind) and "payment" in request.intent:
            return req.rng.choice(stories["payment"]).format(method=said)
    for key in ("bags", "luggage", "baggage", "flights"):
        if key in request.intent:
            return req.rng.choice(stories[key if key == "flights" else "bags"])
    kind = ("return" if verb in ("return", "send") else
            "exchange" if verb in ("exchange", "swap") or "item" in request.intent else "")
    named = [_DESCRIBED_NAME.match(plan.descriptions[v]) for v in
             re.split(r", | and ", details.get("items", "")) if v in plan.descriptions]
    named = [n.group(1) for n in named if n]
    if kind and named and req.rng.random() < 0.8:  # the thing itself, in their words
        return item_story(req.rng.choice(named), kind, req.rng)
    for key in ("cancel", "call", "return", "send", "exchange", "swap"):
        if verb == key and (key != "send" or "back" in request.intent):
            return req.rng.choice(stories[key])
    return ""


def _stems(text: str) -> set[str]:
    return {w[:4] for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


def _heard(value: str, said: str) -> bool:
    """The agent stated this value: word for word, or — for a phrase in the customer's own
    words ("I no longer need it") — its gist ("no longer needed")."""
    if all(p.lower() in said for p in _pieces(value)):
        return True
    stems = _stems(value)
    return value.startswith("I ") and len(stems) >= 2 and len(stems & _stems(said)) >= 2


def _pieces(value: str) -> list[str]:
    return [p.strip().strip('"') for p in re.split(r", |; | and |\bborn\b", value) if p.strip()]


def human(req: SimRequest) -> SimReply:
    """The customer: announce a request, answer what is asked, consent, move on, stop."""
    req = req.worded_by_state()
    plan = read_instruction(_instruction_of(req))
    if plan.problem:
        return SimReply(text=f"{UNREADABLE} I cannot play this customer: {plan.problem}.")
    agent_lines = [m.get("content") or "" for m in req.messages if m.get("role") == "user"]
    roles = [m.get("role") for m in req.messages if m.get("role") in ("user", "assistant")]
    current, since = 0, 0  # the request in hand, and where (in roles) it became current
    position = 0
    for i, role in enumerate(roles):
        if role != "user":
            continue
        line = agent_lines[position]
        position += 1
        if current < len(plan.requests) and _is_report(line, plan.requests[current]) \
                and "assistant" in roles[since:i]:
            current, since = current + 1, i + 1
    if current >= len(plan.requests):
        # one goodbye per conversation, whichever candidate is picked: a closing turn that
        # differs alone would make trials differ only in what exports leave out
        said = "|".join(str(m.get("content")) for m in req.messages)
        rng = random.Random(hashlib.sha256(said.encode()).digest())
        return SimReply(text=f"{_goodbye(plan, rng)} {STOP}")
    request = plan.requests[current]
    last = agent_lines[-1] if agent_lines else ""
    low = last.lower()
    if "assistant" not in roles[since:]:
        if current == 0:  # the same person opens the same way on every trial
            seed = hashlib.sha256(f"{req.settings.seed}|{_instruction_of(req)}".encode())
            req = dataclasses.replace(req, rng=random.Random(seed.digest()))
        return SimReply(text=_open(request, req, plan, first=current == 0))
    details = list(request.details)
    if details and req.chance("human.wander", DEFAULT_FLAWS["human.wander"]):
        k = req.rng.randrange(len(details))
        details[k] = (details[k][0], _wander(details[k][1], req))
    questions = " ".join(s for s in re.split(r"(?<=[.!?])\s+", low) if s.endswith("?"))
    if any(w in questions for w in ("email", "zip code", "user id", "phone number")):
        return SimReply(text=_identify(plan, questions, req))
    if "?" in low and any(c in low for c in _CONSENT) and not request.is_question:
        for noun, value in details:
            if not _heard(value, low):
                return SimReply(text=_say(_SAYS["wrong"], req, noun=noun, value=value))
        mine = [m.get("content") or "" for m in req.messages if m.get("role") == "assistant"]
        if plan.careful and not any(m in _SAYS["careful"] or asked_to_repeat(m)
                                    for m in mine[-2:]):
            return SimReply(text=repeat_please(req.rng) if req.rng.random() < 0.85
                            else req.rng.choice(_SAYS["careful"]))
        return SimReply(text=_agree(details, req, plan))
    asked = _asked_nouns(last, [n for n, _ in details])
    if asked:
        chosen = [(n, v) for n, v in details if n in asked]
        if len(chosen) == 1:
            noun, value = chosen[0]
            forms = [f for f in _SAYS["answer_one"] if " " not in value or f != "{value}."]
            if value.startswith("I "):  # a reason in their own words
                forms = ["Well, {value}.", "Honestly, {value}."]
            said = (_say(forms, req, noun=noun, value=spoken(value, req.rng))
                    + _described(value, plan, req))
        else:
            said = _details_said(chosen, req, plan)
        # an answer is mostly just the answer: a word before or after it now and then
        lead = req.rng.choice(_SAYS["lead"][plan.tone]) if req.rng.random() < 0.5 else ""
        if lead:
            first = said.split(" ", 1)[0]
            lower = lead.endswith(", ") and (first in ("It's", "That", "That'd", "The", "Sure,")
                                             or first.lower() in STARTERS)
            said = lead + (said[0].lower() + said[1:] if lower else said)
        if plan.traits and req.rng.random() < 0.12:
            return SimReply(text=f"{said} {_trait(plan, req)}")
        return SimReply(text=said + (req.rng.choice(_SAYS["tail"][plan.tone])
                                     if req.rng.random() < 0.5 else ""))
    if "?" in low and re.search(r"\b(tell me|which|what|provide|give me)\b", questions):
        return SimReply(text=req.rng.choice(_SAYS["dont_know"]))
    if request.is_question:
        return SimReply(text=_open(request, req, plan, first=False))
    return SimReply(text=req.rng.choice(_SAYS["okay"]))


_VALUE_TOKEN = re.compile(r"#?\w*\d[\w-]*|\"[^\"]+\"")


def critic(req: SimRequest) -> SimReply:
    """Score a candidate 0–10: values the instruction does not hold lower it."""
    text = req.last_user
    instruction = text.split("Instruction:\n", 1)[-1].split("\n\nConversation so far:", 1)[0]
    candidate = text.split("Candidate customer reply:\n", 1)[-1]
    said = [t.strip('"') for t in _VALUE_TOKEN.findall(candidate)]
    said += EMAIL.findall(candidate)
    # a day said as an ordinal ("the 20th") is the number the instruction holds ("-20")
    unsupported = [v for v in said if re.sub(r"(?<=\d)(?:st|nd|rd|th)$", "", v.lower())
                   not in instruction.lower()]
    score = 2 if unsupported else 9
    if req.chance("critic.noise", DEFAULT_FLAWS["critic.noise"]):
        score = max(0, min(10, score + req.rng.choice([-2, -1, 1])))
    reason = ("states details the instruction does not give: " + ", ".join(unsupported)
              if unsupported else "consistent with the instruction")
    return SimReply(text=json.dumps({"score": score, "reason": reason}))
