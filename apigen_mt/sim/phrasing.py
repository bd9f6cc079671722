"""Plain-English vocabulary for tool calls: what a request, a detail and a value sound like.

Shared by the instruction writer and the offline sim's customer and agent, the way a
language is shared by the people who speak it. Works for any environment: a tool name
becomes a verb and an object ("modify_pending_order_address" → "change the address on my
open order"), an argument becomes a noun ("payment_method_id" → "payment method"), and a
value is said in words a listener can take back exactly ("#W1 and #W2", "9192 Willow
Avenue, Spokane, WA 99201, USA", "Keiko Rasmussen, born 1975-08-16").
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

# verbs: canonical token → ways to say it (a tool's verb "update" is the same act as "modify")
VERBS: dict[str, list[str]] = {
    "cancel": ["cancel", "call off"],
    "modify": ["change", "update", "modify", "make a change to"],
    "return": ["return", "send back"],
    "exchange": ["exchange", "swap"],
    "book": ["book"],
    "send": ["send"],
    "add": ["add"],
    "remove": ["remove", "take off"],
    "renew": ["renew", "extend"],
    "transfer": ["transfer", "move"],
    "report": ["report"],
    "open": ["open", "file"],
    "freeze": ["freeze"],
    "unfreeze": ["unfreeze"],
}
VERB_ALIASES = {"update": "modify", "edit": "modify", "change": "modify"}
# object words: canonical token → ways to say it (the first is the plain one)
WORDS: dict[str, list[str]] = {
    "pending": ["pending", "unshipped", "not-yet-shipped", "undelivered", "still-processing"],
    "delivered": ["delivered", "received"],
    "user": ["account", "profile", "customer profile"],
    "reservation": ["reservation", "booking"],
    "items": ["items", "products"],
    "baggages": ["bags", "luggage", "baggage", "checked bags"],
    "passengers": ["passengers", "travellers", "passenger details", "traveller names"],
    "order": ["order", "purchase"],
    "address": ["address", "shipping address", "delivery address"],
    "flights": ["flights", "flight plans", "itinerary"],
    "payment": ["payment method", "payment"],
    "accounts": ["accounts"],
    "certificate": ["certificate"],
}
# more ways a customer says a verb or an object word: understood everywhere
# (:func:`canonical_tokens`), said only by the sim customer (the instruction writer and the
# agent keep to the lists above, so their wording and draws stay as they were)
SPOKEN_VERBS: dict[str, list[str]] = {
    "cancel": ["scrap"],
    "modify": ["adjust", "edit", "amend", "alter", "switch", "rework"],
    "return": ["give back", "ship back"],
    "exchange": ["trade", "switch out", "swap out"],
}
SPOKEN_WORDS: dict[str, list[str]] = {
    "pending": ["unfulfilled", "in-progress"],
    "delivered": ["completed"],
    "user": ["account details", "user profile"],
    "reservation": ["trip", "flight booking", "flight reservation", "travel booking", "ticket"],
    "items": ["pieces", "goods"],
    "baggages": ["suitcases", "bag allowance", "checked luggage", "bag count"],
    "passengers": ["passenger list", "traveller details", "traveller list", "passenger names"],
    "order": ["package", "shipment"],
    "address": ["mailing address", "postal address"],
    "flights": ["flight details", "travel plans", "flight times", "flight schedule"],
    "payment": ["billing method"],
    "certificate": ["voucher", "travel voucher", "travel certificate", "travel credit"],
}
# a verb's participle, as in "I need my order cancelled": understood in a customer's request
# (:func:`match_intent`), said by the sim customer
PARTICIPLES: dict[str, str] = {
    "cancel": "cancelled", "call off": "called off", "scrap": "scrapped", "change": "changed",
    "update": "updated", "modify": "modified", "adjust": "adjusted", "edit": "edited",
    "amend": "amended", "alter": "altered", "switch": "switched", "rework": "reworked",
    "return": "returned", "send back": "sent back", "give back": "given back",
    "ship back": "shipped back", "exchange": "exchanged", "swap": "swapped", "trade": "traded",
    "switch out": "switched out", "swap out": "swapped out", "book": "booked", "add": "added",
    "remove": "removed", "take off": "taken off", "renew": "renewed", "extend": "extended",
    "transfer": "transferred", "report": "reported", "open": "opened", "file": "filed",
    "freeze": "frozen", "unfreeze": "unfrozen",
}
_ADJECTIVES = {"pending", "delivered"}
# argument nouns the plain rule would say badly; anything else: its words, minus " id"
NOUNS = {
    "order_id": "order", "reservation_id": "reservation", "user_id": "user id",
    "payment_method_id": "payment method", "payment_id": "payment method",
    "item_ids": "items", "new_item_ids": "new items", "product_id": "product",
    "total_baggages": "total bags", "nonfree_baggages": "paid bags",
    "zip": "zip code", "dob": "date of birth", "address": "address", "phone": "phone number",
}
ADDRESS_KEYS = ("address1", "address2", "city", "state", "zip", "country")


def lookup_ids(tool_names: list[str]) -> set[str]:
    """Arguments a lookup tool finds (``find_customer_id_by_email`` → ``customer_id``): the
    agent fills them in, the customer never has to say them."""
    out = set()
    for name in tool_names:
        found = re.match(r"find_([a-z]+)_id_by_", name)
        if found:
            out.add(f"{found.group(1)}_id")
    return out or {"user_id"}


def words(name: str) -> str:
    """``cancel_pending_order`` → ``cancel pending order``."""
    return name.replace("_", " ").strip()


def noun(param: str) -> str:
    """How an argument is called in speech."""
    if param in NOUNS:
        return NOUNS[param]
    text = words(param)
    if text.endswith(" ids"):
        return text[:-4] + "s"
    if text.endswith(" id") and len(text) > 3:
        return text[:-3]
    return text


# ------------------------------------------------------------------------ slots


@dataclass(frozen=True)
class Slot:
    """One thing a customer states: one argument, or a whole address spread over several."""

    noun: str
    params: tuple[str, ...]

    @property
    def is_address(self) -> bool:
        return len(self.params) > 1


def slots_for(params: list[str]) -> list[Slot]:
    """Group arguments into slots: address parts (street, city, state, zip) become one."""
    address = [p for p in params if p in ADDRESS_KEYS]
    out: list[Slot] = []
    grouped = {"address1", "city", "state", "zip"} <= set(address)
    for p in params:
        if grouped and p in ADDRESS_KEYS:
            if p == address[0]:
                out.append(Slot("new address", tuple(address)))
            continue
        out.append(Slot(noun(p), (p,)))
    return out


def slot_value(slot: Slot, arguments: dict[str, Any]) -> Any:
    """The value a slot carries in ``arguments`` (a dict for an address)."""
    if slot.is_address:
        return {k: arguments.get(k, "") for k in slot.params}
    return arguments.get(slot.params[0])


# ------------------------------------------------------------------------ values


_UNSAFE = (". ", ", ", " and ", ";", ":", '"', "\n")


def speak_value(value: Any) -> str:
    """A value as a customer says it; text that could be misheard is quoted."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if value and not value.endswith(".") and not any(u in value for u in _UNSAFE):
            return value
        return json.dumps(value)
    if isinstance(value, dict):
        return _speak_object(value)
    if isinstance(value, list):
        parts = [speak_value(v) for v in value]
        sep = "; " if any(isinstance(v, dict) for v in value) else ", "
        if len(parts) <= 1:
            return "".join(parts) or "none"
        if sep == "; ":
            return sep.join(parts)
        return sep.join(parts[:-1]) + " and " + parts[-1]
    return json.dumps(value)


