"""How the offline ``sim`` drafts a blueprint: from its request alone.

It reads what a real drafter reads — the tool schemas in the system prompt and the
context block (the customer's records, catalogue or flight excerpts, the suggested tools
with the records they apply to, the policy) — and fills each suggested call with values
found there. It never loads an environment, runs a tool or calls the project's checks,
so its drafts carry the mistakes of a careless reader: an unavailable item, a payment
that does not add up, a baggage count the policy prices differently. The checks catch
those; the feedback names them, and a redraft fixes what the advice says (a value to
avoid, or the right number when the advice quotes it).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from apigen_mt.env.freetext import is_free_text
from apigen_mt.env.values import ValuePool, propose_value, scoped_candidates
from apigen_mt.records import Action
from apigen_mt.sim.phrasebook import PHRASES

_ID = re.compile(r"(^|_)ids?$")
_SHOWS = re.compile(r"(get|show|list|read|view|describe|check)_")


def parse_tools(system: str) -> dict[str, dict[str, Any]]:
    """Tool schemas listed one JSON object a line after ``Tools:`` in the system prompt."""
    tools = {}
    for line in system.split("Tools:", 1)[-1].splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                schema = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(schema, dict) and "name" in schema:
                tools[schema["name"]] = schema
    return tools


EXCERPTS = ("catalogue", "flights")  # what is on offer, beside the customer's own records


def build_pool(ctx: dict[str, Any]) -> ValuePool:
    """Every value the context shows, by the key it appears under."""
    pool = ValuePool(domain=str(ctx.get("policy") or "")[:400])
    if ctx.get("user_records"):
        pool.absorb(ctx["user_records"])
        user = ctx["user_records"].get("user") if isinstance(ctx["user_records"], dict) \
            else None
        if isinstance(user, dict):  # the customer's own login, handle, PIN
            pool.preferred = ValuePool()
            pool.preferred.absorb(user)
    pool.offered = len(pool.records)  # records from here on are offers (search results)
    for key in EXCERPTS:
        if ctx.get(key):
            pool.absorb(ctx[key], key)
    if ctx.get("user_id"):
        pool.add("user_id", ctx["user_id"])
    return pool


def offers(pool: ValuePool) -> ValuePool:
    """A pool of the offered records alone (catalogue entries, search results): where a
    replacement comes from, rather than another item of the same order."""
    if pool.offers_pool is None:
        pool.offers_pool = ValuePool(records=pool.records[pool.offered:])
    return pool.offers_pool


def _record_objects(pool: ValuePool, props: list[str]) -> list[dict[str, Any]]:
    """Records that hold every one of ``props``: offers first (a booking takes its flights
    from the search results, not from trips already taken), else the customer's own."""
    out = [r for r in pool.records
           if all(p in r and not isinstance(r[p], (dict, list)) for p in props)]
    start = pool.offered
    offers = [r for r in out if any(r is x for x in pool.records[start:])]
    return offers or out


def _project(record: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in schema.get("properties", {}) if k in record}


def _similar(element: dict[str, Any], options: list[dict[str, Any]],
             keys: list[str]) -> list[dict[str, Any]]:
    """Options unlike ``element`` on ``keys`` but sharing most of its other values."""
    scored = []
    for option in options:
        if all(option.get(k) == element.get(k) for k in keys):
            continue
        shared = sum(1 for k, v in element.items() if k not in keys and option.get(k) == v)
        if shared:
            scored.append((shared, option))
    best = max((s for s, _ in scored), default=0)
    return [o for s, o in scored if s == best]


def _object_list(name: str, schema: dict[str, Any], pool: ValuePool, args: dict[str, Any],
                 rng: random.Random) -> list[dict[str, Any]] | None:
    """An array of objects: the target record's own list with one element changed when
    there is one (an entire new itinerary, say), else objects taken from whole records."""
    item = schema.get("items", {})
    props = list(item.get("required") or item.get("properties", {}))
    options = _record_objects(pool, props)
    anchors = {v for v in args.values() if isinstance(v, str)}
    for record in pool.records:
        current = record.get(name)
        if anchors & _scalars(record) and isinstance(current, list) and current \
                and all(isinstance(e, dict) for e in current):
            new = [_project(e, item) for e in current]
            i = rng.randrange(len(new))
            swaps = _similar(current[i], options, props)
            if swaps:
                new[i] = _project(rng.choice(swaps), item)
            return new
    if not options:
        return None
    k = 1 if rng.random() < 0.7 or len(options) < 2 else 2
    return [_project(o, item) for o in rng.sample(options, k=k)]


