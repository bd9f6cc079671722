"""How the sim customer puts a sentence together: a frame whose parts are chosen one by
one (how a request opens, what follows it, how a detail is named, how a yes is said),
each in the customer's tone, instead of one sentence picked whole from a bank.

The parts come from ``phrases.json`` (``customer.compose``). Every form a detail can take
(``forms``) is also how the sim agent reads it back (:func:`detail_patterns`), and every
yes starts with a word the agent hears as one; a request still names a verb and an object
the agent knows (the intent itself is left as the customer read it).
"""

from __future__ import annotations

import random
import re

from apigen_mt.sim.dates import date_form, say_date
from apigen_mt.sim.itinerary import say_count, say_flights, say_people
from apigen_mt.sim.phrasebook import PHRASES
from apigen_mt.sim.phrasing import PARTICIPLES, SPOKEN_VERBS, SPOKEN_WORDS, VERBS, WORDS

_COMPOSE = PHRASES["customer"]["compose"]
FORMS: dict[str, list[str]] = _COMPOSE["forms"]
# forms of details said in words ("ordered by mistake", "business"): the value ends them
TEXT_FORMS: dict[str, list[str]] = _COMPOSE["text_forms"]
REPEAT_ASKS: tuple[str, ...] = tuple(_COMPOSE["repeat_ask"])
# first words of a composed detail: after a lead ("Um, "), said in lower case
STARTERS = {f.split()[0].lower() for forms in (*_COMPOSE["forms"].values(),
                                               *_COMPOSE["text_forms"].values())
            for f in forms if not f.startswith(("I ", "I'", "{"))} | {
    j.split()[0].lower().rstrip(",") for j in _COMPOSE["detail_join"] if j}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _by_tone(key: str, tone: str) -> list[str]:
    bank = _COMPOSE[key]
    return bank.get(tone) or bank["neutral"]


def request(intent: str, tone: str, rng: random.Random, again: bool = False) -> str:
    """One request: an opener or a question, the intent, at times a word after it; or what
    should happen to the thing ("I need my order cancelled."); a later request (``again``)
    with a thanks for the last one and a word that moves on."""
    after = rng.choice(_by_tone("after", tone))
    ask = rng.random() < 0.4
    if again:
        head = rng.choice(_COMPOSE["also_asker" if ask else "also_opener"])
    else:
        head = rng.choice(_by_tone("asker" if ask else "opener", tone))
    core = f"{head} {intent}{after}{'?' if ask else '.'}"
    split = _verb_and_object(intent)
    if split and rng.random() < 0.5:
        forms = _COMPOSE["done_to"]["again"] if again else _by_tone("done_to", tone)
        thing, done = split[1], PARTICIPLES[split[0]]
        core = rng.choice(forms).replace("{O}", _cap(thing)).format(o=thing, p=done)
        if _plural(thing):  # "the items ... need to be", not "needs"
            core = core.replace(f"{thing} needs", f"{thing} need").replace(
                f"{thing} has", f"{thing} have")
    if not again:
        return _cap(core)
    then, move = rng.choice(_COMPOSE["then"]), rng.choice(_COMPOSE["next"])
    if re.search(r"\balso\b", move, re.IGNORECASE):  # not "Also, can I also get ..."
        core = re.sub(r" also\b", "", core, count=1)
    said = f"{move} {core}" if move else _cap(core)
    return f"{then} {said}" if then else said


def _verb_and_object(intent: str) -> tuple[str, str] | None:
    """("call off", "my order #W1") of "call off my order #W1"; None when the verb has no
    participle a customer would use."""
    for verb in sorted(PARTICIPLES, key=len, reverse=True):
        if intent.startswith(verb + " ") and intent[len(verb) + 1:].startswith(
                ("my ", "the ")):  # never "a flight booking booked"
            return verb, intent[len(verb) + 1:]
    return None