def speak_address(address: dict[str, Any]) -> str:
    """``9192 Willow Avenue, Suite 5, Spokane, WA 99201, USA``."""
    parts = [address.get("address1", "")]
    if address.get("address2"):
        parts.append(address["address2"])
    parts += [address.get("city", ""), f"{address.get('state', '')} {address.get('zip', '')}"]
    if address.get("country"):
        parts.append(address["country"])
    return ", ".join(str(p) for p in parts)


def parse_address(text: str, params: tuple[str, ...]) -> dict[str, str] | None:
    """Inverse of :func:`speak_address` (``address2`` is empty when not said)."""
    parts = [p.strip() for p in text.strip().rstrip(".").split(", ")]
    state_zip = next((i for i, p in enumerate(parts) if re.fullmatch(r"[A-Z]{2} \w+", p)), None)
    if state_zip is None or state_zip < 2:
        return None
    state, zip_code = parts[state_zip].split(" ", 1)
    out = {"address1": parts[0], "address2": ", ".join(parts[1:state_zip - 1]),
           "city": parts[state_zip - 1], "state": state, "zip": zip_code,
           "country": ", ".join(parts[state_zip + 1:])}
    return {k: v for k, v in out.items() if k in params}


def _speak_object(obj: dict[str, Any]) -> str:
    parts = []
    if "first_name" in obj and "last_name" in obj:
        parts.append(f"{obj['first_name']} {obj['last_name']}")
    for key, value in obj.items():
        if key in ("first_name", "last_name"):
            continue
        if key == "dob":
            parts.append(f"born {value}")
        else:
            parts.append(f"{noun(key)} {speak_value(value)}")
    return ", ".join(parts)


