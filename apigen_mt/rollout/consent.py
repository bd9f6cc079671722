"""Does the customer's reply agree to the action the agent just proposed?

A small rule-based classifier of one reply, read against the proposal it answers. It
does not look for a magic word: it splits the reply into clauses and weighs what each
clause does (assents, refuses, holds back, asks, sets a condition, or names something
the proposal did not), with negation read in scope ("don't go ahead" is a refusal,
"no problem, go ahead" an assent). Anything short of a plain, unconditional yes to the
proposed action is not consent: a question, a condition, a "wait", a yes to another
action, an empty reply.

Labels: ``agree``, ``refuse``, ``hold``, ``question``, ``conditional``,
``other_action``, ``silent``, ``unclear``; only ``agree`` lets a write go ahead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Label = Literal["agree", "refuse", "hold", "question", "conditional", "other_action",
                "silent", "unclear"]

# Phrases that assent, refuse or hold back. Multi-word phrases are matched on word
# boundaries; single words as whole tokens.
_ASSENT = ("yes", "yeah", "yep", "yup", "ya", "yes please", "sure", "ok", "okay", "alright",
           "all right", "confirm", "confirmed", "i confirm", "correct", "right",
           "absolutely", "definitely", "certainly", "of course", "go ahead", "go for it",
           "please do", "do it", "do that", "proceed", "please proceed", "sounds good",
           "that's fine", "that is fine", "fine", "that works", "works for me",
           "let's do it", "affirmative", "agreed", "i agree", "perfect", "great")
_REFUSE = ("no", "nope", "nah", "never mind", "nevermind", "forget it", "rather not",
           "changed my mind", "stop", "cancel that", "don't", "do not", "i don't want",
           "not interested")
_HOLD = ("wait", "hold on", "hang on", "one moment", "one sec", "just a moment",
         "not yet", "let me think", "let me check", "i'm not sure", "i am not sure",
         "not sure", "hmm", "before you", "before that", "actually", "on second thought")
_CONDITION = re.compile(r"\b(only if|if|as long as|provided|providing|unless|assuming|"
                        r"on condition)\b")
_NEGATORS = {"not", "don't", "dont", "do not", "never", "no", "won't", "cannot", "can't"}
# "no problem" and "no worries" assent rather than refuse
_NOT_REFUSALS = re.compile(r"\bno (problem|worries|issue)s?\b")
_WH_QUESTION = re.compile(r"^(what|how|when|why|which|who|where)\b.*\b(is|are|was|will|would|"
                          r"does|do|did|much|many|long|can|could|should)\b")
# Action words: a reply that asks for a different kind of action agrees to nothing.
_ACTION_GROUPS = (
    {"cancel", "cancellation", "cancelled", "canceled", "cancelling"},
    {"return", "returned", "returning", "refund", "refunded"},
    {"exchange", "exchanged", "swap", "swapped"},
    {"modify", "modified", "change", "changed", "update", "updated", "switch", "edit"},
    {"book", "booked", "booking", "reserve"},
    {"upgrade", "upgraded", "downgrade"},
    {"transfer", "transferred", "send", "sent", "pay", "payment"},
    {"add", "added", "remove", "removed", "delete"},
    {"freeze", "unfreeze", "block", "unblock"},
    {"dispute", "open"},
)
_INSTEAD = re.compile(r"\b(instead|rather than|not that one|a different|another one)\b")
_ID_TOKEN = re.compile(r"#?[a-z]*\d[\w#-]*|[a-z]+_[a-z0-9_]+")


@dataclass(frozen=True)
class Consent:
    """The classification of one reply, with the words that decided it."""

    label: Label
    reason: str

    @property
    def agrees(self) -> bool:
        """Only a plain, unconditional yes to the proposed action is consent."""
        return self.label == "agree"


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("###stop###", " ")
    return re.sub(r"\s+", " ", text).strip()


def _clauses(text: str) -> list[str]:
    """Split on sentence marks, commas, dashes and 'but'/'and then'; keep '?' with its
    clause so a question is still a question."""
    parts = re.split(r"(?<=[.!?;])\s+|,\s*|\s+-+\s+|\s+\bbut\b\s+|\s+\band then\b\s+", text)
    return [p.strip(" .!;") for p in parts if p.strip(" .!;")]


def _phrase_patterns(phrases: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each phrase with its whole-word pattern, compiled once (not on every reply)."""
    return tuple((p, re.compile(r"(?<![\w'])" + re.escape(p) + r"(?![\w'])")) for p in phrases)


_PATTERNS = {id(group): _phrase_patterns(group) for group in (_ASSENT, _REFUSE, _HOLD)}


def _has(phrases: tuple[str, ...], clause: str) -> str | None:
    patterns = _PATTERNS.get(id(phrases)) or _phrase_patterns(phrases)
    for phrase, pattern in patterns:
        if pattern.search(clause):
            return phrase
    return None


def _negated(clause: str, phrase: str) -> bool:
    """Whether a negator stands within three words before ``phrase`` ("don't go ahead")
    or right after it ("absolutely not") in ``clause``."""
    index = clause.find(phrase)
    before = clause[:index].split()[-3:]
    after = clause[index + len(phrase):].split()[:1]
    return (any(w in _NEGATORS for w in before) or " ".join(before[-2:]) in _NEGATORS
            or any(w in ("not", "never") for w in after))


def _action_kinds(text: str) -> set[int]:
    tokens = set(re.findall(r"[a-z]+", text))
    return {i for i, group in enumerate(_ACTION_GROUPS) if tokens & group}


def _references(text: str) -> set[str]:
    """Identifier-like tokens: ids, order numbers, amounts, dates."""
    return {t.strip("#.-") for t in _ID_TOKEN.findall(text) if len(t.strip("#.-")) >= 2}


def classify_reply(reply: str | None, proposal: str = "") -> Consent:
    """Classify the customer's ``reply`` to the agent's ``proposal`` (what it will do)."""
    text = _normalise(reply or "")
    if not re.search(r"[a-z0-9]", text):
        return Consent("silent", "the customer said nothing")
    clauses = _clauses(text)
    wants = _normalise(proposal)
    assent = refuse = None
    for clause in clauses:  # a question or a condition outweighs any yes beside it
        if clause.endswith("?") or _WH_QUESTION.match(clause):
            return Consent("question", f"the customer asked a question ({clause!r})")
        if _CONDITION.search(clause):
            return Consent("conditional", f"the customer set a condition ({clause!r})")
    for clause in clauses:
        held = _has(_HOLD, clause)
        if held:
            return Consent("hold", f"the customer held back ({held!r})")
        positive = _has(_ASSENT, clause)
        negative = None if _NOT_REFUSALS.search(clause) else _has(_REFUSE, clause)
        if positive and _negated(clause, positive):
            refuse = refuse or f"{clause!r}"
        elif negative:
            refuse = refuse or f"{negative!r}"
        elif positive:
            assent = assent or positive
    if refuse:
        return Consent("refuse", f"the customer declined ({refuse})")
    if _INSTEAD.search(text):
        return Consent("other_action", "the customer asked for something else instead")
    if wants:
        extra_kinds = _action_kinds(text) - _action_kinds(wants)
        if extra_kinds and _action_kinds(wants):
            return Consent("other_action", "the customer's yes names another kind of action")
        foreign = sorted(r for r in _references(text) - _references(wants)
                         if r not in wants)
        if foreign:
            return Consent("other_action", f"the customer's reply names {foreign[0]!r}, "
                                           "which the proposal does not")
    if assent:
        return Consent("agree", f"the customer agreed ({assent!r})")
    return Consent("unclear", "the reply neither agrees nor declines")
