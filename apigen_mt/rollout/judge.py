"""The judge: a rollout is kept only when its final state and its conversation prove it.

By default (each rule can be turned off by name, see :class:`JudgeSettings`):

- ``state``: the final state's hash equals the hash reached by replaying the
  blueprint's actions on a fresh copy;
- ``outputs``: every expected output appears inside one agent reply to the user, a
  message that makes no tool call (τ-bench's rule: the output lowercased is a substring
  of the reply lowercased with commas removed); text written beside a tool call is not
  said to the user;
- ``identification``: the domain's identify-before-writing rule holds (when it has one);
- ``consent``: before every write, the agent's last reply states that action's details
  (its argument values) and the user's answer to it agrees
  (:func:`~apigen_mt.rollout.consent.classify_reply`);
- ``domain_rules`` (off by default): every other rule the domain states as code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from apigen_mt.env.conversation import called_tools, message_text, parsed_arguments
from apigen_mt.env.domain import RuleInput
from apigen_mt.env.environment import Environment
from apigen_mt.records import Blueprint, JudgeVerdict
from apigen_mt.rollout.consent import classify_reply
from apigen_mt.rollout.settings import JudgeSettings

RULE_ORDER = ("state", "outputs", "identification", "consent", "domain_rules")


@dataclass
class Target:
    """A blueprint's ground truth, computed once and shared by all its trials."""

    env: Environment  # the state after replaying the actions
    hash: str


def target_for(env: Environment, bp: Blueprint) -> Target:
    """Replay the blueprint's actions (skipping conversation-ending tools) on a fresh copy."""
    fresh = env.fresh()
    fresh.replay([a.model_dump() for a in bp.actions])
    return Target(env=fresh, hash=fresh.hash())


def replies_to_user(messages: list[dict[str, Any]]) -> list[str]:
    """The text of every assistant message that makes no tool call."""
    return [message_text(m) for m in messages
            if m.get("role") == "assistant" and not called_tools(m)]


def missing_outputs(outputs: list[str], messages: list[dict[str, Any]]) -> list[str]:
    """Expected outputs that no single reply to the user contains (τ-bench's rule)."""
    said = [r.lower().replace(",", "") for r in replies_to_user(messages)]
    return [o for o in outputs if not any(o.lower() in reply for reply in said)]


_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")


def _leaves(value: Any, skip: set[str], key: str = "") -> Iterator[Any]:
    if key in skip:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, skip, k)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, skip, key)
    elif isinstance(value, bool) or value is None or value == "":
        return
    else:
        yield value


def _spellings(value: Any) -> set[str]:
    """How a value may be written in a reply (lowercase, no commas)."""
    if isinstance(value, (int, float)):
        out = {str(value), repr(value)}
        if isinstance(value, float):
            out.add(f"{value:.2f}")
            if value.is_integer():
                out.add(str(int(value)))
        return out
    text = str(value).lower().replace(",", "")
    out = {text, text.replace("_", " ")}
    date = _ISO_DATE.match(text)
    if date:  # a date may be read back as "May 20" or "05/20/2024"
        year, month, day = date.groups()
        name = _MONTHS[int(month) - 1] if 1 <= int(month) <= 12 else month
        out |= {f"{name} {int(day)}", f"{int(day)} {name}", f"{month}/{day}/{year}"}
    return out


def unstated_details(arguments: dict[str, Any], text: str, skip: set[str]) -> list[str]:
    """Argument values of a call that ``text`` does not state."""
    said = text.lower().replace(",", "")
    return [str(v) for v in _leaves(arguments, skip)
            if not any(s in said for s in _spellings(v))]


