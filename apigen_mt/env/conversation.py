"""Reading conversations for the policy rules that only make sense in one.

Domains share these: "the user said yes right before each change" and "one tool call
per assistant turn" read the OpenAI chat messages the same way in every domain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

AFFIRMATIVE = re.compile(
    r"\b(yes|yeah|yep|yup|confirm(ed|s)?|go ahead|proceed|please do|do it|sure|absolutely|"
    r"correct|that's right|sounds good|affirmative|ok(ay)?)\b",
    re.IGNORECASE,
)
# "No, ...", "Wait ..." or "don't proceed" hold the change back even if "yes" appears later.
NEGATIVE_START = re.compile(r"\W*(no|nope|nah|wait|hold on|stop|don'?t|do not|not)\b",
                            re.IGNORECASE)
HOLD_BACK = re.compile(r"\b(don'?t|do not|not yet|never) (proceed|go ahead|do it|confirm)",
                       re.IGNORECASE)


def message_text(message: dict[str, Any]) -> str:
    """A message's text (string content, or the text of OpenAI content parts)."""
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def called_tools(message: dict[str, Any]) -> list[tuple[str, Any]]:
    """(name, raw arguments) of every tool call in an assistant message."""
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        calls.append((function.get("name", ""), function.get("arguments")))
    if message.get("function_call"):  # the legacy single-call field
        calls.append((message["function_call"].get("name", ""),
                      message["function_call"].get("arguments")))
    return calls


def parsed_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict ({} when they are not a JSON object)."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return {}
    return arguments if isinstance(arguments, dict) else {}


def is_affirmative(text: str) -> bool:
    """Whether a user message agrees to go ahead ("yes", "please proceed", "confirmed" …)."""
    if NEGATIVE_START.match(text) or HOLD_BACK.search(text):
        return False
    return AFFIRMATIVE.search(text) is not None


def calls_with_last_user_message(
        messages: list[dict[str, Any]],
        tools: frozenset[str] | set[str]) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """Each call of one of ``tools`` with the user message that came just before it."""
    last_user: str | None = None
    for message in messages:
        role = message.get("role")
        if role == "user":
            last_user = message_text(message)
        elif role == "assistant":
            for name, arguments in called_tools(message):
                if name in tools:
                    yield name, parsed_arguments(arguments), last_user


def confirmation_violations(messages: list[dict[str, Any]] | None,
                            write_tools: frozenset[str] | set[str],
                            describe: Callable[[str, dict[str, Any]], str]) -> list[str]:
    """One reason per write made without an explicit yes right before it."""
    reasons = []
    for name, arguments, last_user in calls_with_last_user_message(messages or [], write_tools):
        if last_user is None:
            reasons.append(f"{describe(name, arguments)} before the user said anything")
        elif not is_affirmative(last_user):
            reasons.append(f"{describe(name, arguments)} without an explicit yes; the user's "
                           f"last message was {last_user[:120]!r}")
    return reasons


def multi_call_violations(messages: list[dict[str, Any]] | None) -> list[str]:
    """Assistant turns that make several tool calls, or talk and call at once."""
    reasons = []
    for turn, message in enumerate(messages or []):
        if message.get("role") != "assistant":
            continue
        calls = called_tools(message)
        if len(calls) > 1:
            names = ", ".join(name for name, _ in calls)
            reasons.append(f"assistant message {turn} makes {len(calls)} tool calls at once "
                           f"({names})")
        elif calls and message_text(message).strip():
            reasons.append(f"assistant message {turn} both replies to the user and calls "
                           f"{calls[0][0]}")
    return reasons
