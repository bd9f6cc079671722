"""Copy-on-write database state shared by every copy of an environment.

A domain's database is a mapping of *tables* (``"users"``, ``"orders"`` …), each a
mapping of record id to a JSON-like record. One :class:`BaseState` holds the loaded
data and is never mutated; every environment copy is a :class:`State` that layers
its own changes over it. A fresh copy therefore costs a few empty dicts, whatever the
size of the database.

Tools read records with ``state[table][key]`` and must ask for a private, mutable
copy with ``state[table].edit(key)`` before changing one. Changes made during a tool
call go to a transaction layer that is merged only when the call succeeds, so a
failing call leaves no partial change behind.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from types import MappingProxyType
from typing import Any

import orjson

_DELETED = object()


def tau_hashable(value: Any) -> Any:
    """τ-bench's ``to_hashable``: dicts become key-sorted pair tuples, lists tuples."""
    if isinstance(value, dict):
        return tuple(sorted((k, tau_hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(tau_hashable(v) for v in value)
    if isinstance(value, set):
        return tuple(sorted(tau_hashable(v) for v in value))
    return value


def _tuple_text(parts: list[str]) -> str:
    """Text Python's ``str()`` gives a tuple whose items render as ``parts``."""
    if len(parts) == 1:
        return "(" + parts[0] + ",)"
    return "(" + ", ".join(parts) + ")"


def _pair_text(key: str, value_text: str) -> str:
    return "(" + repr(key) + ", " + value_text + ")"


_ATOMS = frozenset({str, int, float, bool, type(None)})


def clone(value: Any) -> Any:
    """A deep copy of a JSON-shaped record (dicts, lists, str, numbers, None): what
    ``copy.deepcopy`` returns for one, at a fraction of its cost (no memo, no dispatch by
    reflection); any other type inside is deep-copied the usual way. Records loaded from
    data files share no sub-objects, so the memo's aliasing has nothing to preserve."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _ATOMS else clone(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _ATOMS else clone(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


def record_digest(table: str, key: str, record: Any) -> int:
    """Canonical digest of one record, as an integer for order-free combination."""
    body = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    h = hashlib.blake2b(digest_size=32)
    h.update(table.encode())
    h.update(b"\0")
    h.update(str(key).encode())
    h.update(b"\0")
    h.update(body)
    return int.from_bytes(h.digest(), "big")


_MOD = 1 << 256


class BaseState:
    """Immutable loaded data plus caches for fast hashing of the copies built on it."""

    def __init__(self, tables: dict[str, dict[str, Any]],
                 options: Mapping[str, Any] | None = None):
        bad = [name for name, t in tables.items() if not isinstance(t, dict)]
        if bad:
            raise ValueError(f"every top-level entry must be a table (a JSON object): {bad}")
        self.tables = tables
        # How the domain's tools should behave on this data (e.g. ``tau_compat``); read-only
        # and outside the tables, so it never enters a hash or a diff.
        self.options: Mapping[str, Any] = MappingProxyType(dict(options or {}))
        self._digests: dict[str, dict[str, int]] = {}
        self._sum: int | None = None
        self._tau_text: dict[str, dict[str, str]] = {}

    def with_options(self, options: Mapping[str, Any]) -> BaseState:
        """The same data (and hash caches, which do not depend on options) with other
        options."""
        other = BaseState.__new__(BaseState)
        other.__dict__.update(self.__dict__)
        other.options = MappingProxyType(dict(options))
        return other

    def digest(self, table: str, key: str) -> int:
        """Cached canonical digest of a base record."""
        self.canonical_sum()
        return self._digests[table][key]

    def canonical_sum(self) -> int:
        """Order-free sum of every base record digest (computed once)."""
        if self._sum is None:
            total = 0
            for name, table in self.tables.items():
                digests = {k: record_digest(name, k, rec) for k, rec in table.items()}
                self._digests[name] = digests
                total += sum(digests.values())
            self._sum = total % _MOD
        return self._sum

    def tau_text(self, table: str, key: str) -> str:
        """Cached ``str()`` of τ-bench's hashable form of one base record pair."""
        cache = self._tau_text.setdefault(table, {})
        text = cache.get(key)
        if text is None:
            text = _pair_text(key, str(tau_hashable(self.tables[table][key])))
            cache[key] = text
        return text


class _TableItems(ItemsView):
    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return self._mapping._records()


class _TableValues(ValuesView):
    def __iter__(self) -> Iterator[Any]:
        return (record for _, record in self._mapping._records())


class Table(Mapping):
    """One table as seen by one environment copy (reads fall through to the base)."""

    def __init__(self, state: State, name: str):
        self._state = state
        self.name = name
        self._base = state.base.tables[name]

    def _layers(self) -> tuple[dict, dict]:
        return (
            self._state._txn.setdefault(self.name, {}) if self._state._txn is not None else {},
            self._state._overlay.setdefault(self.name, {}),
        )

    def __getitem__(self, key: str) -> Any:
        txn = self._state._txn
        if txn is not None and key in txn.get(self.name, ()):
            value = txn[self.name][key]
        else:
            over = self._state._overlay.get(self.name)
            if over is not None and key in over:
                value = over[key]
            else:
                return self._base[key]
        if value is _DELETED:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True

    def _changed_keys(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        merged.update(self._state._overlay.get(self.name, {}))
        if self._state._txn is not None:
            merged.update(self._state._txn.get(self.name, {}))
        return merged

    def __iter__(self) -> Iterator[str]:
        changed = self._changed_keys()
        for key in self._base:
            if changed.get(key, None) is not _DELETED:
                yield key
        for key, value in changed.items():
            if key not in self._base and value is not _DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _records(self) -> Iterator[tuple[str, Any]]:
        """(key, record) in :meth:`__iter__`'s order, without a lookup per key: a tool
        that scans a table (a user found by email, a flight search) reads thousands of
        records per call, and ``Mapping``'s own views would look each one up through
        both change layers."""
        changed = self._changed_keys()
        base = self._base
        if not changed:
            yield from base.items()
            return
        for key, record in base.items():
            mine = changed.get(key, base)  # base itself: "not changed here"
            if mine is base:
                yield key, record
            elif mine is not _DELETED:
                yield key, mine
        for key, record in changed.items():
            if key not in base and record is not _DELETED:
                yield key, record

    def items(self) -> ItemsView[str, Any]:
        """The table's (key, record) pairs, as this copy sees them."""
        return _TableItems(self)

    def values(self) -> ValuesView[Any]:
        """The table's records, as this copy sees them."""
        return _TableValues(self)

    def edit(self, key: str) -> Any:
        """A mutable copy of the record, private to this environment copy."""
        current = self[key]
        txn = self._state._require_txn()
        layer = txn.setdefault(self.name, {})
        if key in layer and layer[key] is current:
            return current
        mine = clone(current)
        layer[key] = mine
        return mine

    def __setitem__(self, key: str, value: Any) -> None:
        self._state._require_txn().setdefault(self.name, {})[key] = value

    def __delitem__(self, key: str) -> None:
        self[key]  # raises KeyError when absent
        self._state._require_txn().setdefault(self.name, {})[key] = _DELETED


class State(Mapping):
    """The database of one environment copy: the shared base plus this copy's changes."""

    def __init__(self, base: BaseState, overlay: dict[str, dict[str, Any]] | None = None):
        self.base = base
        self._overlay: dict[str, dict[str, Any]] = overlay if overlay is not None else {}
        self._txn: dict[str, dict[str, Any]] | None = None
        self._tables = {name: Table(self, name) for name in base.tables}

    @property
    def options(self) -> Mapping[str, Any]:
        """The environment's options (shared by every copy; tools read, never write)."""
        return self.base.options

    # Mapping interface over tables ------------------------------------------------
    def __getitem__(self, name: str) -> Table:
        return self._tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    # transactions ----------------------------------------------------------------
    def _require_txn(self) -> dict[str, dict[str, Any]]:
        if self._txn is None:
            raise RuntimeError("state changes must happen inside State.transaction()")
        return self._txn

    def begin(self) -> None:
        """Open a transaction; edits go to it until :meth:`commit` or :meth:`rollback`."""
        self._txn = {}

    def commit(self) -> None:
        """Merge the open transaction into this copy's changes."""
        txn, self._txn = self._txn or {}, None
        for name, changes in txn.items():
            self._overlay.setdefault(name, {}).update(changes)

    def rollback(self) -> None:
        """Drop the open transaction: the state is exactly as before it began."""
        self._txn = None

    # copies ----------------------------------------------------------------------
    def fork(self) -> State:
        """An independent copy that starts from this copy's current state."""
        overlay = {name: dict(ch) for name, ch in self._overlay.items() if ch}
        # Records in the overlay may be edited in place by the new copy's tools only
        # after `edit()` has deep-copied them, so sharing the dict values is safe.
        return State(self.base, overlay)

    def changes(self) -> dict[str, dict[str, Any]]:
        """This copy's changed records per table (deleted ones as ``None``)."""
        out: dict[str, dict[str, Any]] = {}
        for name, ch in self._overlay.items():
            if ch:
                out[name] = {k: (None if v is _DELETED else v) for k, v in ch.items()}
        return out

    def materialize(self) -> dict[str, dict[str, Any]]:
        """A plain ``{table: {key: record}}`` dict (deep-copied) of the current state."""
        return {name: {k: copy.deepcopy(v) for k, v in table.items()} for name, table in
                self._tables.items()}

    # hashes ----------------------------------------------------------------------
    def canonical_hash(self) -> str:
        """The project's fast state hash: O(changed records) after the base is cached."""
        total = self.base.canonical_sum()
        for name, ch in self._overlay.items():
            base_table = self.base.tables[name]
            for key, value in ch.items():
                if key in base_table:
                    total -= self.base.digest(name, key)
                if value is not _DELETED:
                    total += record_digest(name, key, value)
        return format(total % _MOD, "064x")

    def tau_hash(self) -> str:
        """τ-bench's hash: sha256 of ``str(to_hashable(data))`` over the whole database."""
        table_texts = []
        for name in sorted(self._tables):
            changed = self._overlay.get(name, {})
            parts = []
            for key in sorted(self._tables[name]):
                if key in changed:
                    parts.append(_pair_text(key, str(tau_hashable(changed[key]))))
                else:
                    parts.append(self.base.tau_text(name, key))
            table_texts.append(_pair_text(name, _tuple_text(parts) if parts else "()"))
        text = _tuple_text(table_texts) if table_texts else "()"
        return hashlib.sha256(text.encode()).hexdigest()