def _parse_object(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    money = re.fullmatch(r"\$(\d+(?:\.\d+)?) on (\S+)", text.strip())
    numeric = [k for k, sub in props.items()
               if _plain_schema(sub).get("type") in ("number", "integer")]
    if money and len(props) == 2 and len(numeric) == 1:
        # "$1150 on credit_card_1": a sum, and what it is paid from
        said = {numeric[0]: money.group(1)}
        said.update({k: money.group(2) for k in props if k != numeric[0]})
        return {k: parse_value(said[k], sub) for k, sub in props.items()}
    short = re.fullmatch(r"(\S+) on (\S+)", text.strip())
    if short and len(props) == 2 and not any(f"{noun(k)} " in text for k in props):
        # "HAT030 on 2024-05-25": the two values in the order the schema lists them
        return {k: parse_value(v, sub) for (k, sub), v in zip(props.items(), short.groups(),
                                                              strict=True)}
    out: dict[str, Any] = {}
    rest = text.strip()
    if "first_name" in props and "last_name" in props:
        found = re.match(r"([A-Z][\w'-]*) ([A-Z][\w'-]*)", rest)
        if found:
            out["first_name"], out["last_name"] = found.group(1), found.group(2)
    born = re.search(r"\bborn (\S+?)(?:,|$)", rest)
    if born and "dob" in props:
        out["dob"] = born.group(1)
    for key, sub in props.items():
        if key in out or key in ("first_name", "last_name", "dob"):
            continue
        found = re.search(rf"(?:^|, ){re.escape(noun(key))} (.+?)(?=, |$)", rest)
        if found:
            out[key] = parse_value(found.group(1), sub)
    return out


def _split_list(text: str) -> list[str]:
    """``A, B and C`` → [A, B, C], keeping quoted text whole."""
    pieces, buf, quoted, i = [], "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            quoted = not quoted
        if not quoted:
            for sep in (", and ", ", ", " and "):
                if text.startswith(sep, i):
                    pieces.append(buf)
                    buf, i = "", i + len(sep)
                    break
            else:
                buf += ch
                i += 1
            continue
        buf += ch
        i += 1
    pieces.append(buf)
    return [p.strip() for p in pieces if p.strip()]


def _plain_schema(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:  # optional arguments: T | None
        return next((s for s in options if s.get("type") not in (None, "null")), schema)
    return schema


def parse_value(text: str, schema: dict[str, Any] | None = None) -> Any:
    """A spoken value back into the type the tool's schema asks for."""
    schema = _plain_schema(schema or {})
    text = text.strip()
    kind = schema.get("type")
    if kind == "array":
        items = _plain_schema(schema.get("items", {}))
        if items.get("type") == "object":
            return [_parse_object(p, items) for p in text.split("; ") if p.strip()]
        if text == "none":
            return []
        return [parse_value(p, items) for p in _split_list(text)]
    if kind == "object":
        return _parse_object(text, schema)
    if text.startswith('"'):
        try:
            return json.JSONDecoder().raw_decode(text)[0]
        except json.JSONDecodeError:
            return text.strip('"')
    text = text.rstrip(".!")
    if kind == "integer":
        found = re.search(r"-?\d+", text)
        return int(found.group()) if found else text
    if kind == "number":
        found = re.search(r"-?\d+(?:\.\d+)?", text)
        if not found:
            return text
        # as JSON reads a number: "50" is 50, "50.5" is 50.5 (a model writes what it heard)
        return json.loads(found.group())
    if kind == "boolean":
        return text.lower() in ("yes", "true")
    if schema.get("enum"):
        return _closest_choice(text, schema["enum"])
    return text


def _closest_choice(text: str, choices: list[Any]) -> Any:
    """The listed value a phrase means: exact, else the one sharing most word stems
    ("I no longer need it" → "no longer needed"); the phrase itself when none fits."""
    lowered = text.lower()
    exact = next((e for e in choices if str(e).lower() == lowered), None)
    if exact is not None:
        return exact
    stems = {w[:4] for w in re.findall(r"[a-z]+", lowered)}
    scored = [(len(stems & {w[:4] for w in re.findall(r"[a-z]+", str(e).lower())}), i)
              for i, e in enumerate(choices)]
    score, i = max(scored, default=(0, 0))
    return choices[i] if score >= 2 else text


def value_pieces(value: Any) -> list[str]:
    """The strings a listener must hear for a value to count as stated."""
    if isinstance(value, dict):
        return [p for v in value.values() if v not in ("", None) for p in value_pieces(v)]
    if isinstance(value, list):
        return [p for v in value for p in value_pieces(v)]
    spoken = speak_value(value)
    return [spoken.strip('"')] if spoken else []


# ------------------------------------------------------------------------ intents


def intent_tokens(tool: str) -> tuple[str, list[str]]:
    """(canonical verb, object tokens) of a tool name."""
    parts = tool.split("_")
    verb = VERB_ALIASES.get(parts[0], parts[0])
    return verb, [p for p in parts[1:] if p not in ("to", "by", "of", "for", "between",
                                                    "from", "with", "into", "on")]


_PREPOSITIONS = {"to", "from", "between", "with", "into", "on", "for", "by", "of"}
_STATES = {"lost", "stolen", "closed", "blocked", "frozen"}
_CREATE = {"open", "add", "book", "create", "send", "make", "file", "request"}


def speak_intent(tool: str, rng: random.Random, owner: str = "my") -> str:
    """A natural verb phrase for a tool: ``cancel my open order`` (``owner`` "your" for an
    instruction). Names with a preposition or a final state word keep their order:
    ``send_payment_to_payee`` → ``send a payment to my payee``, ``report_card_lost`` →
    ``report my card lost``."""
    verb, objects = intent_tokens(tool)
    said_verb = rng.choice(VERBS.get(verb, [verb]))
    raw = tool.split("_")[1:]
    if any(t in _PREPOSITIONS for t in raw) or (raw and raw[-1] in _STATES):
        out, first = [], True
        for i, token in enumerate(raw):
            if token in _PREPOSITIONS or token in _STATES:
                out.append(token)
                continue
            previous = raw[i - 1] if i else ""
            if first and previous not in _PREPOSITIONS:
                out.append("a" if verb in _CREATE else owner)
            elif previous in _PREPOSITIONS:
                out.append(owner)
            first = False
            out.append(rng.choice(WORDS.get(token, [token])))
        return f"{said_verb} {' '.join(out)}"
    if verb in _CREATE and len(objects) == 1:  # something new: "open a dispute"
        return f"{said_verb} a {rng.choice(WORDS.get(objects[0], [objects[0]]))}"
    return f"{said_verb} {speak_object_phrase(objects, rng, owner)}"


def speak_object_phrase(objects: list[str], rng: random.Random, owner_word: str = "my") -> str:
    """``['pending', 'order', 'address']`` → ``the address on my open order``."""
    said = [rng.choice(WORDS.get(t, [t])) for t in objects]
    if not said:
        return "something"
    owners = [s for s, t in zip(said, objects, strict=True)]
    if (len(objects) >= 2 and objects[-1] not in _ADJECTIVES and objects[-2] not in _ADJECTIVES) \
            or len(objects) >= 3:
        head, owner = said[-1], " ".join(owners[:-1])
        return rng.choice([f"the {head} on {owner_word} {owner}",
                           f"the {head} for {owner_word} {owner}",
                           f"the {head} of {owner_word} {owner}"])
    return f"{owner_word} {' '.join(said)}"


def canonical_tokens(text: str, participles: bool = False) -> set[str]:
    """The canonical verb and object tokens a sentence mentions (``participles``: a verb's
    participle counts as the verb, "my order cancelled")."""
    lowered = f" {text.lower()} "
    found = set()
    surfaces = [(s, t) for t, ss in VERBS.items() for s in ss]
    if participles:
        verbs = {s: t for vocab in (VERBS, SPOKEN_VERBS) for t, ss in vocab.items() for s in ss}
        surfaces += [(p, VERB_ALIASES.get(v, verbs.get(v, v))) for v, p in PARTICIPLES.items()
                     if v in verbs or v in VERB_ALIASES]
    surfaces += [(a, t) for a, t in VERB_ALIASES.items()]
    surfaces += [(s, t) for t, ss in WORDS.items() for s in ss]
    surfaces += [(s, t) for vocab in (SPOKEN_VERBS, SPOKEN_WORDS)
                 for t, ss in vocab.items() for s in ss]
    for surface, token in sorted(surfaces, key=lambda st: -len(st[0])):
        pattern = rf"(?<![\w-]){re.escape(surface)}(?![\w-])"
        if re.search(pattern, lowered):
            found.add(token)
            lowered = re.sub(pattern, " ", lowered)
    found |= {w for w in re.findall(r"[a-z]+", lowered)}
    return found


def match_intent(text: str, tools: list[str]) -> str | None:
    """The tool whose verb and every object token the sentence mentions (most specific)."""
    said = canonical_tokens(text, participles=True)
    best: tuple[int, int, str] | None = None
    for tool in tools:
        verb, objects = intent_tokens(tool)
        if not objects:  # a one-word tool ("cd", "unlock"): its name said as a verb
            if re.search(rf"(?<!\bi )\b{re.escape(verb)}\b", text.lower()):
                key = (0, 0, tool)
                best = key if best is None or key > best else best
            continue
        if verb not in said:
            continue
        hits = sum(1 for o in objects if o in said)
        # a status word ("pending", "delivered") may go unsaid: "cancel order #W1"
        needed = [o for o in objects if o not in _ADJECTIVES] or objects
        if not all(o in said for o in needed):
            continue
        key = (hits, -len(objects), tool)
        if best is None or key > best:
            best = key
    return best[2] if best else None


_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\bSt\.)(?<!\bMt\.)\s+(?=[A-Z\"#])")


def sentences(text: str) -> list[str]:
    """Split text into sentences (an abbreviation such as "St. Louis" does not end one)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def nouns_named(text: str, nouns: list[str]) -> list[str]:
    """The nouns ``text`` names, longest first, each word used once ("new items" is not
    also "items")."""
    text = text.lower()
    found = []
    for noun_ in sorted(nouns, key=len, reverse=True):
        pattern = rf"\b{re.escape(noun_)}\b"
        if re.search(pattern, text):
            found.append(noun_)
            text = re.sub(pattern, " ", text)
    return found
