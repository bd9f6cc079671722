"""Drafting keeps a packed view of every accepted blueprint: the same mapping, smaller."""

from __future__ import annotations

import pickle
import sys

import pytest

from apigen_mt.records import Action, Blueprint, Provenance
from apigen_mt.runner.packed import PackedView
from apigen_mt.runner.phase1 import example_view, visible_to


def _view(slot: int, recombined: list[str] | None = None) -> dict:
    bp = Blueprint(id=f"bp{slot}", env="retail", user_id="user_1",
                   instruction="You want to exchange the boots you ordered. " * 12,
                   actions=[Action(name="exchange_delivered_order_items",
                                   arguments={"order_id": "#W1", "item_ids": ["1", "2"]})] * 3,
                   outputs=["10.5"], persona="brisk",
                   provenance=Provenance(slot=slot, seed=0, drafter="sim", rounds=1,
                                         recombined_from=recombined or []))
    return example_view(bp)


def test_a_packed_view_reads_as_the_view_it_was_made_from():
    view = _view(7, ["a", "b"])
    packed = PackedView(view)
    assert dict(packed) == view and packed == view
    assert list(packed) == list(view) and len(packed) == len(view)
    assert "instruction" in packed and "missing" not in packed
    assert packed.get("missing") is None
    assert pickle.loads(pickle.dumps(packed)) == view  # workers mirror the views
    with pytest.raises(ValueError, match="does not hold"):
        PackedView({**view, "extra": 1})


def test_packed_views_are_smaller_and_slots_see_the_same_ones():
    views = [_view(s) for s in range(10)]
    packed = [PackedView(v) for v in views]
    assert [dict(b) for b in visible_to(packed, 8, 3)] == views[:5]
    text = sum(sys.getsizeof(views[0][k]) for k in ("instruction", "outputs", "persona"))
    assert sys.getsizeof(packed[0]) + len(packed[0]._text) < text / 2
