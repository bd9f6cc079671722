"""How a class environment's initial state is built from its JSON file (``--env-config``).

Three ways, named by ``--env-init`` or chosen from the JSON when only one fits:

- ``constructor``: a JSON object's keys are the constructor's keyword arguments
  (``Shop(**data)``); any other JSON value is its one positional argument.
- ``attributes``: the class is built with no arguments, then each key of the JSON
  object is set as an attribute (converted to the attribute's annotated type when the
  class declares one: lists become sets, strings enums, objects dataclasses …).
- any other name: a loader method. An instance method is called on a default-built
  object with the data (as keywords when they fit, else as one argument); a class or
  static method must return the instance.

Without ``--env-init``: the constructor when the keys fit its parameters, attributes when
the class builds with no arguments and every key is one of its attributes. When both a
single-argument constructor and the attributes fit, or neither does, the error names the
class and what did not match.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apigen_mt.env.snapshot import ClassEnvError, attributes_of
from apigen_mt.fileio import read_json

CONSTRUCTOR = "constructor"
ATTRIBUTES = "attributes"
INIT_MODES = (CONSTRUCTOR, ATTRIBUTES)


def _signature(func: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return {}


def _required(params: dict[str, inspect.Parameter]) -> list[str]:
    return [n for n, p in params.items() if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _keywords_fit(params: dict[str, inspect.Parameter], data: dict) -> bool:
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n for n, p in params.items() if p.kind is not p.VAR_POSITIONAL
             and p.kind is not p.POSITIONAL_ONLY}
    return (takes_kwargs or set(data) <= named) and set(_required(params)) <= set(data)


def _one_argument_fits(params: dict[str, inspect.Parameter]) -> bool:
    positional = [p for p in params.values() if p.kind in (p.POSITIONAL_ONLY,
                                                           p.POSITIONAL_OR_KEYWORD)]
    return bool(positional) and len(_required(params)) <= 1


def _call(func: Callable[..., Any], data: Any, who: str) -> Any:
    """Call with JSON data: keywords when they fit, else one positional argument."""
    params = _signature(func)
    if data is None:
        needed = _required(params)
        if needed:
            raise ClassEnvError(f"{who} needs initial data ({', '.join(needed)}): give the "
                                "JSON file (--env-config)")
        return func()
    if isinstance(data, dict) and _keywords_fit(params, data):
        return _guarded(func, who, "keyword arguments", **data)
    if _one_argument_fits(params) and not (isinstance(data, dict) and set(data) & set(params)):
        return _guarded(func, who, "its one argument", data)
    raise ClassEnvError(f"{who} takes ({', '.join(params)}); the JSON "
                        + (f"keys ({', '.join(sorted(data))}) do not fit"
                           if isinstance(data, dict) else "is not an object of keyword "
                           "arguments"))


def _guarded(func: Callable[..., Any], who: str, how: str, *args: Any, **kwargs: Any) -> Any:
    """Call the class's own code; its failure names the class and how the JSON was given."""
    try:
        return func(*args, **kwargs)
    except ClassEnvError:
        raise
    except Exception as exc:
        raise ClassEnvError(f"{who} failed on the JSON given as {how}: "
                            f"{type(exc).__name__}: {exc}") from exc