def _plural(thing: str) -> bool:
    """Whether the thing a request is about is plural ("the items from my order", "my
    order's items"), by its head word: the one before the word tying it to its record."""
    links = sorted({*_JOINS, *(x for ls in _COMPOSE["linker"].values()
                              if isinstance(ls, list) for x in ls)}, key=len, reverse=True)
    tie = "|".join(map(re.escape, links))
    head = re.split(rf" (?:{tie}) my ", thing, maxsplit=1)[0]
    word = head.split()[-1] if head.split() else ""
    return word.endswith("s") and not word.endswith(("ss", "'s"))


def detail(noun: str, value: str, rng: random.Random, first: bool,
           words: bool = False) -> str | None:
    """A detail named as people name it ("pay with credit_card_1", "3 bags in total"),
    joined to the one before it; None when the noun has no such forms. ``words``: the
    value is a phrase, said at the end of its sentence."""
    forms = (TEXT_FORMS if words else FORMS).get(noun)
    if not forms:
        return None
    form = rng.choice(forms)
    said = one_bag(form.replace("{v}", value))
    joins = _COMPOSE["detail_join"]
    if _CLAUSE.search(form):  # "Along with make it 3 bags" is no sentence
        joins = [j for j in joins if j not in _NOUN_JOINS]
    # people string details together mostly without a connective before each one
    join = "" if first or rng.random() < 0.4 else rng.choice(joins)
    return (f"{join} {said}" if join else _cap(said)) + "."


def one_bag(said: str) -> str:
    """``1 bags`` said as ``1 bag`` (``one suitcases`` as ``one suitcase``)."""
    return re.sub(r"(?<![\d.])(1|[Oo]ne) (bag|suitcase)s\b", r"\1 \2", said)


# joins that take a noun phrase after them, and what makes a form a clause instead
_NOUN_JOINS = {"As well as", "Along with", "Plus", "With"}
_CLAUSE = re.compile(r"\b(is|are|be|want|like|use|pay|put|go|run|make|swap|please|mark|list|"
                     r"charge|bill|seat|sit|fly|take|leaving|departing|starting|going|arriving|headed|"
                     r"heading|bound|outbound|setting|checking|regarding|need|ends|starts|read|"
                     r"insurance|insurance-wise|me|I'd|I'm|I'll|I've|we'll)\b")


def detail_patterns(nouns: list[str], ids: str) -> list[tuple[str, re.Pattern[str]]]:
    """(noun, pattern) for every form of these nouns, longest form first: the value
    (matching ``ids``) is the pattern's one group."""
    out = []
    for noun in nouns:
        for form in FORMS.get(noun, []):
            before, after = form.split("{v}")
            # "1 bag in total" heard as well as "3 bags in total"
            pattern = (rf"(?<![\w-]){re.escape(before)}({ids})"
                       + (re.escape(after).replace("bags", "bags?") if after
                          else r"(?=[.!?,;]?(?:\s|$))"))
            out.append((len(form), noun, re.compile(pattern, re.IGNORECASE)))
        for form in TEXT_FORMS.get(noun, []):
            before, after = form.split("{v}")
            pattern = rf"(?<![\w-]){re.escape(before)}(.+?){re.escape(after)}[.!]?$"
            out.append((len(form), noun, re.compile(pattern, re.IGNORECASE)))
    return [(noun, pattern) for _, noun, pattern in sorted(out, key=lambda t: -t[0])]


def agreement(tone: str, rng: random.Random) -> str:
    """A yes: the word, at times what was checked, at times a go-ahead and a thanks."""
    word = rng.choice(_by_tone("yes_word", tone))
    check = rng.choice(_by_tone("yes_check", tone))
    go = rng.choice(_by_tone("yes_go", tone))
    if check and (check.lower() in word.lower() or _shared(word, check)):
        check = ""  # not "Right, yes, that's right"
    if go.startswith("please") and "please" in word.lower():
        go = go[len("please "):] or "go ahead"
    if rng.random() < 0.3:  # often the word alone
        check = go = ""
    if check and go and rng.random() < 0.7:  # most people say one thing with their yes
        check, go = (check, "") if rng.random() < 0.5 else ("", go)
    if not check and not go:
        text = f"{word}."
    elif check and go:
        text = f"{word}, {check}. {_cap(go)}."
    else:
        text = f"{word}, {check or go}."
    return text + (rng.choice(_by_tone("yes_thanks", tone)) if rng.random() < 0.5 else "")


