"""Instructions written from actions the way a person would brief a simulated customer.

Works for any environment (see :mod:`apigen_mt.sim.phrasing`): who the customer is
and what they can identify themselves with, each goal in plain words, every detail a change
needs (so the customer can supply it), the facts they want to hear, and how they behave.
The wording varies from one instruction to the next.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from apigen_mt.records import Action
from apigen_mt.sim.phrasing import (
    Slot,
    lookup_ids,
    slot_value,
    slots_for,
    speak_address,
    speak_intent,
    speak_value,
    words,
)

__all__ = [
    "describe_action",
    "identity_sentence",
    "question_sentence",
    "render_value",
    "words",
    "write_instruction",
]

_FIRST_GOAL = ["You want to {intent}.", "You would like to {intent}.", "You need to {intent}.",
               "You are hoping to {intent}.", "Your goal is to {intent}.",
               "You are getting in touch because you want to {intent}.",
               "Today you want to {intent}.", "You have decided you want to {intent}."]
_NEXT_GOAL = ["After that, you also want to {intent}.", "Once that is done, you want to {intent}.",
              "You also need to {intent}.", "In the same conversation, you would like to {intent}.",
              "Then you want to {intent}.", "Also, you would like to {intent}."]
_DETAIL = ["The {noun} {be} {value}.", "The {noun} you have in mind {be} {value}.",
           "For the {noun}, you want {value}.", "Use {value} as the {noun}."]
_QUESTION = ["You also want to know the {field} of {noun} {value}.",
             "Before you finish, you want to find out the {field} of {noun} {value}.",
             "At the end, you would like to be told the {field} of {noun} {value}."]
# how much the customer says at once: most come prepared (who they are, then each request
# with what it needs), some answer only what they are asked
_UPFRONT = ["You say who you are and give each request with all of its details in one go",
            "You come prepared and state each request together with everything it needs",
            "You give the agent what a request needs as soon as you bring it up",
            "You tell the agent who you are at the start and the details of a request together",
            "You lay out each request fully, with its details, when you bring it up",
            "You come prepared and say everything a request needs right away"]
_SHARING = ["You give details only when the agent asks for them, a few at a time",
            "You let the agent lead and answer what you are asked",
            "You do not volunteer everything at once",
            "You answer the agent's questions one by one",
            "You share what you know piece by piece, as the agent needs it",
            "You keep your answers short and to the point",
            "You tell the agent things as they come up rather than all at once"]
_CONSENT = ["you agree to a change only once the agent has described it correctly",
            "you say yes to a change only when the agent's summary matches what you want",
            "you approve a change only after hearing exactly what will be done",
            "you only give the go-ahead once you have heard the details back",
            "you check the agent's summary before saying yes to anything",
            "nothing should be changed until you have agreed to it"]
_BEHAVIOUR_JOIN = ["{a}, and {b}.", "{a}; {b}.", "{a}. Also, {b}.", "{a}, but {b}."]
UPFRONT_SHARE = 0.85  # customers who come prepared, against those who wait to be asked
CAREFUL = "Before agreeing to any change, you ask the agent to go over it once more."
NO_EMAIL = "You do not remember the email address on your account."
_SEPARATORS = ("; ", ": ", "\n", "(", ")")


def render_value(value: Any) -> str:
    """A value as an agent reports it (JSON for lists and objects, and for text that holds
    separators, so it reads back whole); expected outputs are written this way."""
    # a sentence's own full stop would read as the end of the instruction's sentence
    if isinstance(value, str) and not any(sep in value for sep in _SEPARATORS) \
            and not value.endswith("."):
        return value
    return json.dumps(value)


def describe_action(action: Action) -> str:
    """A tool call in plain words: ``cancel my pending order (order #W1, reason …)``."""
    rng = random.Random(action.name)
    details = ", ".join(f"{slot.noun} {_spoken(slot, action.arguments)}"
                        for slot in slots_for(list(action.arguments)))
    said = speak_intent(action.name, rng)
    return f"{said} ({details})" if details else said


def _spoken(slot: Slot, arguments: dict[str, Any]) -> str:
    value = slot_value(slot, arguments)
    return speak_address(value) if slot.is_address else speak_value(value)


def _identity(record: dict[str, Any]) -> dict[str, str]:
    out = {}
    name = record.get("name")
    if isinstance(name, dict) and name.get("first_name"):
        out["name"] = f"{name['first_name']} {name.get('last_name', '')}".strip()
    elif isinstance(record.get("first_name"), str):
        out["name"] = f"{record['first_name']} {record.get('last_name', '')}".strip()
    elif isinstance(name, str):
        out["name"] = name
    address = record.get("address")
    if isinstance(address, dict) and address.get("zip"):
        out["zip"] = str(address["zip"])
    if isinstance(record.get("email"), str):
        out["email"] = record["email"]
    if isinstance(record.get("phone"), str):
        out["phone"] = record["phone"]
    return out


def identity_sentence(user_id: str | None, user_data: dict[str, Any] | None,
                      rng: random.Random | None = None,
                      lookups: list[str] | None = None) -> str:
    """Who the customer is and what they can identify themselves with.

    With a name, a zip (or a phone number, if that is what ``lookups`` — the tool names —
    find people by) and an email on file, the customer knows the email only, the name and
    zip only (and says they forgot the email), or both.
    """
    rng = rng or random.Random(user_id or "")
    known = _identity((user_data or {}).get("user") or {})
    second = "phone" if any("phone" in n for n in lookups or []) and "phone" in known \
        else "zip"
    has_pair = "name" in known and second in known
    mode = "both"
    if has_pair and "email" in known:
        mode = rng.choices(["email", "name_zip", "both"], weights=[45, 35, 20])[0]
    parts = []
    if has_pair and mode in ("name_zip", "both") and second == "phone":
        parts.append(rng.choice([
            "You are {name}, and your phone number is {phone}.",
            "Your name is {name} and your phone number is {phone}.",
        ]).format(**known))
    elif has_pair and mode in ("name_zip", "both"):
        parts.append(rng.choice([
            "You are {name}, and your zip code is {zip}.",
            "Your name is {name} and you live in zip code {zip}.",
            "You are {name} (zip code {zip}).",
        ]).format(**known))
    elif "name" in known:
        parts.append(f"Your name is {known['name']}.")
    if "email" in known and mode in ("email", "both"):
        parts.append(rng.choice(["Your email address is {email}.",
                                 "The email on your account is {email}.",
                                 "You use the email address {email}."]).format(**known))
    elif "email" in known:
        parts.append(NO_EMAIL)
    if user_id and not has_pair and "email" not in known:
        parts.append(f"Your user id is {user_id}.")
    return " ".join(parts)


def question_sentence(key: str, param: str, value: Any,
                      rng: random.Random | None = None) -> str:
    """A fact the customer wants to be told, about the record ``param = value``."""
    rng = rng or random.Random(f"{key}|{param}")
    return rng.choice(_QUESTION).format(field=words(key), noun=slots_for([param])[0].noun,
                                        value=speak_value(value))


def _described(records: Any, out: dict[str, str], name: str = "") -> dict[str, str]:
    """What the records say about each item, in words a customer uses: its product and
    options ("a standing desk (walnut, dual motor)"). Orders and trips are named by their
    ids alone: said by what is in them, they repeat the same few products and routes."""
    if isinstance(records, list):
        for value in records:
            _described(value, out, name)
    if not isinstance(records, dict):
        return out
    name = str(records.get("name") or name) if isinstance(records.get("name"), str) else name
    options = records.get("options")
    if isinstance(records.get("item_id"), str) and isinstance(options, dict) and name:
        said = ", ".join(_option(k, v) for k, v in options.items() if isinstance(v, (str, int)))
        thing = f"{'an' if name.lower()[:1] in 'aeiou' else 'a'} {name.lower()}"
        out.setdefault(records["item_id"], f"{thing} ({said})" if said else thing)
    for value in records.values():
        if isinstance(value, (dict, list)):
            _described(value, out, name)
    return out


def _option(key: str, value: Any) -> str:
    """An option as said: "walnut", "with a wifi connection" for yes, "60 stitches"."""
    text = str(value)
    if text.lower() in ("yes", "true"):
        return f"with {key}"
    if text.lower() in ("no", "false", "none"):
        return f"no {key}"
    return f"{text} {key}" if not re.search(r"[a-z]{3}", text.lower()) else text


_DESCRIBED = {"item_ids": "Item", "new_item_ids": "Item"}


def description_sentences(action: Action, known: dict[str, str], said: set[str]) -> list[str]:
    """"Item 1 is a desk (walnut)." for each item of a write the customer can describe."""
    out = []
    for param, label in _DESCRIBED.items():
        values = action.arguments.get(param)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and value in known and value not in said:
                said.add(value)
                out.append(f"{label} {value} is {known[value]}.")
    return out


def _persona_sentence(persona: str) -> str:
    text = persona.strip().rstrip(".")
    if text.startswith(("A ", "An ")):
        return f"You are {text[0].lower()}{text[1:]}."
    return f"About you: {text}."


# personas who ask to hear a change again before agreeing (most are content with the
# agent's one summary, which states every value)
_CAREFUL_HINTS = ("bad experience", "cautious", "careful", "sceptical", "skeptical")


def write_instruction(actions: list[Action], kinds: dict[str, str], user_id: str | None,
                      user_data: dict[str, Any] | None, persona: str | None,
                      rng: random.Random, omit: tuple[int, str] | None = None,
                      questions: list[tuple[str, str, Any]] = (),
                      offers: Any = None) -> str:
    """A second-person instruction stating every write's goal and details.

    ``omit`` = (action index, argument) leaves one detail out (a flaw the sim drafter
    makes on purpose, which the committee should catch). ``questions`` are
    ``(field, argument, value)``: the customer wants to be told ``field`` of that record.
    Items the customer's records (or ``offers``, a catalogue excerpt) describe are
    described, as a customer knows them.
    """
    known = _described([user_data or {}, offers or {}], {})
    described: set[str] = set()
    lookups = [n for n in kinds if n.startswith("find_")]
    found_by_lookup = lookup_ids(list(kinds))
    lines = [identity_sentence(user_id, user_data, rng, lookups)]
    if user_id and not lookups and "user id" not in lines[0]:
        lines.append(f"Your user id is {user_id}.")  # no lookup by email or name here
    writes = [(i, a) for i, a in enumerate(actions) if kinds.get(a.name) == "write"]
    for n, (i, action) in enumerate(writes):
        goal = rng.choice(_FIRST_GOAL if n == 0 else _NEXT_GOAL)
        lines.append(goal.format(intent=speak_intent(action.name, rng, "your")))
        slots = slots_for(list(action.arguments))
        if omit is not None and omit[0] == i:
            slots = [s for s in slots if omit[1] not in s.params]
        for slot in [s for s in slots if s.params[0] in found_by_lookup]:
            # the agent finds it by looking the customer up; they know it all the same
            slots.remove(slot)
            said = f"Your {words(slot.params[0])} is {action.arguments[slot.params[0]]}."
            if said not in lines:
                lines.append(said)
        rng.shuffle(slots)
        for slot in slots:
            be = "are" if slot.noun.endswith("s") and not slot.noun.endswith("ss") else "is"
            lines.append(rng.choice(_DETAIL).format(noun=slot.noun, be=be,
                                                    value=_spoken(slot, action.arguments)))
        lines.extend(description_sentences(action, known, described))
    lines.extend(question_sentence(*q, rng=rng) for q in questions)
    if persona:
        lines.append(_persona_sentence(persona))
    sharing = _UPFRONT if rng.random() < UPFRONT_SHARE else _SHARING
    lines.append(rng.choice(_BEHAVIOUR_JOIN).format(a=rng.choice(sharing),
                                                    b=rng.choice(_CONSENT)))
    careful = persona and any(h in persona.lower() for h in _CAREFUL_HINTS)
    if careful or rng.random() < 0.05:
        lines.append(CAREFUL)
    return " ".join(line for line in lines if line)
