"""An accepted blueprint's example view, packed: what drafting keeps of every blueprint.

Each drafting slot may learn from the blueprints accepted before it, so phase 1 keeps a
view of every one (:func:`~apigen_mt.runner.phase1.example_view`). A slot reads every
view's user and slot, but the text (instruction, actions, outputs, persona) of only
the few it shows as examples. As plain dicts the views cost about 3.5 KB each, and
phase 1 of ``--n 5000`` accepts some 8,000; packed, the text is compressed JSON,
unpacked when a slot reads it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

TEXT = ("instruction", "actions", "outputs", "persona")  # packed: read for examples only


class PackedView(Mapping):
    """An example view (a mapping with the keys of the dict it was made from) whose
    :data:`TEXT` fields are held compressed."""

    __slots__ = ("_keys", "_text", "id", "recombined_from", "slot", "user_id")

    def __init__(self, view: Mapping[str, Any]):
        unknown = set(view) - {"id", "user_id", "provenance", *TEXT}
        if unknown:
            raise ValueError(f"an example view has fields this class does not hold: {unknown}")
        prov = view.get("provenance") or {}
        self.id, self.user_id = view.get("id"), view.get("user_id")
        self.slot = prov.get("slot", -1)
        self.recombined_from = tuple(prov.get("recombined_from") or ())
        self._keys = tuple(view)
        # level 1: the text is small and read rarely; packing must cost little CPU
        self._text = zlib.compress(orjson.dumps({k: view[k] for k in TEXT if k in view}), 1)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        if key == "id":
            return self.id
        if key == "user_id":
            return self.user_id
        if key == "provenance":
            return {"slot": self.slot, "recombined_from": list(self.recombined_from)}
        if key in TEXT:
            return orjson.loads(zlib.decompress(self._text))[key]
        raise KeyError(key)  # a key of the view this class does not know how to hold

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __reduce__(self):
        # workers in other processes mirror the views: ship the plain dict
        return (PackedView, (dict(self),))