def _shared(a: str, b: str) -> bool:
    return bool({w for w in re.findall(r"[a-z']{4,}", a.lower())}
                & {w for w in re.findall(r"[a-z']{4,}", b.lower())})


def repeat_please(rng: random.Random) -> str:
    """Asking to hear a change again before agreeing."""
    lead, ask = rng.choice(_COMPOSE["repeat_lead"]), rng.choice(REPEAT_ASKS)
    said = (f"{lead} {ask}" if lead.endswith(",") else f"{lead} {_cap(ask)}") if lead \
        else _cap(ask)
    return said + rng.choice(_COMPOSE["repeat_why"])


def asked_to_repeat(text: str) -> bool:
    """Whether a message of the customer's asked to hear a change again."""
    low = text.lower()
    return any(ask.lower() in low for ask in REPEAT_ASKS)  # "can I hear …" too


def goodbye(tone: str, rng: random.Random, recap: str = "") -> str:
    """That was all, a thanks, at times a word on what was done (``recap``), at times a
    farewell."""
    done, thanks = rng.choice(_by_tone("bye_done", tone)), rng.choice(_by_tone("bye_thanks", tone))
    said = f"{done}{thanks}{'!' if tone == 'warm' else '.'}" + (f" {recap}" if recap else "")
    return said + rng.choice(_by_tone("bye_end", tone))


def reword(intent: str, rng: random.Random) -> str:
    """The intent as this customer says it: each verb and object word, and the word that
    joins them ("the address on my order"), said its own way, the meaning kept (every word
    is one the agent reads as the same token)."""
    vocab = [(s, t, VERBS.get(t, []) + SPOKEN_VERBS.get(t, [])) for t, ss in VERBS.items()
             for s in ss + SPOKEN_VERBS.get(t, [])]
    vocab += [(s, t, WORDS[t] + SPOKEN_WORDS.get(t, [])) for t, ss in WORDS.items()
              for s in ss + SPOKEN_WORDS.get(t, [])]
    vocab.sort(key=lambda v: -len(v[0]))
    pieces: list[str] = []
    rest = intent
    while rest:  # left to right, longest surface first, each word replaced once
        for surface, _, choices in vocab:
            if re.match(rf"{re.escape(surface)}(?![\w-])", rest) and (
                    not pieces or not re.match(r"[\w-]", pieces[-1][-1:])):
                said = [p for p in pieces if p.strip() and re.match(r"[\w-]", p)]
                # "book a reservation", never "book a booking"
                fits = [c for c in choices if not said or c[:4] != said[0][:4]] or [surface]
                pieces.append(rng.choice(fits))
                rest = rest[len(surface):]
                break
        else:
            step = re.match(r"[\w-]+|\W", rest)
            word = step.group(0) if step else rest[0]
            rest = rest[len(word):]
            if word in _JOINS and pieces and pieces[-1] == " ":
                word = rng.choice(_JOINS)
            pieces.append(word)
    return _tied("".join(pieces), rng)


_JOINS = ("on", "for", "of")
_TIED = re.compile(r"\bthe ([\w-]+(?: [\w-]+)?) (on|for|of) my ((?:[\w-]+ )?[\w-]+)$")


def _tied(intent: str, rng: random.Random) -> str:
    """The thing and its record joined as people join them: "the address I gave for my
    order", "the items from my order", at times "my order's address"."""
    found = _TIED.search(intent)
    if not found:
        return intent
    head, owner = found.group(1), found.group(3)
    if rng.random() < 0.15:
        return f"{intent[:found.start()]}my {owner}'s {head}"
    links = _COMPOSE["linker"]
    kind = _kind(head)
    link = rng.choice(links["any"] + (links.get(kind, []) if kind else []))
    return f"{intent[:found.start()]}the {head} {link} my {owner}"


