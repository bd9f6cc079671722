"""Which methods of a class environment are tools, and whether each reads or writes.

Every public method (not starting with ``_``) defined on the class or its bases is a tool,
except the initial-state loader and what ``__apigen_tools__`` or :func:`env_tool` hides.
Its kind is found by trying it on scratch copies with values seen in the initial state:
a call that changed the snapshot makes it a write, calls that succeeded without a change
a read, and a method that never succeeded is classed by its name (``get_…``, ``list_…``
… read). The class can state kinds itself, per method.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from apigen_mt.env.environment import Environment, is_error
from apigen_mt.env.plain import to_plain
from apigen_mt.env.snapshot import ClassEnvError
from apigen_mt.env.tools import Tool, ToolKind

TOOLS_ATTR = "__apigen_tools__"
_MARK = "__apigen_tool__"
_READ_WORDS = {"get", "list", "find", "search", "read", "show", "view", "lookup", "count",
               "describe", "is", "has", "check", "quote", "preview", "calculate", "fetch",
               "query", "whoami", "pwd", "ls", "status", "stat", "cat", "print"}


def env_tool(kind: ToolKind | None = None, *, ends_conversation: bool = False,
             hidden: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method's tool kind (skipping inference), end-of-conversation, or hide it."""

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, _MARK, {"kind": kind, "ends_conversation": ends_conversation,
                              "hidden": hidden})
        return func

    return mark


def public_methods(cls: type, init_method: str | None
                   ) -> list[tuple[str, Callable[..., Any], dict]]:
    """(name, function, settings) of every public instance method, in definition order."""
    overrides = getattr(cls, TOOLS_ATTR, {}) or {}
    out = []
    seen: set[str] = set()
    for klass in reversed([k for k in cls.__mro__ if k is not object]):
        for name, raw in vars(klass).items():
            if name.startswith("_") or name == init_method or name in seen:
                continue
            if not inspect.isfunction(raw):  # class/static methods, properties, data
                continue
            seen.add(name)
            settings = dict(getattr(raw, _MARK, {}))
            override = overrides.get(name)
            if isinstance(override, str):
                override = {"hidden": True} if override == "hidden" else {"kind": override}
            settings.update(override or {})
            if settings.get("kind") not in (None, "read", "write"):
                raise ClassEnvError(f"{cls.__name__}.{name}: kind must be read, write or hidden")
            if not settings.get("hidden"):
                out.append((name, getattr(cls, name), settings))
    # a subclass's override keeps the position of the first definition, with its body
    return [(n, getattr(cls, n), s) for n, _, s in out]


def _looks_like_read(name: str) -> bool:
    return name.split("_", 1)[0] in _READ_WORDS


# ------------------------------------------------------------------- the probe


def value_pool(records: dict[str, Any]) -> dict[str, list[Any]]:
    """Scalars found in the initial state, by the key they sit under; keys of id-keyed
    collections also count as ``<singular>_id`` values."""
    pool: dict[str, list[Any]] = {}

    def add(key: str, value: Any) -> None:
        bucket = pool.setdefault(key, [])
        if value not in bucket and len(bucket) < 8:
            bucket.append(value)

    def walk(data: Any, key: str) -> None:
        if isinstance(data, dict):
            singular = key[:-1] if key.endswith("s") else key
            for k, v in data.items():
                if isinstance(v, (dict, list)):
                    if not re.fullmatch(r"[a-z_]+", k):
                        add(f"{singular}_id", k)
                        add(singular, k)
                    walk(v, k)
                else:
                    add(k, v)
        elif isinstance(data, list):
            for item in data:
                if isinstance(item, (dict, list)):
                    walk(item, key)
                else:
                    add(key[:-1] if key.endswith("s") else key, item)

    walk({k: to_plain(v, records) for k, v in records.items()}, "")
    return pool


def _candidates(name: str, schema: dict[str, Any], pool: dict[str, list[Any]]) -> list[Any]:
    if "enum" in schema:
        return list(schema["enum"])
    kind = schema.get("type")
    stems = [name, re.sub(r"^(new|from|to|old|target|source)_", "", name)]
    stems += [s[:-1] for s in stems if s.endswith("s")]
    stems += [s[:-3] for s in stems if s.endswith("_id")]
    values = [v for s in stems for v in pool.get(s, [])]
    if kind == "array":
        inner = _candidates(name[:-1] if name.endswith("s") else name, schema.get("items", {}),
                            pool)
        return [[v] for v in inner]
    typed = {"string": str, "integer": int, "number": (int, float), "boolean": bool}.get(kind)
    out = [v for v in values if typed is None or (isinstance(v, typed)
                                                  and not (kind != "boolean"
                                                           and isinstance(v, bool)))]
    if kind == "integer":
        out += [1, 2]
    elif kind == "number":
        out += [1, 10.5]
    elif kind == "boolean":
        out += [True, False]
    if "default" in schema:
        out.append(schema["default"])
    return out


def probe_kind(template: Environment, tool: Tool, pool: dict[str, list[Any]],
               tries: int = 8) -> ToolKind:
    """Read or write, from what calls on scratch copies do to the state."""
    params = tool.parameters
    required = params.get("required", [])
    options = {p: _candidates(p, params["properties"][p], pool) for p in required}
    succeeded = False
    if all(options.values()):
        for i in range(tries):
            args = {p: values[i % len(values)] for p, values in options.items()}
            scratch = template.fresh()
            if not is_error(scratch.execute(tool.name, args)):
                if scratch.state.changes():
                    return "write"
                succeeded = True
            if not required:
                break
    return "read" if succeeded or _looks_like_read(tool.name) else "write"
