"""Candidate argument values drawn from records, with no domain code and no environment.

A :class:`ValuePool` holds the scalar values seen in a user's records (and in observations),
indexed by the key they appeared under (``order_id`` → ``#W…``). Each argument is proposed
from the pool entry of the same name (``item_ids`` draws from ``item_id``; ``new_item_ids``
too), from the schema's enum, or from a small default; free text no record holds comes
from :mod:`apigen_mt.env.freetext`. Shared by the walk filler (which runs the proposals on a
scratch environment) and the offline sim drafter (which reads the records from its prompt).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.env import freetext

IDENTITY_KEYS = {"email", "phone", "first_name", "last_name", "name", "dob", "birthday"}
_PREFIXES = ("new_", "from_", "to_", "original_", "old_", "current_")


def strings_in(value: Any) -> list[str]:
    """Every string in a JSON value, nested ones too (a payment's method id in a list)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


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
    # per record (by identity; the record is kept to pin its id): shared by copies
    _scopes: dict[int, tuple[dict, frozenset, ValuePool]] = field(default_factory=dict,
                                                                  repr=False)
    # the user's own record: their login, their handle, their PIN
    preferred: ValuePool | None = None
    domain: str = ""  # what the environment is about, for the theme of invented text
    offered: int = 0  # records from this index on are offers (catalogue, search results)
    offers_pool: ValuePool | None = field(default=None, repr=False)  # those records alone
    # flat records whose fields belong together (an address: street, city, state, zip)
    groups: list[dict[str, Any]] = field(default_factory=list)

    def copy(self) -> ValuePool:
        """An independent pool with the same values and records."""
        return ValuePool({k: list(v) for k, v in self.values.items()}, list(self.records),
                         self._scopes, preferred=self.preferred, domain=self.domain,
                         groups=list(self.groups))

    def absorb_groups(self, data: Any) -> None:
        """Remember every flat record of three or more plain fields (no ids) as a whole."""
        if isinstance(data, dict):
            plain = {k: v for k, v in data.items() if isinstance(v, (str, int, float))}
            if len(plain) == len(data) >= 3 and not any(
                    k == "id" or k.endswith("_id") or k in IDENTITY_KEYS for k in data) \
                    and data not in self.groups:
                self.groups.append(dict(data))
            for value in data.values():
                self.absorb_groups(value)
        elif isinstance(data, list):
            for value in data:
                self.absorb_groups(value)

    def scope(self, index: int) -> tuple[frozenset, ValuePool]:
        """The scalars (and keys) in record ``index``, and a pool of that record alone."""
        record = self.records[index]
        cached = self._scopes.get(id(record))
        if cached is None or cached[0] is not record:
            sub = ValuePool()
            sub._absorb(record, None, keep=False)
            flat = frozenset(v for vs in sub.values.values() for v in vs
                             if isinstance(v, (str, int)))
            cached = self._scopes[id(record)] = (record, flat | frozenset(_keys(record)), sub)
        return cached[1], cached[2]

    def add(self, key: str, value: Any) -> None:
        """Remember one value (deduplicated, insertion-ordered for determinism)."""
        bucket = self.values.setdefault(key, [])
        if value not in bucket:
            bucket.append(value)

    def absorb(self, data: Any, parent_key: str | None = None) -> None:
        """Walk JSON data; dict keys that look like ids count as values of ``<parent>_id``;
        named records nested in records of the same kind (a folder tree) give ``path``s."""
        self._absorb(data, parent_key, keep=True)
        for path in _tree_paths(data):
            self.add("path", path)

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


def _tree_paths(data: Any) -> list[str]:
    """``/home/ana`` for a record named ``ana`` held, under the same key (``children``),
    by a record named ``home``, itself held by a named record: paths of a tree."""
    out: list[str] = []

    def walk(node: Any, names: list[str], via: list[str], key: str | None) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, names, via, key)
            return
        if not isinstance(node, dict):
            return
        name = node.get("name")
        if isinstance(name, str) and "/" not in name.strip("/"):
            names, via = [*names, name.strip("/")], [*via, key or ""]
            if len(names) >= 2 and len(set(via[1:])) == 1:
                out.append("/" + "/".join(n for n in names if n))
        for k, value in node.items():
            if isinstance(value, (dict, list)):
                walk(value, names, via, k)

    walk(data, [], [], None)
    return list(dict.fromkeys(out))


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


