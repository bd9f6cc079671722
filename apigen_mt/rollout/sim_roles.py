"""How the offline ``sim`` model plays the phase-2 roles: human and critic (the agent is
in :mod:`apigen_mt.rollout.sim_agent`).

Each reads its request and nothing else — the messages, the tools, the settings. The sim
customer reads its instruction (:mod:`apigen_mt.rollout.reading`) and speaks in varied
sentences coloured by its persona, revealing details a few at a time as the agent asks;
the agent states each change and asks for consent before it writes. An instruction the
customer cannot read is answered with :data:`UNREADABLE` and the reason, so the episode
fails for that reason instead of a customer who hangs up at once.

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

from apigen_mt.blueprint.phrasing import value_pieces
from apigen_mt.llm.sim import SimReply, SimRequest, register_sim_role
from apigen_mt.rollout.reading import EMAIL, Plan, Request, read_instruction
from apigen_mt.rollout.settings import STOP, UNREADABLE
from apigen_mt.rollout.sim_agent import DEFAULT_FLAWS as AGENT_FLAWS
from apigen_mt.rollout.sim_agent import agent

DEFAULT_FLAWS = {"human.wander": 0.12, **AGENT_FLAWS, "critic.noise": 0.1}
_HELLO = {"neutral": ["Hi.", "Hello.", "Hi there.", ""],
          "warm": ["Hi there, hope your day is going well!", "Hello! Thanks for picking up.",
                   "Good morning!", "Hi, thanks so much for helping."],
          "terse": ["", "Hi.", ""],
          "hesitant": ["Hi, um, I hope this is the right place.", "Hello, sorry to bother you.",
                       "Hi. I'm not very good with these things."]}
_WANT = {"neutral": ["I'd like to {intent}.", "I need to {intent}.", "Could you help me {intent}?",
                     "I want to {intent}.", "I'm calling to {intent}."],
         "warm": ["I was hoping you could help me {intent}.", "I'd love some help to {intent}.",
                  "Could you please help me {intent}?"],
         "terse": ["I need to {intent}.", "{Intent}, please.", "Want to {intent}."],
         "hesitant": ["I think I need to {intent}?", "I'd like to {intent}, if that's possible.",
                      "Is it possible to {intent}?"]}
_ASIDE = {"neutral": ["I'm {who}, so I'd like to sort this out today.",
                     "As {who}, I don't get much free time, so thanks for helping.",
                     "I work as {who} and I'm squeezing this in between things."],
          "warm": ["I'm {who}, by the way, and you folks have always been lovely.",
                   "Being {who}, my week is hectic, so I really appreciate this!",
                   "I'm {who} and honestly this is the nicest part of my day."],
          "terse": ["I'm {who}. Short on time.", "I'm {who}, so let's keep it quick.",
                    "Busy day, I'm {who}."],
          "hesitant": ["I'm {who}, and I'm not great with online accounts.",
                       "Sorry, I'm {who} and all this account stuff confuses me a bit.",
                       "I'm just {who}, so please bear with me."]}
_ALSO = ["One more thing, I'd also like to {intent}.", "Thanks. I also need to {intent}.",
         "Great. Could you also help me {intent}?", "Next, I want to {intent}."]
_ANSWER_ONE = ["It's {value}.", "That would be {value}.", "The {noun} {be} {value}.",
               "Sure, the {noun} {be} {value}.", "{value}."]  # the last: one-word values only
_ANSWER = ["The {noun} {be} {value}.", "For the {noun}, it's {value}.",
           "The {noun} would be {value}."]
_YES = {"neutral": ["Yes, please go ahead.", "Yes, that's right.", "Yes, please do.",
                    "Yes, that's correct, go ahead."],
        "warm": ["Yes, that sounds perfect, thank you!", "Yes please, that's exactly right.",
                 "Yes, wonderful, go ahead."],
        "terse": ["Yes.", "Yes, do it.", "Yes, go ahead."],
        "hesitant": ["Yes, I think that's right. Go ahead.",
                     "Yes... yes, that's it, please go ahead."]}
_BYE = {"neutral": ["That's everything, thank you.", "That's all I needed, thanks.",
                    "Great, that's all for today."],
        "warm": ["That's all, thank you so much for your help!",
                 "Perfect, you've been great. Bye!"],
        "terse": ["That's all.", "Done, thanks."],
        "hesitant": ["Okay, I think that's everything. Thank you for your patience."]}
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
    questions = " ".join(s for s in re.split(r"(?<=[.!?])\s+", line) if s.endswith("?")).lower()
    found = []
    for noun in sorted(nouns, key=len, reverse=True):
        pattern = rf"\b{re.escape(noun)}\b"
        if re.search(pattern, questions):
            found.append(noun)
            questions = re.sub(pattern, " ", questions)
    return found


def _wander(value: str, req: SimRequest) -> str:
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if not digits:
        return value
    i = req.rng.choice(digits)
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1:]


def _say(templates: list[str], req: SimRequest, **kw: str) -> str:
    text = req.rng.choice(templates)
    if "noun" in kw:
        kw["be"] = "are" if kw["noun"].endswith("s") and not kw["noun"].endswith("ss") else "is"
    if "intent" in kw:
        kw["Intent"] = kw["intent"][:1].upper() + kw["intent"][1:]
    return text.format(**kw)


def _identify(plan: Plan, asked: str, req: SimRequest) -> str:
    who = plan.identity
    if "email" in asked and "email" in who:
        return _say(["My email is {email}.", "It's {email}.", "Sure, it's {email}.",
                     "You can find me under {email}."], req, email=who["email"])
    if ("zip" in asked or "name" in asked) and "name" in who and "zip" in who:
        lead = "I don't remember my email, but " if "email" in asked else ""
        said = _say(["my name is {name} and my zip code is {zip}.",
                     "I'm {name}, zip code {zip}.", "it's {name}, and the zip code is {zip}.",
                     "the name is {name}, zip code {zip}."], req, **who)
        return (lead + said) if lead else said[0].upper() + said[1:]
    if "user id" in asked and "user id" in who:
        return _say(["My user id is {uid}.", "It's {uid}."], req, uid=who["user id"])
    if "user id" in who:
        return f"I only know my user id, which is {who['user id']}."
    return "I'm sorry, I don't have that information."


def _open(request: Request, req: SimRequest, plan: Plan, first: bool) -> str:
    if request.is_question:
        noun, value = request.about or ("", "")
        ask = _say(["Could you tell me the {field} of {noun} {value}?",
                    "Can you tell me the {field} of {noun} {value}?"], req,
                   field=request.field or "", noun=noun, value=value)
        return ask if first else "Thanks. " + ask[0].lower() + ask[1:]
    intent = re.sub(r"\byour\b", "my", request.intent)
    if not first:
        return _say(_ALSO, req, intent=intent)
    hello = req.rng.choice(_HELLO[plan.tone])
    text = f"{hello} {_say(_WANT[plan.tone], req, intent=intent)}".strip()
    if plan.who and req.rng.random() < 0.6:  # a word about themselves, in character
        text += " " + req.rng.choice(_ASIDE[plan.tone]).format(who=plan.who)
    volunteer = [d for d in request.details if d[0] != "user id"]
    if volunteer and plan.tone != "terse" and req.rng.random() < 0.4:
        noun, value = volunteer[0]
        text += " " + _say(["The {noun} is {value}.", "It's about the {noun} {value}."],
                           req, noun=noun, value=value)
    return text


_YES_TAIL = ["", " Thanks.", " Thank you.", " Appreciate it.", " That's what I wanted.",
             " Please do it now.", " Perfect."]
_BYE_TAIL = ["", " Have a good day.", " Take care.", " Bye for now.", " Thanks again.",
             " Have a nice evening."]


def _pieces(value: str) -> list[str]:
    return [p.strip().strip('"') for p in re.split(r", |; | and |\bborn\b", value) if p.strip()]


def human(req: SimRequest) -> SimReply:
    """The customer: announce a request, answer what is asked, consent, move on, stop."""
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
        bye = req.rng.choice(_BYE[plan.tone]) + req.rng.choice(_BYE_TAIL)
        return SimReply(text=f"{bye} {STOP}")
    request = plan.requests[current]
    last = agent_lines[-1] if agent_lines else ""
    low = last.lower()
    if "assistant" not in roles[since:]:
        return SimReply(text=_open(request, req, plan, first=current == 0))
    details = list(request.details)
    if details and req.chance("human.wander", DEFAULT_FLAWS["human.wander"]):
        k = req.rng.randrange(len(details))
        details[k] = (details[k][0], _wander(details[k][1], req))
    questions = " ".join(s for s in re.split(r"(?<=[.!?])\s+", low) if s.endswith("?"))
    if any(w in questions for w in ("email", "zip code", "user id")) and \
            not _asked_nouns(last, [n for n, _ in details if n != "user id"]):
        return SimReply(text=_identify(plan, questions, req))
    if "?" in low and any(c in low for c in _CONSENT) and not request.is_question:
        for noun, value in details:
            if not all(p.lower() in low for p in _pieces(value)):
                return SimReply(text=_say([
                    "No, that's not quite right. The {noun} should be {value}.",
                    "Hmm, no. The {noun} should be {value}."], req, noun=noun, value=value))
        mine = [m.get("content") or "" for m in req.messages if m.get("role") == "assistant"]
        if plan.careful and not any("once more" in m for m in mine[-2:]):
            return SimReply(text="Before I say yes, could you go over that once more?")
        return SimReply(text=req.rng.choice(_YES[plan.tone]) + req.rng.choice(_YES_TAIL))
    asked = _asked_nouns(last, [n for n, _ in details])
    if asked:
        chosen = [(n, v) for n, v in details if n in asked][:2]
        if len(chosen) == 1:
            noun, value = chosen[0]
            forms = _ANSWER_ONE if " " not in value else _ANSWER_ONE[:-1]
            return SimReply(text=_say(forms, req, noun=noun, value=value))
        return SimReply(text=" ".join(_say(_ANSWER, req, noun=n, value=v) for n, v in chosen))
    if "?" in low and re.search(r"\b(tell me|which|what|provide|give me)\b", questions):
        return SimReply(text=req.rng.choice(["I'm sorry, I don't know that.",
                                             "I don't have that, I'm afraid."]))
    if request.is_question:
        return SimReply(text=_open(request, req, plan, first=False))
    return SimReply(text=req.rng.choice(["Okay.", "Alright, thanks.", "Okay, go on."]))


_VALUE_TOKEN = re.compile(r"#?\w*\d[\w-]*|\"[^\"]+\"")


def critic(req: SimRequest) -> SimReply:
    """Score a candidate 0–10: values the instruction does not hold lower it."""
    text = req.last_user
    instruction = text.split("Instruction:\n", 1)[-1].split("\n\nConversation so far:", 1)[0]
    candidate = text.split("Candidate customer reply:\n", 1)[-1]
    said = [t.strip('"') for t in _VALUE_TOKEN.findall(candidate)]
    said += EMAIL.findall(candidate)
    unsupported = [v for v in said if v.lower() not in instruction.lower()]
    score = 2 if unsupported else 9
    if req.chance("critic.noise", DEFAULT_FLAWS["critic.noise"]):
        score = max(0, min(10, score + req.rng.choice([-2, -1, 1])))
    reason = ("states details the instruction does not give: " + ", ".join(unsupported)
              if unsupported else "consistent with the instruction")
    return SimReply(text=json.dumps({"score": score, "reason": reason}))


def register() -> None:
    """Install the phase-2 role handlers in the sim backend."""
    register_sim_role("human", human)
    register_sim_role("critic", critic)
    register_sim_role("agent", agent)


register()
__all__ = ["DEFAULT_FLAWS", "agent", "critic", "human", "register", "value_pieces"]
