"""Any Python class as an environment: its public methods are the tools, its attributes
the state.

``load_class_environment("package.module:ClassName", init_path, init_method)`` builds the
object (from a JSON file, through the constructor's keyword arguments or a named loader
method), then snapshots each of its attributes into one record of the table ``state``
(key: the attribute name). Snapshots are JSON-like and reversible: plain objects and
dataclasses become their attributes plus a ``"__class__"`` tag (the class name for
classes of the environment's own module, ``module:QualName`` for others), and tuples,
sets, enums, dates and dicts with non-string keys are tagged too. Fresh copies, both
state hashes and readable diffs (``state[positions].ACME.quantity: 10 -> 15``) then come
from the engine unchanged.

Before each call the object is rebuilt from the current records (its classes restored,
every container new, so nothing the engine holds is ever mutated); after the call every
attribute whose snapshot changed is written back. A call fails, and leaves the state as
it was, when the method raises or returns an error value (a dict with an ``"error"``
entry, or a string starting with ``Error:``).

Each public method (not starting with ``_``) with type hints and a Google-style
docstring is a tool; its schema is derived as for ``@tool`` functions (``self`` takes
the place of the state parameter). Whether it reads or writes is decided by trying it
on scratch copies with values found in the initial state: a call that changed the
snapshot makes it a write, calls that succeeded without a change a read, and a method
that never succeeded is classed by its name (``get_…``, ``list_…`` … read). Both
can be overridden, per method, with the class attribute
``__apigen_tools__ = {"method": "read" | "write" | "hidden"}`` or the decorator
:func:`env_tool`. The class docstring is the policy. The users drafters sample are the
keys of a ``users``-like attribute (``__apigen_users__`` names it), else one
pseudo-user; a second table, ``users``, lists them (it never changes).

Limits: the object graph must be a tree (a cycle is reported at load time; an object
referenced twice comes back as two copies), attribute values must be of the kinds
above, and methods should change nothing but the object's attributes.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apigen_mt.env.domain import CLASS_PREFIX, Domain
from apigen_mt.env.environment import Environment, is_error
from apigen_mt.env.snapshot import ClassEnvError, Codec, attributes_of, canonical_bytes, to_plain
from apigen_mt.env.state import BaseState, State
from apigen_mt.env.tools import Tool, ToolError, ToolKind, derive_schema

STATE_TABLE = "state"
USERS_TABLE = "users"
TOOLS_ATTR = "__apigen_tools__"
USERS_ATTR = "__apigen_users__"
_MARK = "__apigen_tool__"
_USER_NAMES = ("users", "customers", "accounts", "members", "clients", "people", "players",
               "patients", "students", "employees")
_READ_WORDS = {"get", "list", "find", "search", "read", "show", "view", "lookup", "count",
               "describe", "is", "has", "check", "quote", "preview", "calculate", "fetch",
               "query"}


def env_tool(kind: ToolKind | None = None, *, ends_conversation: bool = False,
             hidden: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method's tool kind (skipping inference), end-of-conversation, or hide it."""

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, _MARK, {"kind": kind, "ends_conversation": ends_conversation,
                              "hidden": hidden})
        return func

    return mark


# ------------------------------------------------------------------- snapshots




def _import_target(target: str) -> type:
    module_name, sep, qualname = target.rpartition(":")
    if not sep or not module_name or not qualname:
        raise ClassEnvError(f"expected 'package.module:ClassName', got {target!r}")
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name).expanduser().resolve()
        name = f"apigen_mt_class_env_{abs(hash(str(path)))}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ClassEnvError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            # like `uvicorn pkg.mod:app`: a module of the current directory is found too
            if os.getcwd() in sys.path or module_name.split(".")[0] in sys.modules:
                raise
            sys.path.append(os.getcwd())
            module = importlib.import_module(module_name)
    cls: Any = module
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise ClassEnvError(f"{module_name} has no {qualname}")
    if not inspect.isclass(cls):
        raise ClassEnvError(f"{target} is not a class")
    return cls