# calls that write something new: their text is invented (a reused title is a duplicate)
_CREATE_VERBS = {"create", "add", "new", "make", "mkdir", "register", "post", "publish", "write",
                 "start", "compose", "send", "submit", "upload", "file", "draft", "reply",
                 "comment", "append", "resolve"}
_CONTENT = {"title", "text", "resolution", "tags"}


def _invented(name: str, schema: dict[str, Any], tool: dict[str, Any] | None, pool: ValuePool,
              rng: random.Random, have_values: bool) -> str | None:
    """A free-text value for a string argument: always when the data has none, and
    mostly for content (titles, messages) or what a creating call names anew."""
    if tool is None:
        return None
    tool_name, tool_description = tool.get("name", ""), tool.get("description", "") or ""
    description = schema.get("description", "") or ""
    kind = freetext.text_kind(name, description, tool_name)
    if kind is None or not freetext.is_free_text(name):
        return None
    if have_values:  # the data has values: invent what a call writes anew, not a place
        verb = tool_name.split("_", 1)[0]
        if not (kind in _CONTENT or name.startswith("new_") or verb in _CREATE_VERBS):
            return None
        if verb not in _CREATE_VERBS and rng.random() < 0.2:
            return None
    known = [v for vs in pool.values.values() for v in vs if isinstance(v, str)][:200]
    return freetext.propose_text(name, description, tool_name, tool_description, rng, known,
                                 domain=pool.domain)


def _preferred(pool: ValuePool, name: str, kind: str | None) -> list[Any]:
    """The user's own credentials (their login, their PIN), for an argument that takes one."""
    # acting with someone else's login would be impersonation: the user's own, always
    if pool.preferred is not None and freetext.is_credential(name):
        return [v for v in pool.preferred.candidates(name) if _fits(kind, v)]
    return []


def propose_value(schema: dict[str, Any], name: str, pool: ValuePool,
                  rng: random.Random, scoped: list[Any] | None = None,
                  tool: dict[str, Any] | None = None) -> tuple[bool, Any]:
    """Draw a value for one argument; (False, None) when nothing plausible exists.
    ``tool`` (the tool's schema: name, description) lets free text be invented."""
    if "enum" in schema:
        return True, rng.choice(schema["enum"])
    if "anyOf" in schema and "type" not in schema:  # Optional[...] / Union: the first kind
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        if options:
            return propose_value({**options[0], **{k: v for k, v in schema.items()
                                                   if k != "anyOf"}},
                                 name, pool, rng, scoped, tool)
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        if items.get("type") == "object":
            ok, obj = propose_value(items, _singular(name), pool, rng, tool=tool)
            return ok, [obj] if ok else None
        values = [v for v in (scoped or pool.candidates(name))
                  if not isinstance(v, (dict, list))]
        tags = freetext.text_kind(name, schema.get("description", "") or "", "") == "tags"
        if tags and (not values or rng.random() < 0.5):
            return True, freetext.propose_tags(name, rng)
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
    if not scoped:
        own = _preferred(pool, name, kind)
        if own:
            return True, rng.choice(own)
    values = scoped or pool.candidates(name)
    typed = [v for v in values if _fits(kind, v)]
    if kind in ("string", None):
        text = _invented(name, schema, tool, pool, rng, bool(typed))
        if text is not None:
            return True, text
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
        ok, value = propose_value(schema, name, pool, rng, scoped, tool=tool_schema)
        if not ok:
            if name in required:
                return None
            continue
        args[name] = value
    # fields that belong together come from one record, so a city matches its state and zip
    fitting = [g for g in pool.groups if len(set(g) & set(args)) >= 3
               and set(g) <= set(params.get("properties", {}))]
    if fitting:  # the record that shares most of the drawn values (no extra draw: the
        # sequence of random choices stays as it was)
        group = max(fitting, key=lambda g: sum(args.get(k) == v for k, v in g.items()))
        args.update({k: group[k] for k in group if k in args or k in required})
    return args
