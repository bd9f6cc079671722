"""Any Python class as an environment: its public methods are the tools, its attributes
the state.

``load_class_environment("package.module:ClassName", init_path, init_method)`` builds the
object from a JSON file (see :mod:`apigen_mt.env.class_init` for how the JSON is
applied), then snapshots each of its attributes into one record of the table ``state``
(key: the attribute name), all in one reference space (:mod:`apigen_mt.env.snapshot`):
object graphs with cycles, parent links and shared objects keep their identity, and
session state (who is logged in, the current directory) is state like any other, so the
state hash and the diff cover it. Fresh copies, both state hashes and readable diffs
(``state[positions].ACME.quantity: 10 -> 15``) then come from the engine unchanged.

Before each call the object is rebuilt from the current records (its classes restored,
every container new, so nothing the engine holds is ever mutated); after the call every
attribute whose snapshot changed is written back. A call fails, and leaves the state as
it was, when the method raises or returns an error value (a dict with an ``"error"``
entry, or a string starting with ``Error:``).

Tools and their kinds come from :mod:`apigen_mt.env.class_tools`; schemas are derived as
for ``@tool`` functions (``self`` takes the place of the state), from annotations or,
without them, from the docstring's types (Google, reST or numpy style). The class
docstring is the policy. Policy rules come from ``__apigen_rules__`` on the class (a list
of ``PolicyRule``, or ``"module:NAME"`` naming one), else from an installed package's
``apigen_mt.rules`` entry point named ``module:ClassName``, else from ``RULES`` in a
sibling module ``<module>_rules`` or ``rules``. The users drafters sample are the keys of a
``users``-like attribute (``__apigen_users__`` names it), else one pseudo-user; a second
table, ``users``, lists them (it never changes).

Limits: attribute values must be of the kinds the snapshot holds (no functions, files or
locks), and methods should change nothing but the object's graph.
"""

from __future__ import annotations

import copy
import enum
import functools
import importlib
import importlib.util
import inspect
import os
import re
import sys
import types
import typing
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from apigen_mt.env.class_init import build_object
from apigen_mt.env.class_tools import env_tool, probe_kind, public_methods, value_pool
from apigen_mt.env.declarations import Domain, PolicyRule
from apigen_mt.env.environment import Environment
from apigen_mt.env.plain import plain_result, to_plain
from apigen_mt.env.snapshot import ClassEnvError, Codec, attributes_of, canonical_bytes
from apigen_mt.env.state import BaseState, State
from apigen_mt.env.tools import Tool, ToolError, ToolKind, derive_schema

__all__ = ["ClassAdapter", "ClassEnvError", "Codec", "build_object", "env_tool",
           "load_class_environment", "parse_class_spec", "state_object", "to_plain"]

CLASS_PREFIX = "class:"  # ``class:pkg.module:ClassName[@loader]``
STATE_TABLE = "state"
USERS_TABLE = "users"
USERS_ATTR = "__apigen_users__"
RULES_ATTR = "__apigen_rules__"
# an installed package declares rules for its class as an entry point of this group, named
# ``package.module:ClassName`` (or the class name), its value the rules (``pkg.policy:RULES``)
RULES_ENTRY_POINT_GROUP = "apigen_mt.rules"
_USER_NAMES = ("users", "customers", "accounts", "members", "clients", "people", "players",
               "patients", "students", "employees", "drivers", "owners")


def _import_module(module_name: str) -> Any:
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
        return module
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        # like `uvicorn pkg.mod:app`: a module of the current directory is found too
        if os.getcwd() in sys.path or module_name.split(".")[0] in sys.modules:
            raise
        sys.path.append(os.getcwd())
        return importlib.import_module(module_name)


