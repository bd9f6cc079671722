"""Plain JSON views of snapshots: what tool observations and drafters show of a state.

A snapshot (see :mod:`apigen_mt.env.snapshot`) carries tags that only the codec needs.
The plain view drops them, and shows a reference (a parent link, a current-directory
pointer) as a short summary of the object it points to (its scalar fields), so a value
that sits in a graph of back-links never renders the whole graph.
"""

from __future__ import annotations

import json
from typing import Any

from apigen_mt.env.snapshot import REF, Codec, _Encoder, _tracked, resolve_pointer

_SCALAR_TAGS = ("__decimal__", "__datetime__", "__date__", "__time__")


def to_plain(value: Any, doc: Any = None) -> Any:
    """A snapshot without its tags; references resolve against ``doc`` (the whole
    snapshot) into summaries, or read as ``(see /path)`` without it."""
    if isinstance(value, list):
        return [to_plain(v, doc) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, body), = value.items()
        if key == REF:
            return _summary(body, doc)
        if key in ("__tuple__", "__set__", "__frozenset__"):
            return [to_plain(v, doc) for v in body]
        if key == "__dict__":
            return {k if isinstance(k, str) else json.dumps(to_plain(k, doc)): to_plain(v, doc)
                    for k, v in body}
        if key == "__class__":  # an object without attributes
            return {}
        if key in _SCALAR_TAGS:
            return body
    if "__enum__" in value and set(value) == {"__enum__", "value"}:
        return to_plain(value["value"], doc)
    return {k: to_plain(v, doc) for k, v in value.items() if k != "__class__"}


def _is_leaf(value: Any) -> bool:
    if not isinstance(value, dict):
        return not isinstance(value, list)
    return ("__enum__" in value and len(value) == 2) or (
        len(value) == 1 and next(iter(value)) in _SCALAR_TAGS)


def _summary(where: str, doc: Any) -> Any:
    """The scalar fields of the object a reference points to."""
    if doc is None:
        return f"(see {where or '/'})"
    try:
        target = resolve_pointer(doc, where)
    except (KeyError, IndexError, ValueError, TypeError):
        return f"(see {where or '/'})"
    return shallow(target)


def shallow(encoded: Any) -> Any:
    """Scalar fields (or scalar members) only: how a back-reference is shown."""
    if isinstance(encoded, dict) and not (len(encoded) == 1 and next(iter(encoded)) in
                                          ("__tuple__", "__set__", "__frozenset__")):
        return {k: to_plain(v) for k, v in encoded.items()
                if k != "__class__" and k != REF and _is_leaf(v)}
    if isinstance(encoded, dict):
        encoded = next(iter(encoded.values()))
    if isinstance(encoded, list):
        return [to_plain(v) for v in encoded if _is_leaf(v)]
    return to_plain(encoded)


class _ResultEncoder(_Encoder):
    """Encodes a method's result: objects of the state are shown in full where the
    result enters the state, with what they own (their home lies below); any other
    state object they reach (a parent, a neighbour) is shown shallow."""

    def __init__(self, codec: Codec, state_homes: dict[int, str]):
        super().__init__(codec, {})
        self.state_homes = state_homes
        self.scope: str | None = None

    def value(self, value: Any, where: str) -> Any:
        home = self.state_homes.get(id(value)) if _tracked(value) else None
        if home is None or id(value) in self.homes:
            return super().value(value, where)
        if self.scope is not None and not (home == self.scope
                                           or home.startswith(self.scope + "/")):
            return shallow(_Encoder(self.codec, dict(self.state_homes))._body(value, "/?"))
        outer = self.scope
        if outer is None:
            self.scope = home
        try:
            return super().value(value, where)
        finally:
            self.scope = outer


def plain_result(codec: Codec, result: Any, state_homes: dict[int, str]) -> Any:
    """A method's return value as plain JSON (bounded where it reaches into the state)."""
    encoded = _ResultEncoder(codec, state_homes).value(result, "")
    return to_plain(encoded, encoded)