def _scalars(record: dict[str, Any]) -> set[Any]:
    return {v for v in record.values() if isinstance(v, (str, int, float))}


def _bump_digits(value: str, rng: random.Random) -> str:
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if not digits:
        return value
    i = rng.choice(digits)
    return value[:i] + str((int(value[i]) + rng.randint(1, 8)) % 10) + value[i + 1:]


def fill_call(schema: dict[str, Any], pool: ValuePool, targets: dict[str, list[Any]],
              used: set[Any], rng: random.Random, write: bool,
              known: dict[str, Any], careless: float = 0.15) -> dict[str, Any] | None:
    """Arguments for one call from the context, or None when a required one has no value.

    ``targets`` restrict arguments to the records the call applies to (preferring those
    no earlier write used); ``known`` are values the calls around it settled (a read
    before a write looks up the record the write changes). At rate ``careless`` a new
    value is picked without reading whether it is offered (available).
    """
    params = schema.get("parameters", {})
    required = set(params.get("required", []))
    args: dict[str, Any] = {}
    for name, sub in params.get("properties", {}).items():
        if name not in required and rng.random() < 0.7:
            continue
        if name in known and not write:
            args[name] = known[name]
            continue
        if sub.get("type") == "array" and sub.get("items", {}).get("type") == "object":
            value = _object_list(name, sub, pool, args, rng)
            if value is None:
                if name in required:
                    return None
                continue
            args[name] = value
            continue
        scoped = scoped_candidates(pool, name, args) if args else []
        allowed = targets.get(name)
        if allowed:
            base = [v for v in scoped if v in allowed] or list(allowed)
            scoped = [v for v in base if v not in used] or base
            if ("enum" in sub or (sub.get("type") == "string" and is_free_text(name))) \
                    and not name.startswith("new_"):
                # the record named (a folder, a file, a gear): not one made up instead
                args[name] = rng.choice(scoped)
                continue
        if name.startswith("new_") and scoped and rng.random() > careless:
            scoped = _offered(pool, scoped) or scoped
        if name.startswith("new_") and isinstance(args.get(name[4:]), list) and scoped:
            # one new value per old one, each from the old one's own record (a variant of
            # that item's product)
            values = []
            for old in args[name[4:]]:
                chosen = {**args, name[4:]: [old]}
                own = scoped_candidates(offers(pool), name, chosen) or \
                    scoped_candidates(pool, name, chosen)
                if not own:  # the context does not show this item's alternatives
                    if rng.random() > careless:
                        return None
                    own = scoped
                if rng.random() > careless:
                    own = _offered(pool, own) or own
                values.append(rng.choice(own))
            args[name] = values
            continue
        ok, value = propose_value(sub, name, pool, rng, scoped or None, tool=schema)
        if not ok:
            if name in required:
                return None
            continue
        if write and isinstance(value, str) and not _ID.search(name) and not allowed \
                and "enum" not in sub and not value.isdigit() and rng.random() < 0.6:
            value = _bump_digits(value, rng)  # a new street number, a new apartment …
        if write and isinstance(value, int) and not isinstance(value, bool) and \
                "enum" not in sub and value in (pool.values.get(name) or []):
            value += rng.randint(1, 2)  # a changed count (one more bag …)
        args[name] = value
    if write:
        _moved(args, rng)
    _agree(args, schema)
    return args


_PLACES = PHRASES["places"]


def _moved(args: dict[str, Any], rng: random.Random) -> None:
    """A new address written whole, as a person who moves has one: a street in a real town
    whose state and zip are its own (filling street, city, state and zip one by one from
    the context would put Spokane in Maryland)."""
    if not {"address1", "city", "state", "zip"} <= set(args):
        return
    city, state, zip_code = rng.choice(_PLACES["towns"])
    args["address1"] = f"{rng.randint(10, 9999)} {rng.choice(_PLACES['streets'])}"
    args["city"], args["state"], args["zip"] = city, state, zip_code
    if "address2" in args:
        args["address2"] = (f"{rng.choice(_PLACES['units'])} {rng.randint(1, 999)}"
                            if rng.random() < 0.5 else "")


def _offered(pool: ValuePool, values: list[Any]) -> list[Any]:
    """Values whose own record does not say it is unavailable (``"available": false``)."""
    out = []
    for value in values:
        records = [r for r in pool.records if value in _scalars(r)]
        if not any(r.get("available") is False for r in records):
            out.append(value)
    return out