def _kind(head: str) -> str | None:
    """Which kind of thing a head noun names ("pieces" → items)."""
    for token in ("items", "address", "payment"):
        if head in [*WORDS[token], *SPOKEN_WORDS.get(token, [])]:
            return token
    return None


_DESCRIBED = re.compile(r"^an? (.+?) \((.+)\)$")


def difference(description: str, earlier: list[str], rng: random.Random) -> str | None:
    """A second thing of a kind already described in this message said by what differs
    ("Same hair dryer, only 1875W power, white."); None when none was of its kind."""
    found = _DESCRIBED.match(description)
    if not found:
        return None
    name, options = found.group(1), found.group(2).split(", ")
    for other in earlier:
        seen = _DESCRIBED.match(other)
        if seen and seen.group(1) == name:
            diff = [o for o in options if o not in seen.group(2).split(", ")]
            if diff:
                listed = ", ".join(diff[:-1]) + " and " + diff[-1] if len(diff) > 1 else diff[0]
                return rng.choice(_COMPOSE["differs"]).format(name=name, diff=listed)
    return None


def question(field: str, noun: str, value: str, rng: random.Random) -> str:
    """A fact asked for about one record ("Can you tell me the cabin for reservation X?")."""
    join = rng.choice(("of", "of", "for", "on"))
    return _cap(rng.choice(_COMPOSE["question_forms"]).format(
        ask=rng.choice(_COMPOSE["question"]), f=field, j=join, a=noun, v=value))


def item_story(name: str, kind: str, rng: random.Random) -> str:
    """Why one thing goes back (``kind`` "return") or is swapped ("exchange"), said of the
    thing itself ("The hair dryer stopped working after a week.")."""
    parts = _COMPOSE["item_story"]
    said = f"{rng.choice(parts['the'])} {name} {rng.choice(parts[kind])}"
    return f"{said}{rng.choice(parts[kind + '_when'])}."


def moving(city: str, rng: random.Random) -> str:
    """Why an address changes: a move, said its own way."""
    parts = _COMPOSE["moving"][rng.choice(("coming", "coming", "done"))]
    return f"{rng.choice(parts['who'])} to {city}{rng.choice(parts['when'])}."


_TWO_PART = re.compile(r"[a-z ]+ (\S+), date (\S+)")  # a thing on a date
_PAID = re.compile(r"payment method (\S+), amount (\d+(?:\.\d+)?)")  # a sum from a method


def spoken(value: str, rng: random.Random) -> str:
    """A value as this customer says it: a record of two parts at times shortened the way
    people say a flight ("HAT030 on 2024-05-25" for "flight number HAT030, date
    2024-05-25"); anything else as it is."""
    if re.fullmatch(r"[a-z]+(?:_[a-z]+){1,2}", value):  # "basic economy", not "basic_economy"
        return value.replace("_", " ")
    parts = value.split("; ")
    paid = [_PAID.fullmatch(p) for p in parts]
    if all(paid) and rng.random() < 0.95:  # "$1150 on credit_card_1", as people say a charge
        return "; ".join(f"${m.group(2)} on {m.group(1)}" for m in paid if m)
    found = [_TWO_PART.fullmatch(p) for p in parts]
    if not all(found) or rng.random() < 0.01:
        return say_count(value, rng) or say_people(value, rng) or _born_said(value, rng)
    return say_flights([(m.group(1), m.group(2)) for m in found if m], rng)


def _born_said(value: str, rng: random.Random) -> str:
    """``born 1955-03-26`` said at times as ``born March 26, 1955``."""
    if "born " not in value or rng.random() < 0.25:
        return value
    form = date_form(rng, with_year=True)
    return re.sub(r"\bborn (\d{4}-\d{2}-\d{2})\b",
                  lambda m: "born " + say_date(m.group(1), form), value)
