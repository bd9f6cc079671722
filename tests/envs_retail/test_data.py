"""The retail data generator: deterministic, τ-bench's schema, internally consistent."""

from __future__ import annotations

import json
import re
import time

import pytest

from apigen_mt.env.domain import load_domain, load_environment
from apigen_mt_envs.retail import user_view
from apigen_mt_envs.retail.data import generate
from tests.conftest import ANCHORS, needs_anchors

STATUSES = {"pending", "processed", "delivered", "cancelled", "return requested",
            "exchange requested", "pending (item modified)"}
EXTRA_FIELDS = {
    "cancelled": ["cancel_reason"],
    "return requested": ["return_items", "return_payment_method_id"],
    "exchange requested": ["exchange_items", "exchange_new_items",
                           "exchange_payment_method_id", "exchange_price_difference"],
}
BASE_ORDER_KEYS = ["order_id", "user_id", "address", "items", "fulfillments", "status",
                   "payment_history"]


@pytest.fixture(scope="module")
def data():
    return generate(0)


def test_same_seed_same_bytes_other_seed_other_data(data):
    assert json.dumps(generate(0)) == json.dumps(data)
    assert json.dumps(generate(1)) != json.dumps(data)
    assert json.dumps(generate(7, users=20, orders=40, products=5)) == json.dumps(
        generate(7, users=20, orders=40, products=5))


def test_default_sizes_and_speed(data):
    assert [len(data[t]) for t in ("orders", "products", "users")] == [1000, 50, 500]
    start = time.perf_counter()
    generate(3)
    assert time.perf_counter() - start < 1.0
    assert load_domain("retail").generator_options == {"users": 500, "orders": 1000,
                                                       "products": 50}


def test_sizes_follow_options():
    small = generate(5, users=10, orders=25, products=70)
    assert (len(small["users"]), len(small["orders"]), len(small["products"])) == (10, 25, 70)
    names = [p["name"] for p in small["products"].values()]
    assert len(set(names)) == len(names)  # product names stay unique past the catalogue


def test_ids_look_like_tau_bench(data):
    assert all(re.fullmatch(r"#W\d{7}", oid) for oid in data["orders"])
    assert all(re.fullmatch(r"[a-z]+_[a-z]+_\d{4}", uid) for uid in data["users"])
    for pid, product in data["products"].items():
        assert re.fullmatch(r"\d{10}", pid) and product["product_id"] == pid
        for item_id, variant in product["variants"].items():
            assert re.fullmatch(r"\d{10}", item_id) and variant["item_id"] == item_id
    for user in data["users"].values():
        for method_id, method in user["payment_methods"].items():
            assert method["id"] == method_id
            assert re.fullmatch(rf"{method['source']}_\d{{7}}", method_id)


def test_every_status_with_its_fields(data):
    seen = set()
    for order in data["orders"].values():
        status = order["status"]
        seen.add(status)
        assert list(order)[:7] == BASE_ORDER_KEYS
        assert list(order)[7:] == EXTRA_FIELDS.get(status, [])
        assert (order["fulfillments"] == []) == status.startswith("pending")
        kinds = [p["transaction_type"] for p in order["payment_history"]]
        assert kinds[0] == "payment"
        if status == "cancelled":
            assert kinds == ["payment", "refund"]
        elif status == "pending (item modified)":
            assert len(kinds) == 2
        else:
            assert kinds == ["payment"]
    assert seen == STATUSES


def test_references_are_consistent(data):
    orders, products, users = data["orders"], data["products"], data["users"]
    for user_id, user in users.items():
        assert user["orders"] == [o for o, rec in orders.items() if rec["user_id"] == user_id]
        for method in user["payment_methods"].values():
            assert method.get("balance", 0) >= 0
    for order_id, order in orders.items():
        assert order["order_id"] == order_id
        methods = users[order["user_id"]]["payment_methods"]
        for item in order["items"]:
            variant = products[item["product_id"]]["variants"][item["item_id"]]
            assert item["name"] == products[item["product_id"]]["name"]
            assert (item["price"], item["options"]) == (variant["price"], variant["options"])
        for payment in order["payment_history"]:
            assert payment["payment_method_id"] in methods
        for key in ("return_payment_method_id", "exchange_payment_method_id"):
            if key in order:
                assert order[key] in methods
        held = [i["item_id"] for i in order["items"]]
        for key in ("return_items", "exchange_items"):
            assert all(i in held for i in order.get(key, []))
        if order["status"] not in ("pending (item modified)",):
            total = round(sum(i["price"] for i in order["items"]), 2)
            assert order["payment_history"][0]["amount"] == total
    for product in products.values():
        available = [v["available"] for v in product["variants"].values()]
        assert available.count(True) >= 2 and False in available


def test_name_and_zip_identify_one_user(data):
    people = [(u["name"]["first_name"].lower(), u["name"]["last_name"].lower(),
               u["address"]["zip"]) for u in data["users"].values()]
    assert len(set(people)) == len(people)
    emails = [u["email"].lower() for u in data["users"].values()]
    assert len(set(emails)) == len(emails)


@needs_anchors
def test_schema_matches_tau_bench_records(data):
    tau = {t: json.loads((ANCHORS / "retail" / f"{t}.json").read_text())
           for t in ("orders", "products", "users")}

    def shape(value):
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(value[0])] if value else []
        return type(value).__name__

    assert shape(next(iter(data["users"].values())))["name"] == shape(
        next(iter(tau["users"].values())))["name"]
    assert list(next(iter(data["users"].values()))) == list(next(iter(tau["users"].values())))
    assert shape(next(iter(data["products"].values()))).keys() == shape(
        next(iter(tau["products"].values()))).keys()
    tau_variant = next(iter(next(iter(tau["products"].values()))["variants"].values()))
    our_variant = next(iter(next(iter(data["products"].values()))["variants"].values()))
    assert list(our_variant) == list(tau_variant)
    assert {k: type(v) for k, v in our_variant.items()} == {
        k: type(v) for k, v in tau_variant.items()}
    tau_methods = {m["source"]: list(m) for u in tau["users"].values()
                   for m in u["payment_methods"].values()}
    our_methods = {m["source"]: list(m) for u in data["users"].values()
                   for m in u["payment_methods"].values()}
    assert our_methods == tau_methods
    tau_order = next(o for o in tau["orders"].values() if o["status"] == "delivered")
    our_order = next(o for o in data["orders"].values() if o["status"] == "delivered")
    assert list(our_order) == list(tau_order)
    assert list(our_order["items"][0]) == list(tau_order["items"][0])
    assert shape(our_order["fulfillments"]) == shape(tau_order["fulfillments"])
    assert shape(our_order["payment_history"]) == shape(tau_order["payment_history"])
    assert list(our_order["address"]) == list(tau_order["address"])


def test_user_view_holds_the_user_and_their_orders(data):
    env = load_environment("retail")
    user_id = next(u for u, rec in data["users"].items() if len(rec["orders"]) >= 2)
    view = user_view(env.state, user_id)
    assert view["user"]["user_id"] == user_id
    assert view["user"]["email"] == data["users"][user_id]["email"]
    assert list(view["orders"]) == data["users"][user_id]["orders"]
    assert all(o["user_id"] == user_id for o in view["orders"].values())
    json.dumps(view)
