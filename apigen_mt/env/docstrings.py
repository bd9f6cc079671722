"""Docstrings in the three common styles, read into a summary and per-argument notes.

- Google: an ``Args:`` (``Arguments:``, ``Parameters:``) section of ``name (type): text``.
- reST / Sphinx: ``:param name: text``, ``:param type name: text``, ``:type name: type``.
- numpy: a ``Parameters`` heading underlined with dashes, then ``name : type`` lines with
  the text indented below.

The summary is the prose before the first section or field. Types written in a docstring
are kept as text; :func:`type_from_text` turns the usual spellings into Python types for
methods that have no annotations.
"""

from __future__ import annotations

import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any

_GOOGLE_ARGS = ("Args:", "Arguments:", "Parameters:", "Params:", "Keyword Args:")
_GOOGLE_ARG = re.compile(r"^\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_REST_FIELD = re.compile(r"^:(param|parameter|arg|argument|type)\s+([^:]+?)\s*:\s*(.*)$")
_REST_ANY = re.compile(r"^:\w+")
_NUMPY_ARG = re.compile(r"^\*{0,2}(\w+)\s*(?::\s*(.*))?$")


@dataclass
class ArgDoc:
    """What a docstring says about one argument."""

    description: str = ""
    type_text: str | None = None


def parse(doc: str | None) -> tuple[str, dict[str, ArgDoc]]:
    """(summary, {argument: ArgDoc}) from a docstring in any of the three styles."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    args: dict[str, ArgDoc] = {}
    i = 0
    section: str | None = None  # "google", "numpy", "rest" or "other" once prose ends
    current: str | None = None
    arg_indent: int | None = None
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        underline = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip() or "x")
        if indent == 0 and underline:  # a numpy heading
            section = "numpy" if stripped in ("Parameters", "Other Parameters") else "other"
            current, i = None, i + 2
            continue
        if indent == 0 and (stripped in _GOOGLE_ARGS or (
                stripped.endswith(":") and " " not in stripped.rstrip(":"))):
            section = "google" if stripped in _GOOGLE_ARGS else "other"
            current, arg_indent, i = None, None, i + 1
            continue
        rest = _REST_FIELD.match(stripped)
        if rest or (indent == 0 and _REST_ANY.match(stripped)):
            section = "rest"
            current = None
            if rest:
                current = _rest_field(rest, args)
            i += 1
            continue
        if section is None:
            if stripped:
                summary.append(stripped)
        elif section == "google" and stripped:
            arg_indent = indent if arg_indent is None else arg_indent
            match = _GOOGLE_ARG.match(stripped)
            if indent == arg_indent and match:
                current = match.group(1)
                args[current] = ArgDoc(match.group(3).strip(), (match.group(2) or None))
            elif current:
                _extend(args[current], stripped)
        elif section == "numpy" and stripped:
            match = _NUMPY_ARG.match(stripped)
            if indent == 0 and match:
                current = match.group(1)
                args[current] = ArgDoc("", (match.group(2) or "").strip() or None)
            elif current:
                _extend(args[current], stripped)
        elif section == "rest" and stripped and current and indent > 0:
            _extend(args[current], stripped)
        i += 1
    return " ".join(summary), args


def _rest_field(match: re.Match, args: dict[str, ArgDoc]) -> str | None:
    field, target, text = match.group(1), match.group(2).split(), match.group(3).strip()
    name = target[-1].lstrip("*")
    entry = args.setdefault(name, ArgDoc())
    if field == "type":
        entry.type_text = text or None
        return None
    entry.description = text
    if len(target) > 1:
        entry.type_text = " ".join(target[:-1])
    return name


def _extend(entry: ArgDoc, text: str) -> None:
    entry.description = f"{entry.description} {text}".strip()


_NAMES: dict[str, Any] = {
    "str": str, "string": str, "text": str, "int": int, "integer": int, "float": float,
    "number": float, "bool": bool, "boolean": bool, "dict": dict, "mapping": dict,
    "object": dict, "list": list, "sequence": list, "array": list, "any": Any,
    "none": type(None),
}


_EVAL_NAMES: dict[str, Any] = {"__builtins__": {},
                               **{n: getattr(typing, n) for n in typing.__all__},
                               "list": list, "dict": dict, "set": set, "tuple": tuple,
                               "str": str, "int": int, "float": float, "bool": bool,
                               "None": None}


def type_from_text(text: str | None) -> Any:
    """``"int"``, ``"list of str"``, ``"str, optional"``, ``"Optional[int]"``,
    ``"dict[str, Any]"`` … as a Python type; None when the text is not understood."""
    if not text:
        return None
    text = re.sub(r",?\s*(optional|default[^,]*)$", "", text.strip(), flags=re.IGNORECASE)
    text = text.strip().strip("`")
    listed = re.fullmatch(r"(?:list|sequence|array)\s+of\s+(\w+)s?", text, re.IGNORECASE)
    if listed:
        inner = type_from_text(listed.group(1))
        return list[inner] if inner is not None else list
    if " or " in text or "|" in text:
        parts = [type_from_text(p) for p in re.split(r"\s+or\s+|\s*\|\s*", text)]
        if all(p is not None for p in parts):
            return typing.Union[tuple(parts)]  # noqa: UP007 (built from parts)
        return None
    simple = _NAMES.get(text.lower())
    if simple is not None:
        return simple
    try:  # a typing expression: Optional[int], Dict[str, Any], List[str] …
        return eval(text, _EVAL_NAMES, {})
    except Exception:
        return None