def _import_target(target: str) -> type:
    module_name, sep, qualname = target.rpartition(":")
    if not sep or not module_name or not qualname:
        raise ClassEnvError(f"expected 'package.module:ClassName', got {target!r}")
    cls: Any = _import_module(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise ClassEnvError(f"{module_name} has no {qualname}")
    if not inspect.isclass(cls):
        raise ClassEnvError(f"{target} is not a class")
    return cls


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

    def snapshot(self, obj: Any) -> tuple[dict[str, Any], dict[int, str]]:
        """Each attribute of the object as one record (one reference space), and the
        home pointer of every object in the graph."""
        return self.codec.encode_fields(attributes_of(obj), owner=obj)

    def rebuild(self, state: State) -> Any:
        """A live object from the current records (the constructor is not called)."""
        obj = self.cls.__new__(self.cls)
        records = state[STATE_TABLE]
        for name, value in self.codec.decode_fields(dict(records.items()), owner=obj).items():
            object.__setattr__(obj, name, value)
        return obj

    def call(self, name: str, state: State, arguments: dict[str, Any],
             convert: dict[str, Callable[[Any], Any]] | None = None) -> Any:
        """Run one method on a rebuilt object; write back what changed; JSON-able result.
        ``convert`` turns JSON values into the members of Enum-typed parameters."""
        for key, to_member in (convert or {}).items():
            if arguments.get(key) is not None:
                arguments[key] = to_member(arguments[key])
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
        try:
            after, homes = self.snapshot(obj)
        except ClassEnvError as exc:
            raise ToolError(f"the call left the state unreadable: {exc}") from None
        records = state[STATE_TABLE]
        for attr, value in after.items():
            if attr not in records or canonical_bytes(records[attr]) != canonical_bytes(value):
                records[attr] = value
        for attr in [a for a in records if a not in after]:
            del records[attr]
        if result is None:
            return "OK"
        return result if isinstance(result, str) else plain_result(self.codec, result, homes)

    def tool(self, name: str, func: Callable[..., Any], kind: ToolKind,
             ends_conversation: bool) -> Tool:
        """A Tool whose schema comes from the method (``self`` stands for the state)."""
        try:
            description, parameters, validator = derive_schema(func)
        except (TypeError, NameError) as exc:
            raise ClassEnvError(f"{self.cls.__name__}.{name}: {exc} (hide it with "
                                f"__apigen_tools__ = {{{name!r}: 'hidden'}})") from None

        convert = _enum_converters(func)

        def run(state: State, **arguments: Any) -> Any:
            return self.call(name, state, arguments, convert)

        run.__name__ = name
        return Tool(name=name, func=run, kind=kind, description=description,
                    parameters=parameters, ends_conversation=ends_conversation,
                    _validator=validator)


def _enum_converters(func: Callable[..., Any]) -> dict[str, Callable[[Any], Any]]:
    """Parameters annotated with an Enum (or an Optional/Union of them): value → member."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # names the schema already resolved; nothing to convert then
        return {}
    out = {}
    for name, hint in hints.items():
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union,
                                                                      types.UnionType) else (hint,)
        enums = [o for o in options if isinstance(o, type) and issubclass(o, enum.Enum)]
        if name != "return" and enums:
            out[name] = functools.partial(_to_member, enums)
    return out


def _to_member(enums: list[type[enum.Enum]], value: Any) -> Any:
    for cls in enums:
        try:
            return cls(value)
        except ValueError:
            continue
    return value


def state_object(state: State, cls: type) -> Any:
    """The live object a class environment's state holds (a fresh rebuild): what policy
    rules of class environments inspect, e.g. ``state_object(data.before[i], Desk)``."""
    return ClassAdapter(cls, Codec(cls.__module__)).rebuild(state)


# ----------------------------------------------------------------------- rules


def _rules_from(value: Any, where: str, cls: type) -> list[PolicyRule]:
    if isinstance(value, dict):
        value = value.get(cls.__name__, [])
    if callable(value) and not isinstance(value, PolicyRule):
        value = value()
    rules = list(value or [])
    bad = [r for r in rules if not isinstance(r, PolicyRule)]
    if bad:
        raise ClassEnvError(f"{where} must hold PolicyRule objects, not {type(bad[0]).__name__}")
    return rules


def class_rules(cls: type) -> list[PolicyRule]:
    """The policy rules of a class environment (see the module docstring)."""
    declared = getattr(cls, RULES_ATTR, None)
    if isinstance(declared, str):
        module_name, sep, attr = declared.rpartition(":")
        if not sep:
            raise ClassEnvError(f"{RULES_ATTR} must look like 'module:NAME', not {declared!r}")
        return _rules_from(getattr(_import_module(module_name), attr), declared, cls)
    if declared is not None:
        return _rules_from(declared, f"{cls.__name__}.{RULES_ATTR}", cls)
    target = f"{cls.__module__}:{cls.__qualname__}"
    for entry in metadata.entry_points(group=RULES_ENTRY_POINT_GROUP):
        if entry.name in (target, cls.__qualname__):
            try:
                loaded = entry.load()
            except Exception as exc:  # a broken plugin is named, not a traceback
                raise ClassEnvError(f"the {RULES_ENTRY_POINT_GROUP} entry point {entry.name} "
                                    f"({entry.value}) does not load: {exc}") from None
            return _rules_from(loaded, f"entry point {entry.name}", cls)
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if not file:
        return []
    folder = Path(file).resolve().parent
    from_path = cls.__module__.startswith("apigen_mt_class_env_")
    package = "" if from_path else cls.__module__.rpartition(".")[0]
    for sibling in (f"{Path(file).stem}_rules", "rules"):
        path = folder / f"{sibling}.py"
        if not path.is_file():
            continue
        # a module of the class's package is imported by name, so its own imports work
        found = _import_module(str(path) if from_path or not package else
                               f"{package}.{sibling}")
        if hasattr(found, "RULES"):
            return _rules_from(found.RULES, f"{path.name}: RULES", cls)
    return []


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
        records = dict(state[STATE_TABLE].items())
        user: dict[str, Any] = {"id": user_id}
        if user_attr is not None and user_attr in records:
            found = to_plain(records[user_attr], records).get(user_id)
            if isinstance(found, dict):
                user.update(found)
        out: dict[str, Any] = {"user": user}
        for name in records:
            if not name.startswith("_") and name != "user":
                out[name] = to_plain(records[name], records)
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
    records, _ = adapter.snapshot(build_object(cls, init_path, init_method))
    user_attr = _user_attribute(cls, records)
    if user_attr is not None:
        users = {str(k): {"id": str(k)} for k in to_plain(records[user_attr], records)}
    else:
        users = {_snake(cls.__name__): {"id": _snake(cls.__name__)}}
    tables = {STATE_TABLE: records, USERS_TABLE: users}
    methods = public_methods(cls, init_method)
    tools = [adapter.tool(name, func, settings.get("kind") or "read",
                          bool(settings.get("ends_conversation")))
             for name, func, settings in methods]
    policy = inspect.cleandoc(cls.__doc__ or f"You operate a {cls.__name__}.")
    domain = ClassDomain(
        name=cls.__name__, tools=tools, tables=[STATE_TABLE, USERS_TABLE],
        generate=lambda seed=0, **_: copy.deepcopy(tables), root=Path(inspect.getfile(cls)).parent,
        description=policy.split("\n\n", 1)[0].replace("\n", " "), user_table=USERS_TABLE,
        user_view=_user_view(user_attr), rules=class_rules(cls))
    domain.cls = cls
    template = Environment(domain, BaseState(tables), policy)
    pool = value_pool(records)
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
