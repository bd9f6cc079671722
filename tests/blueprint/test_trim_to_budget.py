"""The drafter's view of a user fits its token budget by dropping related records."""

from __future__ import annotations

import json

from apigen_mt.blueprint.context import trim_to_budget


def _view(orders: int, payments: int) -> dict:
    return {"user": {"id": "ana_7", "name": "Ana Müller"},
            "orders": {f"#W{i}": {"items": ["lamp"] * 3, "status": "pending"}
                       for i in range(orders)},
            "payments": {f"card_{i}": {"brand": "visa", "last_four": "0042"}
                         for i in range(payments)},
            "zip": "10001"}


def test_the_view_fits_the_budget_dropping_the_largest_collections_last_records():
    view = _view(orders=30, payments=4)
    trimmed = trim_to_budget(view, tokens=200)
    assert len(json.dumps(trimmed)) <= 800
    assert trimmed["user"] == view["user"] and trimmed["zip"] == "10001"
    # the orders were the largest: they lose their last records first, in order
    assert list(trimmed["orders"]) == [f"#W{i}" for i in range(len(trimmed["orders"]))]
    assert len(trimmed["orders"]) < 30 and len(trimmed["payments"]) == 4
    assert len(view["orders"]) == 30  # the caller's view is left as it was
    # one record fewer would have fitted a smaller budget only: nothing dropped needlessly
    fuller = json.loads(json.dumps(trimmed))
    fuller["orders"][f"#W{len(trimmed['orders'])}"] = view["orders"]["#W0"]
    assert len(json.dumps(fuller)) > 800


def test_a_view_that_fits_is_unchanged_and_one_that_cannot_keeps_the_user():
    view = _view(orders=2, payments=1)
    assert trim_to_budget(view, tokens=10_000) == view
    tiny = trim_to_budget(view, tokens=1)
    assert tiny == {"user": view["user"], "orders": {}, "payments": {}, "zip": "10001"}


def _one_record_at_a_time(view: dict, tokens: int) -> dict:
    """The rule spelled out: measure the whole text, drop one record, measure again."""
    view = json.loads(json.dumps(view))
    while len(json.dumps(view)) > tokens * 4:
        collections = [(k, v) for k, v in view.items() if isinstance(v, dict)
                       and k != "user" and v]
        if not collections:
            break
        _, records = max(collections, key=lambda kv: len(json.dumps(kv[1])))
        records.pop(next(reversed(records)))
    return view


def test_sizes_kept_as_records_go_give_what_measuring_each_time_gives():
    view = _view(orders=12, payments=9)
    view["orders"]["#W\u00e9"] = {"note": "caf\u00e9 \"quoted\"", "n": [1, 2]}
    view["empty"] = {}
    for tokens in (1, 20, 60, 90, 120, 150, 200, 260, 400):
        got = trim_to_budget(view, tokens)
        assert json.dumps(got) == json.dumps(_one_record_at_a_time(view, tokens)), tokens
        assert list(got) == list(view)
