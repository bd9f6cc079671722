"""Snapshots of object graphs: random graphs with cycles, shared references and every
supported kind of value survive snapshot → mutate → restore with their identity
structure intact, and equal graphs snapshot alike whatever their history."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from apigen_mt.env.plain import to_plain
from apigen_mt.env.snapshot import Codec, attributes_of, canonical_bytes


class Mood(enum.Enum):
    CALM = "calm"
    BUSY = "busy"


class Plain:
    """A node with a ``__dict__``."""


class Slotted:
    """A node without a ``__dict__``."""

    __slots__ = ("a", "b", "c")


@dataclasses.dataclass(eq=False)
class Data:
    """A dataclass node (identity, not value, equality)."""

    a: Any = None
    b: Any = None
    c: Any = None


KINDS = (Plain, Slotted, Data)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3),
                    st.sampled_from([Mood.CALM, Mood.BUSY, dt.date(2025, 1, 2),
                                     dt.datetime(2025, 1, 2, 3, 4), (1, "x")]))
# a slot value: a scalar, a node, a list or a dict of nodes and scalars, a set of scalars
SLOT = st.one_of(
    st.tuples(st.just("scalar"), SCALARS),
    st.tuples(st.just("node"), st.integers(0, 7)),
    st.tuples(st.just("list"), st.lists(st.one_of(st.integers(0, 7), SCALARS), max_size=3)),
    st.tuples(st.just("dict"), st.dictionaries(st.sampled_from(["k", "m", "a/b", "~x"]),
                                               st.one_of(st.integers(0, 7), SCALARS),
                                               max_size=3)),
    st.tuples(st.just("set"), st.frozensets(st.integers(0, 9), max_size=3)),
)
GRAPH = st.lists(st.tuples(st.integers(0, 2), st.lists(SLOT, min_size=3, max_size=3)),
                 min_size=1, max_size=8)


def build(spec: list) -> dict[str, Any]:
    """The graph a spec describes: node i's slots a, b, c; ints in containers are nodes
    (so references are shared and cycles common); the fields hold node 0 and a list."""
    nodes = [KINDS[kind]() if KINDS[kind] is not Data else Data() for kind, _ in spec]

    def item(value: Any) -> Any:
        return nodes[value % len(nodes)] if isinstance(value, int) and \
            not isinstance(value, bool) else value

    for node, (_, slots) in zip(nodes, spec, strict=True):
        for name, (kind, body) in zip("abc", slots, strict=True):
            if kind == "scalar":
                value = body
            elif kind == "node":
                value = nodes[body % len(nodes)]
            elif kind == "list":
                value = [item(v) for v in body]
            elif kind == "dict":
                value = {k: item(v) for k, v in body.items()}
            else:
                value = set(body)
            object.__setattr__(node, name, value)
    return {"root": nodes[0], "all": list(nodes), "cursor": nodes[-1]}


def isomorphic(a: Any, b: Any, seen: dict[int, int] | None = None) -> bool:
    """Same shape, same scalars, and ``x is y`` in one exactly where it holds in the other."""
    seen = {} if seen is None else seen
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list, set, Plain, Slotted, Data)):
        if id(a) in seen:
            return seen[id(a)] == id(b)
        if id(b) in seen.values():
            return False
        seen[id(a)] = id(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(isomorphic(a[k], b[k], seen) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(isomorphic(x, y, seen) for x, y in
                                        zip(a, b, strict=True))
    if isinstance(a, (Plain, Slotted, Data)):
        mine, theirs = attributes_of(a), attributes_of(b)
        return mine.keys() == theirs.keys() and all(isomorphic(mine[n], theirs[n], seen)
                                                    for n in mine)
    return a == b


def snapshot(fields: dict[str, Any]) -> dict[str, Any]:
    return Codec(__name__).encode_fields(fields)[0]


def restore(records: dict[str, Any]) -> dict[str, Any]:
    return Codec(__name__).decode_fields(records)


MUTATIONS = st.lists(st.tuples(st.integers(0, 7), st.sampled_from("abc"),
                               st.sampled_from(["rewire", "scalar", "append", "cycle"])),
                     min_size=1, max_size=4)


def mutate(fields: dict[str, Any], plan: list) -> None:
    nodes = fields["all"]
    for index, name, how in plan:
        node = nodes[index % len(nodes)]
        if how == "rewire":
            object.__setattr__(node, name, nodes[(index + 1) % len(nodes)])
        elif how == "scalar":
            object.__setattr__(node, name, f"changed-{index}")
        elif how == "append":
            nodes.append(Plain())
            object.__setattr__(nodes[-1], "a", node)
        else:
            object.__setattr__(node, name, [node, fields["all"]])


@settings(max_examples=150, deadline=None)
@given(GRAPH, MUTATIONS)
def test_snapshot_mutate_restore_preserves_identity(spec, plan):
    original = build(spec)
    first = snapshot(original)
    canonical_bytes(first)  # JSON-like
    live = restore(first)
    assert isomorphic(original, live)
    assert live["cursor"] is live["all"][-1] and live["root"] is live["all"][0]
    mutate(live, plan)
    changed = snapshot(live)
    again = restore(first)  # the first snapshot is untouched by the mutation
    assert isomorphic(original, again) and snapshot(again) == first
    assert isomorphic(live, restore(changed))
    one, two = restore(changed), restore(changed)
    assert one["root"] is not two["root"] and isomorphic(one, two)  # every restore is fresh


@settings(max_examples=100, deadline=None)
@given(GRAPH)
def test_equal_graphs_snapshot_alike_and_round_trips_are_stable(spec):
    a, b = build(spec), build(spec)
    assert canonical_bytes(snapshot(a)) == canonical_bytes(snapshot(b))
    once = snapshot(a)
    assert snapshot(restore(once)) == once  # restore → snapshot is a fixed point
    plain = to_plain(once["root"], once)  # readable views stay finite with cycles
    assert isinstance(plain, dict)


def test_a_cycle_through_the_owner_and_a_shared_object():
    class Owner:
        pass

    owner = Owner()
    child = Plain()
    child.a, child.b, child.c = owner, [child], {"me": child}
    fields = {"kids": [child], "favourite": child}
    records, homes = Codec(__name__).encode_fields(fields, owner=owner)
    assert records["favourite"] == {"__ref__": "/kids/0"}  # homed in the list holding it
    assert records["kids"][0]["a"] == {"__ref__": ""}
    assert homes[id(child)] == "/kids/0"
    rebuilt = Owner.__new__(Owner)
    back = Codec(__name__).decode_fields(records, owner=rebuilt)
    kid = back["kids"][0]
    assert back["favourite"] is kid and kid.a is rebuilt and kid.b[0] is kid
    assert kid.c["me"] is kid
