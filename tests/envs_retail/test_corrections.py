"""Each correction the README lists: the default tools fix it, τ-bench mode keeps the quirk.

The same call runs on the same data with the corrected tools (the default for generated
data) and with ``tau_compat`` on; both outcomes are asserted.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from apigen_mt.env.domain import load_environment
from apigen_mt.env.environment import Environment
from apigen_mt.env.state import BaseState
from apigen_mt_envs.retail import DOMAIN

MODES = [False, True]  # corrected, τ-bench


@cache
def _scene() -> tuple[dict, str, str, str]:
    """Generated data with one pending and one delivered order of two items each, both
    of one product whose variants cost 10.1, 10.15 and 10.1 (float noise on purpose)."""
    tables = load_environment("retail").state.materialize()
    product_id, product = next((p, r) for p, r in tables["products"].items()
                               if sum(v["available"] for v in r["variants"].values()) >= 3)
    a, b, c = [v for v, r in product["variants"].items() if r["available"]][:3]
    for vid, price in ((a, 10.1), (b, 10.15), (c, 10.1)):
        product["variants"][vid]["price"] = price

    def item(vid):
        v = product["variants"][vid]
        return {"name": product["name"], "product_id": product_id, "item_id": vid,
                "price": v["price"], "options": v["options"]}

    ids = {}
    for status in ("pending", "delivered"):
        order_id, order = next((o, r) for o, r in tables["orders"].items()
                               if r["status"] == status and len(r["payment_history"]) == 1)
        order["items"] = [item(c), item(a)]  # c sorts after a: order shows
        ids[status] = order_id
    return tables, ids["pending"], ids["delivered"], f"{a},{b},{c}"


def _env(tau: bool) -> tuple[Environment, str, str, list[str]]:
    tables, pending, delivered, variants = _scene()
    env = Environment(DOMAIN, BaseState(tables, {"tau_compat": tau}), policy="")
    return env.fresh(), pending, delivered, variants.split(",")


def _pay_with(env, order_id):
    return env.state["orders"][order_id]["payment_history"][0]["payment_method_id"]


@pytest.mark.parametrize("tau", MODES)
def test_item_change_difference_is_in_cents(tau):
    env, pending, _, (a, b, _c) = _env(tau)
    out = json.loads(env.execute("modify_pending_order_items", {
        "order_id": pending, "item_ids": [a], "new_item_ids": [b],
        "payment_method_id": _pay_with(env, pending)}))
    entry = out["payment_history"][-1]
    assert entry["transaction_type"] == "payment"
    noise = 10.15 - 10.1
    assert noise != 0.05
    assert entry["amount"] == (noise if tau else 0.05)


@pytest.mark.parametrize("tau", MODES)
def test_item_change_at_the_same_price_records_no_payment(tau):
    env, pending, _, (a, _b, c) = _env(tau)
    before = len(env.state["orders"][pending]["payment_history"])
    out = json.loads(env.execute("modify_pending_order_items", {
        "order_id": pending, "item_ids": [c], "new_item_ids": [a],
        "payment_method_id": _pay_with(env, pending)}))
    assert out["status"] == "pending (item modified)"
    added = out["payment_history"][before:]
    if tau:
        assert added == [{"transaction_type": "refund", "amount": 0,
                          "payment_method_id": _pay_with(env, pending)}]
    else:
        assert added == []


@pytest.mark.parametrize("tau", MODES)
def test_returns_and_exchanges_keep_the_order_asked(tau):
    env, _, delivered, (a, b, c) = _env(tau)
    back = env.fork()
    out = json.loads(back.execute("return_delivered_order_items", {
        "order_id": delivered, "item_ids": [c, a],
        "payment_method_id": _pay_with(env, delivered)}))
    assert out["return_items"] == (sorted([c, a]) if tau else [c, a])
    # exchange c for b and a for c: position i of both lists is one swap
    out = json.loads(env.execute("exchange_delivered_order_items", {
        "order_id": delivered, "item_ids": [c, a], "new_item_ids": [b, c],
        "payment_method_id": _pay_with(env, delivered)}))
    if tau:
        assert (out["exchange_items"], out["exchange_new_items"]) == (sorted([c, a]),
                                                                      sorted([b, c]))
    else:
        assert (out["exchange_items"], out["exchange_new_items"]) == ([c, a], [b, c])


@pytest.mark.parametrize("tau", MODES)
def test_return_recognises_a_gift_card_by_its_source(tau):
    tables, _, delivered, _ = _scene()
    tables = json.loads(json.dumps(tables))
    user_id = tables["orders"][delivered]["user_id"]
    wallet = tables["users"][user_id]["payment_methods"]
    # a store card that is a gift card but not named like one, and a card named like one
    wallet["store_credit_1"] = {"source": "gift_card", "balance": 0, "id": "store_credit_1"}
    wallet["gift_card_lookalike"] = {"source": "credit_card", "brand": "visa",
                                     "last_four": "4242", "id": "gift_card_lookalike"}
    env = Environment(DOMAIN, BaseState(tables, {"tau_compat": tau}), policy="").fresh()
    item = tables["orders"][delivered]["items"][0]["item_id"]
    refused = ("Error: payment method should be either the original payment method or a "
               "gift card")
    real = env.fork().execute("return_delivered_order_items", {
        "order_id": delivered, "item_ids": [item], "payment_method_id": "store_credit_1"})
    fake = env.fork().execute("return_delivered_order_items", {
        "order_id": delivered, "item_ids": [item], "payment_method_id": "gift_card_lookalike"})
    if tau:
        assert real == refused and not fake.startswith("Error")
    else:
        assert fake == refused and not real.startswith("Error")