def _call_with(func: Callable[..., Any], data: Any) -> Any:
    """Call a constructor or loader with JSON data: an object as keyword arguments when
    its keys are parameter names, otherwise as one positional argument."""
    params = inspect.signature(func).parameters
    if data is None:
        needed = [n for n, p in params.items() if p.default is inspect.Parameter.empty
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if needed:
            raise ClassEnvError(f"{getattr(func, '__qualname__', func)} needs initial data "
                                f"({', '.join(needed)}): give the JSON file (--data-dir)")
        return func()
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if isinstance(data, dict) and (takes_kwargs or set(data) <= set(params)):
        return func(**data)
    return func(data)


def build_object(cls: type, init_path: str | Path | None = None,
                 init_method: str | None = None) -> Any:
    """The initial object: JSON from ``init_path`` into the constructor, or into the
    loader ``init_method`` (an instance method of a default-constructed object, or a
    class/static method returning the instance)."""
    data = None
    if init_path:
        path = Path(init_path)
        if not path.is_file():
            raise FileNotFoundError(f"initial state file not found: {path}")
        from apigen_mt.fileio import read_json

        data = read_json(path, "initial state file (--env-config)")
    if not init_method:
        return _call_with(cls, data)
    raw = inspect.getattr_static(cls, init_method, None)
    if raw is None:
        raise ClassEnvError(f"{cls.__name__} has no method {init_method!r}")
    if isinstance(raw, (classmethod, staticmethod)):
        obj = _call_with(getattr(cls, init_method), data)
        if not isinstance(obj, cls):
            raise ClassEnvError(f"{cls.__name__}.{init_method} must return a {cls.__name__}")
        return obj
    obj = cls()
    _call_with(getattr(obj, init_method), data)
    return obj


# ----------------------------------------------------------------------- tools


def error_of(result: Any) -> str | None:
    """The failure a returned value reports (``{"error": …}``, ``"Error: …"``), if any."""
    if isinstance(result, dict) and result.get("error"):
        return str(result["error"])
    if isinstance(result, str) and re.match(r"\s*error\s*:", result, re.IGNORECASE):
        return result.split(":", 1)[1].strip()
    return None


class ClassAdapter:
    """The bridge between one class and the engine's State."""

    def __init__(self, cls: type, codec: Codec):
        self.cls = cls
        self.codec = codec

    def snapshot(self, obj: Any) -> dict[str, Any]:
        """Each attribute of the object as one record."""
        return {name: self.codec.encode(value, name) for name, value in attributes_of(obj).items()}

    def rebuild(self, state: State) -> Any:
        """A live object from the current records (the constructor is not called)."""
        obj = self.cls.__new__(self.cls)
        records = state[STATE_TABLE]
        for name in records:
            object.__setattr__(obj, name, self.codec.decode(records[name]))
        return obj

    def call(self, name: str, state: State, arguments: dict[str, Any]) -> Any:
        """Run one method on a rebuilt object; write back what changed; JSON-able result."""
        obj = self.rebuild(state)
        try:
            result = getattr(obj, name)(**arguments)
        except ToolError:
            raise
        except Exception as exc:  # any exception fails the call (the engine rolls back)
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc
        failure = error_of(result)
        if failure is not None:
            raise ToolError(failure)
        records = state[STATE_TABLE]
        after = self.snapshot(obj)
        for attr, value in after.items():
            if attr not in records or canonical_bytes(records[attr]) != canonical_bytes(value):
                records[attr] = value
        for attr in [a for a in records if a not in after]:
            del records[attr]
        if result is None:
            return "OK"
        return result if isinstance(result, str) else to_plain(self.codec.encode(result))

    def tool(self, name: str, func: Callable[..., Any], kind: ToolKind,
             ends_conversation: bool) -> Tool:
        """A Tool whose schema comes from the method (``self`` stands for the state)."""
        try:
            description, parameters, validator = derive_schema(func)
        except TypeError as exc:
            raise ClassEnvError(f"{self.cls.__name__}.{name}: {exc} (hide it with "
                                f"{TOOLS_ATTR} = {{{name!r}: 'hidden'}})") from None

        def run(state: State, **arguments: Any) -> Any:
            return self.call(name, state, arguments)

        run.__name__ = name
        return Tool(name=name, func=run, kind=kind, description=description,
                    parameters=parameters, ends_conversation=ends_conversation,
                    _validator=validator)


def _methods(cls: type, init_method: str | None) -> list[tuple[str, Callable[..., Any], dict]]:
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


def _value_pool(records: dict[str, Any]) -> dict[str, list[Any]]:
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

    walk({k: to_plain(v) for k, v in records.items()}, "")
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


# ------------------------------------------------------------------- the domain


class ClassDomain(Domain):
    """A domain built from a class: no examples or policy file on disk."""

    def examples(self) -> list[dict[str, Any]]:
        """Examples come from ``__apigen_examples__`` on the class, if any."""
        return copy.deepcopy(getattr(self.cls, "__apigen_examples__", []))

    cls: type = object


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _user_attribute(cls: type, records: dict[str, Any]) -> str | None:
    named = getattr(cls, USERS_ATTR, "")
    if named != "":
        if named is not None and named not in records:
            raise ClassEnvError(f"{USERS_ATTR} names {named!r}, which is not an attribute")
        return named
    for name in _USER_NAMES:
        value = records.get(name)
        if isinstance(value, dict) and value and all(
                isinstance(v, dict) for v in value.values()) and "__dict__" not in value:
            return name
    return None


def _user_view(user_attr: str | None) -> Callable[[State, str], dict[str, Any]]:
    def view(state: State, user_id: str) -> dict[str, Any]:
        records = state[STATE_TABLE]
        user: dict[str, Any] = {"id": user_id}
        if user_attr is not None and user_attr in records:
            found = to_plain(records[user_attr]).get(user_id)
            if isinstance(found, dict):
                user.update(found)
        out: dict[str, Any] = {"user": user}
        for name in records:
            if not name.startswith("_") and name != "user":
                out[name] = to_plain(records[name])
        return out

    return view


def load_class_environment(target: str, init_path: str | Path | None = None,
                           init_method: str | None = None) -> Environment:
    """A fresh environment over ``package.module:ClassName`` (or ``path/file.py:Class``)."""
    return _template(target, str(init_path) if init_path else None, init_method).fresh()


@functools.lru_cache(maxsize=32)
def _template(target: str, init_path: str | None, init_method: str | None) -> Environment:
    cls = _import_target(target)
    codec = Codec(cls.__module__)
    adapter = ClassAdapter(cls, codec)
    records = adapter.snapshot(build_object(cls, init_path, init_method))
    user_attr = _user_attribute(cls, records)
    if user_attr is not None:
        users = {str(k): {"id": str(k)} for k in to_plain(records[user_attr])}
    else:
        users = {_snake(cls.__name__): {"id": _snake(cls.__name__)}}
    tables = {STATE_TABLE: records, USERS_TABLE: users}
    methods = _methods(cls, init_method)
    tools = [adapter.tool(name, func, settings.get("kind") or "read",
                          bool(settings.get("ends_conversation")))
             for name, func, settings in methods]
    policy = inspect.cleandoc(cls.__doc__ or f"You operate a {cls.__name__}.")
    domain = ClassDomain(
        name=cls.__name__, tools=tools, tables=[STATE_TABLE, USERS_TABLE],
        generate=lambda seed=0, **_: copy.deepcopy(tables), root=Path(inspect.getfile(cls)).parent,
        description=policy.split("\n\n", 1)[0].replace("\n", " "), user_table=USERS_TABLE,
        user_view=_user_view(user_attr))
    domain.cls = cls
    template = Environment(domain, BaseState(tables), policy)
    pool = _value_pool(records)
    for tool, (_, _, settings) in zip(tools, methods, strict=True):
        if settings.get("kind") is None:
            tool.kind = probe_kind(template, tool, pool)
    return template


def parse_class_spec(spec: str) -> tuple[str, str | None]:
    """``class:pkg.mod:Cls@loader`` → (``pkg.mod:Cls``, ``loader``)."""
    body = spec[len(CLASS_PREFIX):] if spec.startswith(CLASS_PREFIX) else spec
    target, sep, method = body.rpartition("@")
    if not sep:
        return body, None
    if not method.isidentifier():
        raise ClassEnvError(f"bad loader method name in {spec!r}")
    return target, method


def load_class_spec(spec: str, data_dir: str | Path | None = None) -> Environment:
    """The environment of a ``class:`` spec; ``data_dir`` is the initial-state JSON file."""
    target, method = parse_class_spec(spec)
    return load_class_environment(target, data_dir, method)
