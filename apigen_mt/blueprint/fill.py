"""Fill a walk's arguments from a user's data and earlier observations, with no domain code.

The filler keeps a pool of values seen so far, indexed by the key they appeared under
(``order_id`` → ``#W…``). Each argument is drawn from the pool entry of the same name
(``item_ids`` draws from ``item_id``; ``new_item_ids`` too), from the schema's enum, or
from a small default. It runs on a scratch environment: reads that fail are dropped,
and a fill counts only when every write succeeds.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.env.environment import Environment
from apigen_mt.records import Action

_IDENTITY_KEYS = {"email", "phone", "first_name", "last_name", "name", "dob", "birthday"}
_PREFIXES = ("new_", "from_", "to_", "original_", "old_", "current_")


def _stems(name: str) -> list[str]:
    out = [name]
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            out.append(name[len(prefix):])
    more = []
    for n in out:
        if n.endswith("_ids") or (n.endswith("s") and not n.endswith("ss")):
            more.append(n[:-1])
    return out + more


@dataclass
class ValuePool:
    """Scalar values seen in data and observations, by the key they were found under."""

    values: dict[str, list[Any]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    offered: int = 0  # records from this index on are offers (catalogue, search results)
    offers_pool: ValuePool | None = field(default=None, repr=False)  # those records alone
    _scopes: dict[int, tuple[frozenset, ValuePool]] = field(default_factory=dict, repr=False)

    def copy(self) -> ValuePool:
        """An independent pool with the same values and records."""
        return ValuePool({k: list(v) for k, v in self.values.items()}, list(self.records))

    def scope(self, index: int) -> tuple[frozenset, ValuePool]:
        """The scalars (and keys) in record ``index``, and a pool of that record alone."""
        if index not in self._scopes:
            record = self.records[index]
            sub = ValuePool()
            sub._absorb(record, None, keep=False)
            flat = frozenset(v for vs in sub.values.values() for v in vs
                             if isinstance(v, (str, int)))
            self._scopes[index] = (flat | frozenset(_keys(record)), sub)
        return self._scopes[index]

    def add(self, key: str, value: Any) -> None:
        """Remember one value (deduplicated, insertion-ordered for determinism)."""
        bucket = self.values.setdefault(key, [])
        if value not in bucket:
            bucket.append(value)

    def absorb(self, data: Any, parent_key: str | None = None) -> None:
        """Walk JSON data; dict keys that look like ids count as values of ``<parent>_id``."""
        self._absorb(data, parent_key, keep=True)

    def _absorb(self, data: Any, parent_key: str | None, keep: bool) -> None:
        if isinstance(data, dict):
            if keep:
                self.records.append(data)
            for key, value in data.items():
                if isinstance(value, (dict, list)):
                    if isinstance(value, dict) and parent_key and not _is_field_name(key):
                        self.add(_singular(parent_key) + "_id", key)
                    self._absorb(value, key, keep)
                else:
                    self.add(key, value)
        elif isinstance(data, list):
            for item in data:
                if isinstance(item, (dict, list)):
                    self._absorb(item, parent_key, keep)
                elif parent_key:
                    self.add(_singular(parent_key), item)
                    if parent_key.endswith("s"):
                        self.add(parent_key[:-1] + "_id", item)

    def absorb_observation(self, tool_name: str, observation: str) -> None:
        """Add what a successful call returned (JSON, or a bare id string)."""
        try:
            self.absorb(json.loads(observation))
        except (json.JSONDecodeError, TypeError):
            text = observation.strip()
            if text and " " not in text and len(text) < 80:
                for stem in _output_names(tool_name):
                    self.add(stem, text)

    def candidates(self, name: str) -> list[Any]:
        """Values usable for an argument called ``name``."""
        for stem in _stems(name):
            if self.values.get(stem):
                return self.values[stem]
        return []


def _keys(data: Any) -> list[str]:
    """Every dict key in nested JSON (ids are often keys: ``variants: {item_id: …}``)."""
    out: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            out.append(key)
            out.extend(_keys(value))
    elif isinstance(data, list):
        for value in data:
            out.extend(_keys(value))
    return out


def scoped_candidates(pool: ValuePool, name: str, chosen: dict[str, Any]) -> list[Any]:
    """Values for ``name`` from a record that holds what was already chosen for this call.

    ``item_ids`` after ``order_id`` come from that order; ``new_item_ids`` from a record
    holding the chosen ``item_ids`` but not the order (the product's variants).
    """
    if not chosen:
        return []
    scalars = [v for value in chosen.values()
               for v in (value if isinstance(value, list) else [value])
               if isinstance(v, (str, int)) and not isinstance(v, bool)]
    sibling = name[4:] if name.startswith("new_") else None
    anchors = (chosen[sibling] if isinstance(chosen.get(sibling), list)
               else [chosen[sibling]]) if sibling in chosen else scalars[-1:]
    others = {v for v in scalars if v not in anchors}
    ranked = []
    for i in range(len(pool.records)):
        flat, sub = pool.scope(i)
        if not any(a in flat for a in anchors):
            continue
        if sibling is not None and others & flat:
            continue  # the record the old value came from (the order), not its alternatives
        values = [v for v in sub.candidates(name) if v not in anchors]
        if values:
            ranked.append((len(flat), i, values))
    if not ranked:
        return []
    return min(ranked)[2]


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _is_field_name(key: str) -> bool:
    return key.replace("_", "").isalpha() and key.islower()


def _output_names(tool_name: str) -> list[str]:
    """``find_user_id_by_email`` returns a ``user_id``."""
    parts = tool_name.split("_")
    names = []
    for i in range(len(parts) - 1):
        if parts[i + 1] == "id":
            names.append(f"{parts[i]}_id")
    return names or ["result"]


def propose_value(schema: dict[str, Any], name: str, pool: ValuePool,
                  rng: random.Random, scoped: list[Any] | None = None) -> tuple[bool, Any]:
    """Draw a value for one argument; (False, None) when nothing plausible exists."""
    if "enum" in schema:
        return True, rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        if items.get("type") == "object":
            ok, obj = propose_value(items, _singular(name), pool, rng)
            return ok, [obj] if ok else None
        values = [v for v in (scoped or pool.candidates(name))
                  if not isinstance(v, (dict, list))]
        if not values:
            return False, None
        k = 1 if len(values) == 1 or rng.random() < 0.7 else 2
        return True, rng.sample(values, k=min(k, len(values)))
    if kind == "object":
        obj = {}
        for prop, sub in schema.get("properties", {}).items():
            if prop not in schema.get("required", []) and rng.random() < 0.5:
                continue
            ok, value = propose_value(sub, prop, pool, rng)
            if not ok:
                return False, None
            obj[prop] = value
        return True, obj
    values = scoped or pool.candidates(name)
    typed = [v for v in values if _fits(kind, v)]
    if typed:
        return True, rng.choice(typed)
    if kind == "integer":
        return True, rng.randint(0, 3)
    if kind == "number":
        return True, rng.choice([0, 50, 100])
    if kind == "boolean":
        return True, rng.random() < 0.5
    return False, None


def _fits(kind: str | None, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return value is not None


def propose_arguments(tool_schema: dict[str, Any], pool: ValuePool,
                      rng: random.Random) -> dict[str, Any] | None:
    """Arguments for one call, or None when a required one has no plausible value."""
    params = tool_schema["parameters"]
    required = set(params.get("required", []))
    args = {}
    for name, schema in params.get("properties", {}).items():
        if name not in required and rng.random() < 0.7:
            continue
        scoped = scoped_candidates(pool, name, args) if rng.random() < 0.85 else None
        ok, value = propose_value(schema, name, pool, rng, scoped)
        if not ok:
            if name in required:
                return None
            continue
        args[name] = value
    return args


def enrich(env: Environment, pool: ValuePool, budget: int = 12) -> None:
    """Run single-argument read tools on ids already in the pool to learn more values."""
    calls = 0
    for tool in env.domain.tools:
        required = tool.parameters.get("required", [])
        if tool.kind != "read" or len(required) != 1 or tool.ends_conversation:
            continue
        for value in list(pool.candidates(required[0]))[:6]:
            if calls >= budget:
                return
            if not isinstance(value, str):
                continue
            obs = env.execute(tool.name, {required[0]: value})
            calls += 1
            if not obs.startswith("Error:"):
                pool.absorb_observation(tool.name, obs)


@dataclass
class Fill:
    """A successful fill: the actions and the scratch environment after them."""

    actions: list[Action]
    env: Environment
    pool: ValuePool


def fill_walk(env: Environment, walk: list[str], view: dict[str, Any], rng: random.Random,
              attempts: int = 24, avoid: set[tuple[str, str]] | None = None,
              extra_views: list[dict[str, Any]] | None = None,
              tries_per_step: int = 4) -> Fill | None:
    """Turn a walk into executable actions on a scratch copy.

    Each step gets a few argument proposals; a step none of whose proposals succeeds is
    dropped. A fill counts when at least one write succeeded and the data changed.
    ``extra_views`` (other records) only widen the choice of values, e.g. a new address.
    """
    avoid = avoid or set()
    schemas = {t.name: t.schema["function"] for t in env.domain.tools}
    seed_pool = ValuePool()
    seed_pool.absorb(view)
    enrich(env.fresh(), seed_pool)
    for other in extra_views or []:
        extra = ValuePool()
        extra.absorb(other)
        for key, values in extra.values.items():
            # another user's ids and identity stay theirs: only their other values (an
            # address, say) widen the choice
            if not (key == "id" or key.endswith("_id") or key in _IDENTITY_KEYS):
                for value in values:
                    seed_pool.add(key, value)
    for _ in range(attempts):
        scratch = env.fresh()
        pool = seed_pool.copy()
        actions: list[Action] = []
        for name in walk:
            if name not in schemas:
                continue
            for _try in range(tries_per_step):
                args = propose_arguments(schemas[name], pool, rng)
                if args is None:
                    break
                if _avoided(name, args, avoid):
                    continue
                obs = scratch.execute(name, args)
                if not obs.startswith("Error:"):
                    actions.append(Action(name=name, arguments=args))
                    pool.absorb_observation(name, obs)
                    break
        wrote = any(env.tools[a.name].kind == "write" for a in actions)
        # a write that leaves the data as it was (same address, same item) proves nothing
        if wrote and scratch.state.changes() and scratch.diff():
            return Fill(actions, scratch, pool)
    return None


def _avoided(name: str, args: dict[str, Any], avoid: set[tuple[str, str]]) -> bool:
    """Feedback may name (tool, value) pairs to stay away from."""
    text = json.dumps(args)
    return any(tool == name and value in text for tool, value in avoid)
