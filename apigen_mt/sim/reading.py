"""How the offline sim customer reads its instruction: who it is, what it wants, how it acts.

It understands instructions in plain English of the kind a task writer produces: identity
("You are Ada Osei, and your zip code is 53283", "Your email address is …", "You are
mei_kovacs_8020"), goals ("You want to change the address on your open order"), the
details that go with each goal ("The order is #W1.", "Use 2 as the number of bags.", "For
the reason, you want no longer needed."), facts to ask for ("You also want to know the
status of order #W1."), persona and behaviour sentences. When a goal is stated in a way it
cannot turn into concrete details — a product described by its features, a plan that
depends on what the agent says ("If …") — the plan carries the reason instead, so the
customer can say it cannot play the part rather than pretend. It also reads how much the
customer says at once (prepared, unless told to wait to be asked) and what an item is
("Item 1 is a standing desk (walnut).").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from apigen_mt.sim.phrasing import VERBS, canonical_tokens, sentences

_NAME = re.compile(r"^(?:You are|Your name is|You name is|You're|This is) "
                   r"([A-Z][\w'-]+ [A-Z][\w'-]+)\b")
_ZIP = [re.compile(r"zip(?: code)?(?: is)? (\d{5})\b"),
        re.compile(r"\b(?:in|live in|living in)\b[^.]*?\b(\d{5})\b")]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"phone number is (\+?\d[\d() -]{5,}\d)")
_USER_ID = [re.compile(r"(?:user|customer|member|account) id is ([\w.-]+?)(?=[,.]?(?:\s|$))"),
            re.compile(r"^You are ([a-z]+(?:_[a-z]+)+_\d+)\b")]
_GOAL = re.compile(
    r"^(?:(?:After that|Once that is done|In the same conversation|Then|Also|Today), )?"
    r"(?:You|you) (?:also )?(?:want to|would like to|need to|are hoping to|"
    r"have decided you want to|are getting in touch because you want to) (.+)\.$"
    r"|^Your goal is to (.+)\.$|^(?:Then|Today) you (?:also )?(?:want|need|would like) to (.+)\.$")
_QUESTION = re.compile(
    r"(?:want to know|want to find out|like to be told|want to ask for) the ([a-z0-9 ]+?) "
    r"(?:of|for) (?:the )?([a-z ]+) ([^\s,]+)\.$")
_DETAILS = [
    re.compile(r"^The (?P<noun>[a-z0-9 ]+?) you have in mind (?:is|are) (?P<value>.+)\.$"),
    re.compile(r"^The (?P<noun>[a-z0-9 ]+?) (?:is|are) (?P<value>.+)\.$"),
    re.compile(r"^For the (?P<noun>[a-z0-9 ]+?), you want (?P<value>.+)\.$"),
    re.compile(r"^Use (?P<value>.+) as the (?P<noun>[a-z0-9 ]+?)\.$"),
]
_DESCRIPTION = re.compile(r"^(?:Item|Order|Reservation) (#?[\w-]*\d[\w-]*) is "
                          r"((?:an?|the|your) .+)\.$")
_GOAL_WORDS = re.compile(r"\b(want|wants|wish|would like|need|hope|hoping|goal|prefer|plan)\b",
                         re.IGNORECASE)
_VALUE_LIKE = re.compile(r"[#\d\"@]")
_PIECEWISE = re.compile(r"only when (?:the agent|asked|they ask)|let the agent lead|do not "
                        r"volunteer|one by one|piece by piece|short and to the point|as they "
                        r"come up|a few at a time|when (?:you are|you're) asked", re.IGNORECASE)
TONES = {
    "terse": ("impatient", "blunt", "terse", "speed", "busy", "multitasking", "in a hurry",
              "direct"),
    "warm": ("cheerful", "friendly", "polite", "warm", "patient", "loyal", "chatty", "funny"),
    "hesitant": ("confused", "jargon", "nervous", "anxious", "insecure", "unsure", "shy"),
}


@dataclass
class Request:
    """One thing the customer wants: a change with its details, or a fact to be told."""

    intent: str
    details: list[tuple[str, str]] = field(default_factory=list)  # (noun, spoken value)
    field: str | None = None  # for a question: the fact wanted …
    about: tuple[str, str] | None = None  # … of this record (noun, value)

    @property
    def is_question(self) -> bool:
        return self.field is not None


@dataclass
class Plan:
    """What the instruction asks for, as the sim customer understood it."""

    identity: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    tone: str = "neutral"
    careful: bool = False
    # says who they are and each request's details when bringing it up, unless told to
    # wait to be asked ("You give details only when the agent asks for them")
    upfront: bool = True
    # what an item, order or trip is, in the customer's words ("a desk (walnut)")
    descriptions: dict[str, str] = field(default_factory=dict)
    who: str = ""  # "a medical resident", from the persona, for small talk
    traits: list[str] = field(default_factory=list)  # "I'm a loyal long-time customer."
    problem: str | None = None  # why the instruction cannot be played, if it cannot


def _short(sentence: str, limit: int = 90) -> str:
    return sentence if len(sentence) <= limit else sentence[:limit - 1].rstrip() + "…"


def _clean_intent(text: str) -> bool:
    """A goal the customer can say as is: a known verb and an object, no values in it."""
    first = text.split(" ", 1)[0]
    verbs = {t for t in canonical_tokens(text) if t in VERBS}
    return (bool(verbs) or (first.isalpha() and first.islower() and len(text.split()) <= 8)) \
        and not _VALUE_LIKE.search(text) and not re.search(
            r"\b(if|but|unless|instead|or|so|and|similar|one)\b|,", text)


_RECORD = re.compile(r"\b(order|reservation|booking) (#?[A-Z0-9]*\d[A-Z0-9]*|[A-Z0-9]{6})\b")
_BECAUSE = re.compile(r",? because (.+)$")
_YOU = {"you": "I", "your": "my", "yours": "mine", "you're": "I'm", "yourself": "myself"}


def _embedded(intent: str) -> tuple[str, list[tuple[str, str]]]:
    """Details written into a goal, as a model drafting tasks often does: "cancel order #W1
    because you no longer need it" → ("cancel my order", [order #W1, reason …])."""
    details: list[tuple[str, str]] = []
    because = _BECAUSE.search(intent)
    if because:
        reason = " ".join(_YOU.get(w, w) for w in because.group(1).split())
        details.append(("reason", reason))
        intent = intent[:because.start()]
    record = _RECORD.search(intent)
    if record:
        noun = "reservation" if record.group(1) == "booking" else record.group(1)
        details.insert(0, (noun, record.group(2)))
        head = intent[:record.start()]
        owner = "" if head.endswith(("your ", "my ", "the ")) else "your "
        intent = head + owner + record.group(1) + intent[record.end():]
    return intent, details