def known_attributes(cls: type) -> dict[str, Any]:
    """Attribute names a class declares (annotations, dataclass fields, slots), with the
    annotated type where there is one."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        try:
            hints = typing.get_type_hints(klass)
        except Exception:  # unresolvable annotations: the names still count
            hints = dict(getattr(klass, "__annotations__", {}))
        for name, hint in hints.items():
            if typing.get_origin(hint) is not typing.ClassVar:
                out[name] = hint
        slots = getattr(klass, "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            out.setdefault(slot, None)
    return out


def _convert(value: Any, hint: Any, current: Any) -> Any:
    """JSON to the attribute's type: its annotation through pydantic, else like the
    default it replaces (a list for a set stays a set)."""
    if hint is not None:
        try:
            from pydantic import TypeAdapter

            return TypeAdapter(hint).validate_python(value)
        except Exception:  # not a type pydantic builds: keep the JSON value
            pass
    if isinstance(current, (set, frozenset, tuple)) and isinstance(value, list):
        return type(current)(value)
    return value


def _set_attributes(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ClassEnvError(f"{cls.__name__}: setting attributes needs a JSON object, got "
                            f"{type(data).__name__}")
    try:
        obj = cls()
    except TypeError as exc:
        raise ClassEnvError(f"{cls.__name__} cannot be built with no arguments to set its "
                            f"attributes ({exc}); use --env-init {CONSTRUCTOR}") from None
    declared = known_attributes(cls)
    present = attributes_of(obj)
    unknown = sorted(k for k in data if k not in present and k not in declared)
    if unknown:
        raise ClassEnvError(f"{cls.__name__} has no attribute {', '.join(unknown)} (its "
                            f"attributes: {', '.join(sorted({*present, *declared})) or 'none'})")
    for key, value in data.items():
        setattr(obj, key, _convert(value, declared.get(key), present.get(key)))
    return obj


def _attributes_fit(cls: type, data: Any) -> bool:
    if not isinstance(data, dict) or _required(_signature(cls)):
        return False
    try:
        present = attributes_of(cls())
    except Exception:
        return False
    return set(data) <= {*present, *known_attributes(cls)}


def _automatic(cls: type, data: Any) -> Any:
    params = _signature(cls)
    name = cls.__name__
    if data is None or (isinstance(data, dict) and _keywords_fit(params, data)):
        return _call(cls, data, name)
    attributes = _attributes_fit(cls, data)
    positional = _one_argument_fits(params)
    if attributes and positional:
        raise ClassEnvError(f"{name}: the JSON could be its constructor's one argument or its "
                            f"attributes; choose with --env-init {CONSTRUCTOR} or "
                            f"--env-init {ATTRIBUTES}")
    if attributes:
        return _set_attributes(cls, data)
    if positional and not (isinstance(data, dict) and set(data) & set(params)):
        return _call(cls, data, name)
    keys = f"keys ({', '.join(sorted(data))})" if isinstance(data, dict) else \
        f"{type(data).__name__}"
    attrs = sorted({*attributes_of(cls()), *known_attributes(cls)}) if not _required(params) \
        else []
    mismatch = ""
    if isinstance(data, dict) and params:
        unknown = sorted(set(data) - set(params))
        missing = [p for p in _required(params) if p not in data]
        mismatch = "; ".join(part for part in (
            f"unknown keys {', '.join(unknown)}" if unknown else "",
            f"missing {', '.join(missing)}" if missing else "") if part)
    raise ClassEnvError(f"{name}: the JSON {keys} match neither {name}.__init__'s parameters "
                        f"({', '.join(params) or 'none'}{': ' + mismatch if mismatch else ''}) "
                        f"nor its attributes ({', '.join(attrs) or 'none'}); name a loader "
                        "method with --env-init METHOD")


def read_initial_data(init_path: str | Path | None) -> Any:
    """The JSON of the initial-state file, or None without one."""
    if not init_path:
        return None
    path = Path(init_path)
    if not path.is_file():
        raise FileNotFoundError(f"initial state file not found: {path}")
    return read_json(path, "initial state file (--env-config)", ClassEnvError)


def build_object(cls: type, init_path: str | Path | None = None,
                 init_method: str | None = None) -> Any:
    """The initial object from the JSON file, by ``init_method`` (``constructor``,
    ``attributes`` or a loader method's name) or, without one, by the way that fits."""
    data = read_initial_data(init_path)
    if init_method is None:
        return _automatic(cls, data)
    if init_method == CONSTRUCTOR:
        return _call(cls, data, cls.__name__)
    if init_method == ATTRIBUTES:
        return _set_attributes(cls, {} if data is None else data)
    raw = inspect.getattr_static(cls, init_method, None)
    if raw is None:
        raise ClassEnvError(f"{cls.__name__} has no method {init_method!r} (--env-init takes "
                            f"{CONSTRUCTOR}, {ATTRIBUTES} or a loader method's name)")
    who = f"{cls.__name__}.{init_method}"
    if isinstance(raw, (classmethod, staticmethod)):
        obj = _call(getattr(cls, init_method), data, who)
        if not isinstance(obj, cls):
            raise ClassEnvError(f"{who} must return a {cls.__name__}")
        return obj
    obj = cls()
    _call(getattr(obj, init_method), data, who)
    return obj
