"""Reversible JSON-like snapshots of Python object graphs (for class environments).

Plain objects, slotted objects and dataclasses become their attributes plus a
``"__class__"`` tag; tuples, named tuples, sets, enums, dates, Decimals and dicts with
non-string keys are tagged too, so a snapshot turns back into equal objects and the
engine can hash and diff it like any JSON record.

Identity is kept. Every object, dict, list and set is written out in full once, at its
*home*: the first place a depth-first walk meets it (attributes in their definition
order, those holding collections first; dict keys sorted; a collection's members homed
in it before the walk goes deeper), so equal graphs give equal snapshots whatever their
history, and an object lives in the collection that holds it.
Every other place that holds the same object stores ``{"__ref__": "/top/children/docs"}``,
a JSON pointer (RFC 6901) into the snapshot to that home. Cycles, parent links and shared
references therefore come back as the same object, not as copies, and a diff reads like
``state[cwd].__ref__: "/top" -> "/top/children/docs"``.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import inspect
from decimal import Decimal
from typing import Any

import orjson

from apigen_mt.env.declarations import EnvironmentNotFound

REF = "__ref__"
_TAGS = ("__class__", "__tuple__", "__set__", "__frozenset__", "__dict__", "__enum__",
         "__datetime__", "__date__", "__time__", "__decimal__", REF)


class ClassEnvError(EnvironmentNotFound, TypeError):
    """A class, its initial data or its state cannot be used as an environment (a usage
    error: the command exits with code 2)."""


def attributes_of(obj: Any) -> dict[str, Any]:
    """An object's attributes: its ``__dict__`` plus any ``__slots__``."""
    out = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
    for klass in type(obj).__mro__:
        slots = getattr(klass, "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                out.setdefault(slot, getattr(obj, slot))
    return out


def canonical_bytes(value: Any) -> bytes:
    """Key-sorted JSON bytes: equal snapshots give equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def pointer(parent: str, key: Any) -> str:
    """``parent`` extended by one JSON-pointer segment (``~`` and ``/`` escaped)."""
    return f"{parent}/{str(key).replace('~', '~0').replace('/', '~1')}"


def resolve_pointer(doc: Any, where: str) -> Any:
    """The node of ``doc`` a JSON pointer names (KeyError/IndexError when absent)."""
    node = doc
    for raw in where.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, str, int, float))


def _plain_keys(value: dict) -> bool:
    return all(isinstance(k, str) and not (k.startswith("__") and k.endswith("__"))
               for k in value)


def _tracked(value: Any) -> bool:
    """Values with an identity worth keeping: mutable containers and class instances."""
    if isinstance(value, (dict, list, set)):
        return True
    return not _scalar(value) and not isinstance(value, (tuple, frozenset, enum.Enum, Decimal,
                                                         dt.date, dt.time, bytes, complex))


class Codec:
    """Turns object graphs into JSON-like snapshots and back, remembering their classes.

    Classes of ``home`` (the environment class's module) are tagged by their qualified
    name (``Order``), others by ``module:QualName``, so diffs stay short.
    """

    def __init__(self, home: str | None = None) -> None:
        self.home = home
        self.classes: dict[str, type] = {}

    def _tag(self, cls: type) -> str:
        tag = cls.__qualname__ if cls.__module__ == self.home else \
            f"{cls.__module__}:{cls.__qualname__}"
        self.classes[tag] = cls
        return tag

    # encode ------------------------------------------------------------------
    def encode(self, value: Any) -> Any:
        """A snapshot of one value; references inside point into this snapshot."""
        return _Encoder(self, {}).value(value, "")

    def encode_fields(self, fields: dict[str, Any], owner: Any = None
                      ) -> tuple[dict[str, Any], dict[int, str]]:
        """Snapshots of several values sharing one reference space (an object's
        attributes: ``/name`` is attribute ``name``; ``owner`` itself is ``""``).
        Also returns each tracked object's home pointer, by ``id``."""
        homes: dict[int, str] = {} if owner is None else {id(owner): ""}
        return _Encoder(self, homes).fields(fields, ""), homes

    # decode ------------------------------------------------------------------
    def resolve(self, tag: str) -> type:
        """The class behind a tag (remembered, or imported)."""
        cls = self.classes.get(tag)
        if cls is None:
            module, _, qualname = tag.rpartition(":")
            target: Any = importlib.import_module(module or self.home or "builtins")
            for part in qualname.split("."):
                target = getattr(target, part)
            cls = self.classes[tag] = target
        return cls

    def decode(self, value: Any) -> Any:
        """Rebuild live values from a snapshot made by :meth:`encode`; all of them new."""
        return _Decoder(self, value, {}).at(value, "")

    def decode_fields(self, fields: dict[str, Any], owner: Any = None) -> dict[str, Any]:
        """Rebuild what :meth:`encode_fields` wrote; references to ``""`` are ``owner``."""
        decoder = _Decoder(self, fields, {} if owner is None else {"": owner})
        return {name: decoder.at(item, pointer("", name)) for name, item in fields.items()}


class _Encoder:
    """One depth-first walk; ``homes`` maps each tracked object to where it was written."""

    def __init__(self, codec: Codec, homes: dict[int, str]):
        self.codec = codec
        self.homes = homes
        self.alive: list[Any] = []  # ids stay unique while the walk holds the objects

    def value(self, value: Any, where: str) -> Any:
        if _scalar(value):
            return value
        if isinstance(value, enum.Enum):
            return {"__enum__": self.codec._tag(type(value)), "value": self.value(value.value,
                                                                                  where)}
        if isinstance(value, Decimal):
            return {"__decimal__": str(value)}
        if isinstance(value, dt.datetime):
            return {"__datetime__": value.isoformat()}
        if isinstance(value, dt.date):
            return {"__date__": value.isoformat()}
        if isinstance(value, dt.time):
            return {"__time__": value.isoformat()}
        if (callable(value) and not _has_state(value)) or inspect.ismodule(value):
            raise ClassEnvError(f"{where or 'a value'} holds {type(value).__name__}, which is "
                                "not data")
        if _tracked(value):
            home = self.homes.get(id(value))
            if home is not None and home != where:
                return {REF: home}
            self.claim(value, where)
        return self._body(value, where)

    def claim(self, value: Any, where: str) -> None:
        """Make ``where`` the home of ``value`` unless it has one already."""
        if _tracked(value) and id(value) not in self.homes:
            self.homes[id(value)] = where
            self.alive.append(value)

    def fields(self, fields: dict[str, Any], where: str) -> dict[str, Any]:
        """An object's attributes. Those holding containers are walked first, and what a
        container holds is homed there before anything inside it is walked, so an object
        lives in the collection that holds it (``/posts/p4``), not behind a pointer
        attribute (``session``, ``cwd``, ``parent``) or a reply list that also holds it."""
        out: dict[str, Any] = dict.fromkeys(fields)
        held = [n for n, v in fields.items() if isinstance(v, (dict, list, set, frozenset,
                                                                tuple))]
        for name in held:
            self.claim(fields[name], pointer(where, name))
        for name in [*held, *(n for n in fields if n not in held)]:
            out[name] = self.value(fields[name], pointer(where, name))
        return out

    def _body(self, value: Any, where: str) -> Any:
        if isinstance(value, dict):
            keys = sorted(value, key=_key_order)
            if _plain_keys(value):
                for k in keys:
                    self.claim(value[k], pointer(where, k))
                return {k: self.value(value[k], pointer(where, k)) for k in keys}
            body = pointer(where, "__dict__")
            return {"__dict__": [[self.value(k, pointer(pointer(body, i), 0)),
                                  self.value(value[k], pointer(pointer(body, i), 1))]
                                 for i, k in enumerate(keys)]}
        if isinstance(value, list):
            for i, v in enumerate(value):
                self.claim(v, pointer(where, i))
            return [self.value(v, pointer(where, i)) for i, v in enumerate(value)]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            body = pointer(where, "__tuple__")
            return {"__tuple__": [self.value(v, pointer(body, i)) for i, v in enumerate(value)]}
        if isinstance(value, (set, frozenset)):
            tag = "__frozenset__" if isinstance(value, frozenset) else "__set__"
            body = pointer(where, tag)
            return {tag: [self.value(v, pointer(body, i))
                          for i, v in enumerate(self._set_order(value))]}
        cls = type(value)
        if isinstance(value, tuple):  # a named tuple
            fields = dict(zip(value._fields, value, strict=True))
        else:
            fields = attributes_of(value)
            if not fields and not hasattr(value, "__dict__") and \
                    not getattr(cls, "__slots__", None):  # state held in C, out of reach
                raise ClassEnvError(f"{where or 'a value'} is a {cls.__name__} with no "
                                    "attributes to snapshot")
        return {"__class__": self.codec._tag(cls), **self.fields(fields, where)}

    def _set_order(self, items: set | frozenset) -> list[Any]:
        """Set members sorted by their snapshot, so equal sets are written alike."""
        if all(_scalar(v) for v in items):
            return sorted(items, key=lambda v: canonical_bytes(v))
        keyed = []
        for item in items:
            trial = _Encoder(self.codec, dict(self.homes)).value(item, "/?")
            keyed.append((canonical_bytes(trial), item))
        return [item for _, item in sorted(keyed, key=lambda pair: pair[0])]


def _key_order(key: Any) -> tuple[int, str]:
    return (0, key) if isinstance(key, str) else (1, repr(key))


def _has_state(value: Any) -> bool:
    """Instances of classes defining ``__call__`` are still data."""
    return not (inspect.isroutine(value) or inspect.isclass(value)) and hasattr(value,
                                                                                "__dict__")


class _Decoder:
    """Rebuilds a snapshot; each location becomes one live value, so references resolve
    to the very object written at their home (decoded on demand when met first)."""

    def __init__(self, codec: Codec, doc: Any, memo: dict[str, Any]):
        self.codec = codec
        self.doc = doc
        self.memo = memo
        self.building: set[str] = set()

    def at(self, value: Any, where: str) -> Any:
        if where in self.memo:
            return self.memo[where]
        if isinstance(value, list):
            out: list[Any] = []
            self.memo[where] = out
            out.extend(self.at(v, pointer(where, i)) for i, v in enumerate(value))
            return out
        if not isinstance(value, dict):
            return value
        if REF in value and len(value) == 1:
            return self._referenced(value[REF])
        if "__class__" in value:
            return self._object(value, where)
        if len(value) == 1:
            (key, body), = value.items()
            inner = pointer(where, key)
            if key == "__tuple__":
                return tuple(self.at(v, pointer(inner, i)) for i, v in enumerate(body))
            if key == "__set__":
                members: set[Any] = set()
                self.memo[where] = members
                members.update(self.at(v, pointer(inner, i)) for i, v in enumerate(body))
                return members
            if key == "__frozenset__":
                return frozenset(self.at(v, pointer(inner, i)) for i, v in enumerate(body))
            if key == "__dict__":
                mapping: dict[Any, Any] = {}
                self.memo[where] = mapping
                for i, (k, v) in enumerate(body):
                    pair = pointer(inner, i)
                    mapping[self.at(k, pointer(pair, 0))] = self.at(v, pointer(pair, 1))
                return mapping
            scalar = _SCALAR_TAGS.get(key)
            if scalar is not None:
                return scalar(body)
        if "__enum__" in value and set(value) == {"__enum__", "value"}:
            return self.codec.resolve(value["__enum__"])(self.at(value["value"], where))
        mapping = {}
        self.memo[where] = mapping
        for k, v in value.items():
            mapping[k] = self.at(v, pointer(where, k))
        return mapping

    def _referenced(self, home: str) -> Any:
        if home in self.memo:
            return self.memo[home]
        if home in self.building:
            raise ClassEnvError(f"cannot rebuild the cycle through {home}: it passes through a "
                                "tuple or a named tuple (use a list or an object)")
        try:
            node = resolve_pointer(self.doc, home)
        except (KeyError, IndexError, ValueError, TypeError):
            raise ClassEnvError(f"dangling reference to {home} in the state") from None
        self.building.add(home)
        try:
            return self.at(node, home)
        finally:
            self.building.discard(home)

    def _object(self, value: dict[str, Any], where: str) -> Any:
        cls = self.codec.resolve(value["__class__"])
        if issubclass(cls, tuple):
            return cls(**{k: self.at(v, pointer(where, k)) for k, v in value.items()
                          if k != "__class__"})
        obj = cls.__new__(cls)
        self.memo[where] = obj
        for name, item in value.items():
            if name != "__class__":
                object.__setattr__(obj, name, self.at(item, pointer(where, name)))
        return obj


_SCALAR_TAGS = {"__decimal__": Decimal, "__datetime__": dt.datetime.fromisoformat,
                "__date__": dt.date.fromisoformat, "__time__": dt.time.fromisoformat}
