"""Reversible JSON-like snapshots of Python object trees (for class environments).

Plain objects and dataclasses become their attributes plus a ``"__class__"`` tag; tuples,
sets, enums, dates, Decimals and dicts with non-string keys are tagged too, so a
snapshot can be turned back into equal objects and hashed or diffed by the engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib
import inspect
import json
from decimal import Decimal
from typing import Any

import orjson


class ClassEnvError(TypeError):
    """A class, its initial data or its state cannot be used as an environment."""


_TAGS = ("__class__", "__tuple__", "__set__", "__frozenset__", "__dict__", "__enum__",
         "__datetime__", "__date__", "__time__", "__decimal__")


def attributes_of(obj: Any) -> dict[str, Any]:
    """An object's attributes: its ``__dict__`` plus any ``__slots__``."""
    out = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                out.setdefault(slot, getattr(obj, slot))
    return out


def canonical_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class Codec:
    """Turns object graphs into JSON-like records and back, remembering their classes.

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
    def encode(self, value: Any, path: str = "", _seen: frozenset[int] = frozenset()) -> Any:
        """A JSON-like snapshot of ``value``; raises ClassEnvError for what it cannot hold."""
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, enum.Enum):
            return {"__enum__": self._tag(type(value)), "value": self.encode(value.value, path)}
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, Decimal):
            return {"__decimal__": str(value)}
        if isinstance(value, dt.datetime):
            return {"__datetime__": value.isoformat()}
        if isinstance(value, dt.date):
            return {"__date__": value.isoformat()}
        if isinstance(value, dt.time):
            return {"__time__": value.isoformat()}
        if id(value) in _seen:
            raise ClassEnvError(f"cycle in the state at {path or 'the top'}: keep ids instead "
                                "of back-references")
        seen = _seen | {id(value)}
        if isinstance(value, dict):
            plain_keys = all(isinstance(k, str) and not (k.startswith("__") and k.endswith("__"))
                             for k in value)
            if plain_keys:
                return {k: self.encode(v, f"{path}.{k}", seen) for k, v in value.items()}
            return {"__dict__": [[self.encode(k, path, seen),
                                  self.encode(v, f"{path}[{k!r}]", seen)]
                                 for k, v in value.items()]}
        if isinstance(value, list):
            return [self.encode(v, f"{path}[{i}]", seen) for i, v in enumerate(value)]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return {"__tuple__": [self.encode(v, f"{path}[{i}]", seen)
                                  for i, v in enumerate(value)]}
        if isinstance(value, (set, frozenset)):
            items = sorted((self.encode(v, path, seen) for v in value), key=canonical_bytes)
            return {"__frozenset__" if isinstance(value, frozenset) else "__set__": items}
        if callable(value) or inspect.ismodule(value):
            raise ClassEnvError(f"{path or 'a value'} holds {type(value).__name__}, which is "
                                "not data")
        cls = type(value)
        if isinstance(value, tuple):  # a named tuple
            fields = dict(zip(value._fields, value, strict=True))
        else:
            fields = attributes_of(value)
            if not fields and not dataclasses.is_dataclass(value):
                raise ClassEnvError(f"{path or 'a value'} is a {cls.__name__} with no attributes "
                                    "to snapshot")
        out: dict[str, Any] = {"__class__": self._tag(cls)}
        for name, item in fields.items():
            out[name] = self.encode(item, f"{path}.{name}", seen)
        return out

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
        """Rebuild live values from a snapshot; every container is new."""
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__class__" in value:
            cls = self.resolve(value["__class__"])
            fields = {k: self.decode(v) for k, v in value.items() if k != "__class__"}
            if issubclass(cls, tuple):
                return cls(**fields)
            obj = cls.__new__(cls)
            for name, item in fields.items():
                object.__setattr__(obj, name, item)
            return obj
        if len(value) == 1:
            (key, body), = value.items()
            if key == "__tuple__":
                return tuple(self.decode(v) for v in body)
            if key == "__set__":
                return {self.decode(v) for v in body}
            if key == "__frozenset__":
                return frozenset(self.decode(v) for v in body)
            if key == "__dict__":
                return {self.decode(k): self.decode(v) for k, v in body}
            if key == "__decimal__":
                return Decimal(body)
            if key == "__datetime__":
                return dt.datetime.fromisoformat(body)
            if key == "__date__":
                return dt.date.fromisoformat(body)
            if key == "__time__":
                return dt.time.fromisoformat(body)
        if "__enum__" in value and set(value) == {"__enum__", "value"}:
            return self.resolve(value["__enum__"])(self.decode(value["value"]))
        return {k: self.decode(v) for k, v in value.items()}


def to_plain(value: Any) -> Any:
    """A snapshot without its tags, as tools' observations and drafters' views show it."""
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, body), = value.items()
        if key in ("__tuple__", "__set__", "__frozenset__"):
            return [to_plain(v) for v in body]
        if key == "__dict__":
            return {k if isinstance(k, str) else json.dumps(to_plain(k)): to_plain(v)
                    for k, v in body}
        if key == "__class__":  # an object without attributes
            return {}
        if key in _TAGS:
            return body
    if "__enum__" in value:
        return to_plain(value["value"])
    return {k: to_plain(v) for k, v in value.items() if k != "__class__"}


# --------------------------------------------------------------------- loading