def write_calls(messages: list[dict[str, Any]], write_tools: set[str], since: int = 0
                ) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(message index, tool, arguments) of every call to a write tool (in the messages
    from index ``since`` on)."""
    for index in range(since, len(messages)):
        message = messages[index]
        if message.get("role") != "assistant":
            continue
        for name, raw in called_tools(message):
            if name in write_tools:
                yield index, name, parsed_arguments(raw)


def consent_violations(messages: list[dict[str, Any]], write_tools: set[str] | frozenset[str],
                       skip_arguments: set[str] | None = None, since: int = 0) -> list[str]:
    """One reason per write not proposed with its details and agreed to just before
    (``since``: only the writes in the messages from that index on)."""
    skip = set(skip_arguments or ())
    reasons = []
    for index, name, arguments in write_calls(messages, write_tools, since):
        user = next((i for i in range(index - 1, -1, -1)
                     if messages[i].get("role") == "user"), None)
        if user is None:
            reasons.append(f"{name} was called before the user said anything")
            continue
        proposal = next((i for i in range(user - 1, -1, -1)
                         if messages[i].get("role") == "assistant"
                         and not called_tools(messages[i]) and message_text(messages[i]).strip()),
                        None)
        if proposal is None:
            reasons.append(f"{name} was called without the agent first proposing it")
            continue
        text = message_text(messages[proposal])
        unstated = unstated_details(arguments, text, skip)
        if unstated:
            reasons.append(f"{name}: the agent's last message before the user's answer does "
                           f"not state {', '.join(repr(v) for v in unstated[:3])}")
            continue
        consent = classify_reply(message_text(messages[user]), text)
        if not consent.agrees:
            reasons.append(f"{name} without the user's agreement: {consent.reason} "
                           f"(reply {message_text(messages[user])[:100]!r})")
    return reasons


def _states_before(final: Environment) -> list[Any]:
    """Rebuild the state before each executed call by replaying the trace."""
    fresh = final.fresh()
    states = []
    for done in final.trace:
        states.append(fresh.state.fork())
        fresh.execute(done.name, done.arguments)
    return states


def _domain_findings(final: Environment, messages: list[dict[str, Any]],
                     purposes: set[str], exclude: bool) -> list[str]:
    """Reasons from the domain's rules whose purpose is (or, with ``exclude``, is not) in
    ``purposes``."""
    rules = [r for r in final.domain.rules if (r.purpose in purposes) != exclude]
    if not rules:
        return []
    inp = RuleInput(actions=list(final.trace), before=_states_before(final),
                    messages=messages)
    found = []
    for rule in rules:
        try:
            reasons = rule.check(inp)
        except Exception as exc:  # a broken rule is a finding, not a crash
            reasons = [f"rule raised {type(exc).__name__}: {exc}"]
        found.extend(f"{rule.name}: {r}" for r in reasons)
    return found


def judge(bp: Blueprint, target: Target, final: Environment, messages: list[dict[str, Any]],
          rules: JudgeSettings | bool | None = None) -> JudgeVerdict:
    """Apply the judge's rules (``rules=True`` is the older "also the domain rules")."""
    if not isinstance(rules, JudgeSettings):
        rules = JudgeSettings(domain_rules=bool(rules))
    reasons: list[str] = []
    failed: list[str] = []
    state_match = final.hash() == target.hash
    diff: list[str] = []
    if not state_match:
        diff = [c.render() for c in final.diff(target.env)]
        if rules.state:
            failed.append("state")
            reasons.append("final state differs from the target: " + (diff[0] if diff else "?"))
    missing = missing_outputs(bp.outputs, messages) if rules.outputs else []
    if missing:
        failed.append("outputs")
        reasons.append("outputs never said in one reply to the user: " + ", ".join(missing))
    violations: list[str] = []
    if rules.identification:
        found = _domain_findings(final, messages, {"identification"}, exclude=False)
        if found:
            failed.append("identification")
            violations.extend(found)
    if rules.consent:
        found = consent_violations(messages, final.write_tools, set(rules.consent_skip_arguments))
        if found:
            failed.append("consent")
            violations.extend(f"consent: {r}" for r in found)
    if rules.domain_rules:
        found = _domain_findings(final, messages, {"identification"}, exclude=True)
        if found:
            failed.append("domain_rules")
            violations.extend(found)
    reasons.extend(violations)
    return JudgeVerdict(passed=not reasons, reasons=reasons, state_match=state_match,
                        missing_outputs=missing, diff=diff, rule_violations=violations,
                        failed_rules=failed)