def _identity(sentence: str, plan: Plan) -> bool:
    found = False
    name = _NAME.search(sentence)
    if name:
        plan.identity["name"] = name.group(1)
        found = True
    for pattern in _ZIP:
        zip_code = pattern.search(sentence)
        if zip_code:
            plan.identity.setdefault("zip", zip_code.group(1))
            found = True
            break
    phone = _PHONE.search(sentence)
    if phone:
        plan.identity["phone"] = phone.group(1)
        found = True
    email = EMAIL.search(sentence)
    if email:
        plan.identity["email"] = email.group(0).rstrip(".")
        found = True
    for pattern in _USER_ID:
        uid = pattern.search(sentence)
        if uid:
            plan.identity["user id"] = uid.group(1)
            found = True
    if re.search(r"do not remember the email|don't remember (?:the|your) email", sentence):
        found = True
    return found


_FIRST_PERSON = {"their": "my", "them": "me", "they": "I", "themselves": "myself",
                 "theirs": "mine"}


def _traits(persona: str) -> list[str]:
    """Persona clauses in the first person: "who is blunt and asks a lot of questions" →
    ["I'm blunt.", "I ask a lot of questions."]."""
    found = re.search(r"\bwho (.+?)\.(?:\s|$)", persona)
    if not found:
        return []
    out = []
    for clause in re.split(r",? and ", found.group(1).rsplit(" who ", 1)[-1]):
        words = [_FIRST_PERSON.get(w, w) for w in clause.split()]
        if not words:
            continue
        verb = words[0]
        if verb == "is":
            words[0] = "I'm"
        elif verb == "has":
            words[0] = "I've"
        elif verb.endswith("ies"):
            words[0:1] = ["I", verb[:-3] + "y"]
        elif verb.endswith("es") and verb[:-2].endswith(("sh", "ch", "ss", "x", "o")):
            words[0:1] = ["I", verb[:-2]]
        elif verb.endswith("s") and not verb.endswith("ss"):
            words[0:1] = ["I", verb[:-1]]
        else:
            words[0:1] = ["I'm", verb]
        out.append(" ".join(words) + ".")
    return out