def _agree(args: dict[str, Any], schema: dict[str, Any]) -> None:
    """Scalars that an object argument also states take its value (a booking's origin is
    its first flight's)."""
    for value in args.values():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            first = value[0]
            for key in list(args):
                if key in first and not isinstance(args[key], (dict, list)):
                    args[key] = first[key]


def walk_steps(walk: list[dict[str, Any]], tools: dict[str, dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """The suggested steps the tool list offers, in order."""
    return [s for s in walk if s.get("name") in tools]


def fill_walk(walk: list[dict[str, Any]], tools: dict[str, dict[str, Any]],
              pool: ValuePool, rng: random.Random,
              avoid: set[tuple[str, str]],
              keep: dict[int, dict[str, Any] | None] | None = None,
              redo: dict[int, dict[str, Any]] | None = None) -> list[Action] | None:
    """The suggested walk as actions; writes first (they set what reads look up).

    ``keep`` are writes (by step) taken as they are from an earlier draft (None: a step it
    left out), ``redo`` the earlier arguments of writes to draft again, which the new ones
    must differ from."""
    steps = walk_steps(walk, tools)
    keep, redo = keep or {}, redo or {}
    known: dict[str, Any] = {}
    # a write drafted again does not take a record a kept one, later in the walk, names
    used: set[Any] = {v for args in keep.values() if args for v in args.values()
                      if isinstance(v, str)}
    writes: dict[int, dict[str, Any]] = {}
    for i, step in enumerate(steps):
        if not step.get("changes_records"):
            continue
        if i in keep:
            if keep[i] is None:
                continue
            writes[i] = keep[i]
        else:
            for _try in range(4):
                args = fill_call(tools[step["name"]], pool, step.get("applies_to") or {},
                                 used, rng, True, {})
                if args is not None and not _avoided(step["name"], args, avoid) \
                        and args != redo.get(i):
                    writes[i] = args
                    break
            else:
                continue
        for value in writes[i].values():
            if isinstance(value, str):
                used.add(value)
    if not writes:
        return None
    actions = []
    # what the context shows exists: a write's value among these names a record a read
    # before it can look up; any other is new (the address moved to), not there yet
    shown = {v for record in pool.records for v in _scalars(record) if isinstance(v, str)}
    for i, step in enumerate(steps):
        if i in writes:
            known.update({k: v for k, v in writes[i].items() if isinstance(v, str)})
            actions.append(Action(name=step["name"], arguments=writes[i]))
            continue
        if step.get("changes_records"):
            continue
        ahead = next((writes[j] for j in sorted(writes) if j > i), {})
        ahead = {k: v for k, v in ahead.items() if not isinstance(v, str) or v in shown}
        settled = {k: v for k, v in {**known, **ahead}.items() if isinstance(v, str)}
        for item in ahead.get("item_ids") or []:
            settled.setdefault("item_id", item)
        product = _product_of(pool, settled.get("item_id"))
        if product:
            settled.setdefault("product_id", product)
        # a read the walk names its records for reads one of those, never a value a write
        # set that the walk says it does not apply to (no cat of a folder just made)
        named = {k: list(v) for k, v in (step.get("applies_to") or {}).items()
                 if not (k in settled and settled[k] in v)}
        settled = {k: v for k, v in settled.items() if k not in named}
        args = fill_call(tools[step["name"]], pool, named, used, rng, False, settled)
        if args is not None:
            actions.append(Action(name=step["name"], arguments=args))
    return actions


def _product_of(pool: ValuePool, item_id: Any) -> Any:
    if not isinstance(item_id, str):
        return None
    for record in pool.records:
        if record.get("item_id") == item_id and "product_id" in record:
            return record["product_id"]
    return None


def _avoided(name: str, args: dict[str, Any], avoid: set[tuple[str, str]]) -> bool:
    text = json.dumps(args)
    return any(tool == name and value in text for tool, value in avoid)


_NUMBER = r"(-?\d+(?:\.\d+)?)"
_CORRECTIONS = [re.compile(_NUMBER + r"\D{0,40}?\bnot " + _NUMBER),      # "1 should be …, not 0"
                re.compile(r"\bis " + _NUMBER + r", but \w+ " + _NUMBER)]  # "is 120, but paid 90"


def corrections(feedback: str) -> list[tuple[str, float, float]]:
    """(line, right, wrong) for the numbers the advice corrects, line by line."""
    found = []
    for line in feedback.splitlines():
        for pattern in _CORRECTIONS:
            for right, wrong in pattern.findall(line):
                if right != wrong:
                    found.append((line, float(right), float(wrong)))
    return found


def _replace_number(value: Any, wrong: float, right: float) -> tuple[Any, bool]:
    if isinstance(value, bool):
        return value, False
    if isinstance(value, (int, float)) and float(value) == wrong:
        return (int(right) if right.is_integer() else right), True
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            out[k], hit = _replace_number(v, wrong, right)
            changed |= hit
        return out, changed
    if isinstance(value, list):
        pairs = [_replace_number(v, wrong, right) for v in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


def corrected(previous: dict[str, Any], feedback: str) -> list[Action] | None:
    """The previous draft's actions with the numbers the advice corrects, if it does."""
    fixes = corrections(feedback)
    if not fixes or not isinstance(previous.get("actions"), list):
        return None
    actions, changed = [], False
    for raw in previous["actions"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("arguments"), dict):
            return None
        args = raw["arguments"]
        for line, right, wrong in fixes:
            if raw.get("name") in line or not any(
                    isinstance(a, dict) and str(a.get("name")) in line
                    for a in previous["actions"]):
                args, hit = _replace_number(args, wrong, right)
                changed |= hit
        actions.append(Action(name=str(raw.get("name")), arguments=args))
    return actions if changed else None


_FAILED_AT = re.compile(r"\baction (\d+):? \(?(\w+)")


def repair_plan(previous: dict[str, Any], feedback: str, walk: list[dict[str, Any]],
                tools: dict[str, dict[str, Any]]
                ) -> tuple[dict[int, dict[str, Any] | None], dict[int, dict[str, Any]]] | None:
    """Which of the previous draft's writes to keep and which to draft again, by step of
    the walk, when the advice names the failing writes by position ("action 2
    (update_reservation_flights) failed: …"): a careful author changes what failed and
    keeps the rest. None when the advice names no write of the draft, or every one."""
    raw = previous.get("actions")
    if not isinstance(raw, list) or not all(
            isinstance(a, dict) and isinstance(a.get("arguments"), dict) for a in raw):
        return None
    failing = {int(i) for line in feedback.splitlines() for i, name in _FAILED_AT.findall(line)
               if int(i) < len(raw) and raw[int(i)].get("name") == name}
    steps = walk_steps(walk, tools)
    keep: dict[int, dict[str, Any] | None] = {}
    redo: dict[int, dict[str, Any]] = {}
    at = 0  # the previous draft's writes in the walk's order, each to its step
    for i, step in enumerate(steps):
        if not step.get("changes_records"):
            continue
        found = next((j for j in range(at, len(raw)) if raw[j].get("name") == step["name"]),
                     None)
        if found is None:  # a step the draft left out stays out
            keep[i] = None
            continue
        at = found + 1
        (redo if found in failing else keep)[i] = json.loads(json.dumps(raw[found]["arguments"]))
    return (keep, redo) if redo and any(v is not None for v in keep.values()) else None


def fact_to_ask(actions: list[Action], tools: dict[str, dict[str, Any]], pool: ValuePool,
                write_names: set[str],
                rng: random.Random) -> tuple[Action, str, Any] | None:
    """A fact of a record the task reads, to ask about at the end: a read that takes one
    id of that record, the field and its value as the context shows it (a careless
    drafter may pick one the changes will alter; reviewers see the records after)."""
    # a read that shows a record, by its name ("get_order_details"; not a lookup that only
    # finds an id, nor a write the walk did not suggest), taking one argument
    reads = {n: s for n, s in tools.items() if n not in write_names
             and _SHOWS.match(n) and len(s.get("parameters", {}).get("required", [])) == 1}
    options = []
    for action in actions:
        for name, schema in sorted(reads.items()):
            param = schema["parameters"]["required"][0]
            value = action.arguments.get(param)
            if isinstance(value, str):
                options.append((Action(name=name, arguments={param: value}), value))
    rng.shuffle(options)
    for read, anchor in options[:4]:
        param = next(iter(read.arguments))
        for record in pool.records:
            # the record the read shows: its own id is the argument, and it is not a part of
            # another record (an order's item has an item_id beside its product_id: a read
            # by product shows every variant, each with its own price)
            ids = [k for k in record if k.endswith("_id") and (k == param or k != "user_id")]
            if ids != [param] or record[param] != anchor:
                continue
            fields = [(k, v) for k, v in record.items()  # never "the email of email X"
                      if not (k == "id" or _ID.search(k) or k == "status" or v == anchor)
                      and ((isinstance(v, str) and 0 < len(v) < 40 and ";" not in v)
                           or (isinstance(v, (int, float)) and not isinstance(v, bool)))]
            if fields:
                key, value = rng.choice(fields)
                return read, key, value
    return None
