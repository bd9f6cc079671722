"""Instruction text written from actions by template (walk drafter, sim roles).

Works for any environment: tool and argument names are turned into words, and every
argument a write needs is stated, so the simulated human can supply it.
"""

from __future__ import annotations

import json
import random
from typing import Any

from apigen_mt.records import Action

_OPENERS = ["You want to", "You would like to", "You need to", "You are hoping to"]
_THEN = ["Then you also want to", "After that, you want to", "You also need to",
         "In the same conversation, you want to"]


def words(name: str) -> str:
    """``cancel_pending_order`` → ``cancel pending order``."""
    return name.replace("_", " ").strip()


_SEPARATORS = ("; ", ": ", "\n", "(", ")")


def render_value(value: Any) -> str:
    """Argument values as a customer would say them (JSON for lists and objects, and for
    text that holds the separators details are written with, so it reads back whole)."""
    # a sentence's own full stop would read as the end of the instruction's sentence
    if isinstance(value, str) and not any(sep in value for sep in _SEPARATORS) \
            and not value.endswith("."):
        return value
    return json.dumps(value)


def describe_action(action: Action) -> str:
    """``cancel pending order (order id: #W1; reason: no longer needed)``."""
    if not action.arguments:
        return words(action.name)
    details = "; ".join(f"{words(k)}: {render_value(v)}" for k, v in action.arguments.items())
    return f"{words(action.name)} ({details})"


def identity_sentence(user_id: str | None, user_data: dict[str, Any] | None) -> str:
    """How the customer introduces themself: a name, zip or email when the data has one."""
    record = (user_data or {}).get("user") or {}
    parts = []
    name = record.get("name")
    if isinstance(name, dict) and name.get("first_name"):
        parts.append(f"Your name is {name['first_name']} {name.get('last_name', '')}".strip())
    elif isinstance(record.get("first_name"), str):
        parts.append(f"Your name is {record['first_name']} {record.get('last_name', '')}".strip())
    elif isinstance(name, str):
        parts.append(f"Your name is {name}")
    address = record.get("address")
    if isinstance(address, dict) and address.get("zip"):
        parts.append(f"your zip code is {address['zip']}")
    if isinstance(record.get("email"), str):
        parts.append(f"your email is {record['email']}")
    if user_id:
        parts.append(f"your user id is {user_id}")
    if not parts:
        return ""
    text = ", ".join(parts)
    return text[0].upper() + text[1:] + "."


def question_sentence(key: str, param: str, value: Any) -> str:
    """A fact the customer wants to be told: ``ask for the status (order id: #W1)``."""
    return f"You also want to ask for the {words(key)} ({words(param)}: {render_value(value)})."


def write_instruction(actions: list[Action], kinds: dict[str, str], user_id: str | None,
                      user_data: dict[str, Any] | None, persona: str | None,
                      rng: random.Random, omit: tuple[int, str] | None = None,
                      questions: list[tuple[str, str, Any]] = ()) -> str:
    """A second-person instruction stating every write and its details.

    ``omit`` = (action index, argument) leaves one detail out (a flaw the sim drafter
    makes on purpose, which the committee should catch).
    """
    lines = [identity_sentence(user_id, user_data)]
    writes = [(i, a) for i, a in enumerate(actions) if kinds.get(a.name) == "write"]
    for n, (i, action) in enumerate(writes):
        shown = action
        if omit is not None and omit[0] == i:
            shown = Action(name=action.name,
                           arguments={k: v for k, v in action.arguments.items() if k != omit[1]})
        opener = rng.choice(_OPENERS if n == 0 else _THEN)
        lines.append(f"{opener} {describe_action(shown)}.")
    lines.extend(question_sentence(*q) for q in questions)
    if persona:
        lines.append(f"As a person: {persona}")
    lines.append("Give details only when the agent asks for them, and confirm before changes.")
    return " ".join(line for line in lines if line)