def is_task_sentence(sentence: str) -> bool:
    """A goal, a detail of one, or a fact to ask for (not who the customer is or how
    they behave)."""
    return bool(_GOAL.match(sentence) or _QUESTION.search(sentence)
                or any(p.match(sentence) for p in _DETAILS))


def read_instruction(text: str) -> Plan:
    """The plan an instruction describes (``problem`` set when it cannot be followed)."""
    plan = Plan()
    persona = ""
    for sentence in sentences(text):
        if sentence.startswith("If ") or " if the agent" in sentence.lower():
            plan.problem = ("it asks me to react to what the agent says, which I cannot "
                            f"follow: '{_short(sentence)}'")
            break
        described = _DESCRIPTION.match(sentence)
        if described:
            plan.descriptions[described.group(1)] = " ".join(
                _YOU.get(w, w) for w in described.group(2).split())
            continue
        question = _QUESTION.search(sentence)
        if question:
            plan.requests.append(Request(intent=f"know the {question.group(1)}",
                                         field=question.group(1),
                                         about=(question.group(2), question.group(3))))
            continue
        goal = _GOAL.match(sentence)
        if goal:
            intent, details = _embedded(next(g for g in goal.groups() if g))
            if not _clean_intent(intent):
                plan.problem = ("I cannot tell exactly what to ask for in "
                                f"'{_short(sentence)}'")
                break
            plan.requests.append(Request(intent=intent, details=details))
            continue
        detail = next((m for m in (p.match(sentence) for p in _DETAILS) if m), None)
        if detail and not EMAIL.search(sentence) and detail.group("noun") != "user id":
            if not plan.requests or plan.requests[-1].is_question:
                plan.problem = f"the detail '{_short(sentence)}' belongs to no request"
                break
            plan.requests[-1].details.append((detail.group("noun"), detail.group("value")))
            continue
        if _identity(sentence, plan):
            continue
        if detail:  # "The user id is …": a detail the agent finds itself
            plan.identity.setdefault("user id", detail.group("value"))
            continue
        if "go over it once more" in sentence or "repeat" in sentence.lower():
            plan.careful = True
            continue
        if re.match(r"^(You are [a-z]|You're [a-z]|About you|You give|You let|You do not "
                    r"volunteer|You tend|You speak|You answer|You share|You keep|You tell|"
                    r"You say|You come|You lay)", sentence):
            persona += " " + sentence.lower()
            if _PIECEWISE.search(sentence):
                plan.upfront = False
            continue
        if re.search(r"\b(say yes|saying yes|agree|agreed|approve|go-ahead|summary)\b",
                     sentence) and not _VALUE_LIKE.search(sentence) and not (
                canonical_tokens(sentence) & set(VERBS) - {"modify"}):
            # how they consent (a change is still a "change": "modify" alone is no goal)
            continue
        if _GOAL_WORDS.search(sentence):
            plan.problem = f"I do not understand what I want in '{_short(sentence)}'"
            break
    if plan.problem is None and not plan.requests:
        plan.problem = "it does not say what I want from the agent"
    plan.traits = _traits(persona)
    found = re.search(r"you are (an? [a-z' -]+?)(?: who\b| with\b|,|\.)", persona)
    plan.who = found.group(1) if found else ""
    plan.tone = next((tone for tone, hints in TONES.items()
                      if any(h in persona for h in hints)), "neutral")
    return plan
