"""Retail tools: τ-bench's schemas, a calculator without eval, and writes that work on
generated data."""

from __future__ import annotations

import builtins
import json

import pytest

from apigen_mt.env.domain import load_domain
from tests.envs_retail.helpers import find, methods, other_available, retail_env

STR = {"type": "string"}
STR_LIST = {"type": "array", "items": {"type": "string"}}
ADDRESS = {name: STR for name in ("address1", "address2", "city", "state", "country", "zip")}
ORDER_SWAP = {"order_id": STR, "item_ids": STR_LIST, "new_item_ids": STR_LIST,
              "payment_method_id": STR}

# The parameter structure of τ-bench's get_info() for each retail tool, in its order.
TAU_PARAMETERS = {
    "calculate": {"expression": STR},
    "cancel_pending_order": {"order_id": STR, "reason": {
        "type": "string", "enum": ["no longer needed", "ordered by mistake"]}},
    "exchange_delivered_order_items": ORDER_SWAP,
    "find_user_id_by_email": {"email": STR},
    "find_user_id_by_name_zip": {"first_name": STR, "last_name": STR, "zip": STR},
    "get_order_details": {"order_id": STR},
    "get_product_details": {"product_id": STR},
    "get_user_details": {"user_id": STR},
    "list_all_product_types": {},
    "modify_pending_order_address": {"order_id": STR, **ADDRESS},
    "modify_pending_order_items": ORDER_SWAP,
    "modify_pending_order_payment": {"order_id": STR, "payment_method_id": STR},
    "modify_user_address": {"user_id": STR, **ADDRESS},
    "return_delivered_order_items": {"order_id": STR, "item_ids": STR_LIST,
                                     "payment_method_id": STR},
    "think": {"thought": STR},
    "transfer_to_human_agents": {"summary": STR},
}
WRITES = {"cancel_pending_order", "exchange_delivered_order_items",
          "modify_pending_order_address", "modify_pending_order_items",
          "modify_pending_order_payment", "modify_user_address",
          "return_delivered_order_items"}


def _structure(schema):
    """A property schema without its description."""
    out = {k: v for k, v in schema.items() if k != "description"}
    if "items" in out:
        out["items"] = _structure(out["items"])
    return out


def test_tools_in_tau_bench_order_with_kinds():
    domain = load_domain("retail")
    assert [t.name for t in domain.tools] == list(TAU_PARAMETERS)
    assert {t.name for t in domain.tools if t.kind == "write"} == WRITES
    assert [t.name for t in domain.tools if t.ends_conversation] == ["transfer_to_human_agents"]


@pytest.mark.parametrize("name", list(TAU_PARAMETERS))
def test_schema_matches_tau_bench(name):
    tool = load_domain("retail").tool(name)
    schema = tool.schema["function"]
    assert schema["name"] == name
    assert schema["description"]
    params = schema["parameters"]
    assert params["type"] == "object"
    assert list(params["properties"]) == list(TAU_PARAMETERS[name])
    assert params["required"] == list(TAU_PARAMETERS[name])
    for arg, prop in params["properties"].items():
        assert _structure(prop) == TAU_PARAMETERS[name][arg], arg
        assert prop["description"], arg


CALCULATIONS = [
    ("2 + 2", "4.0"),
    ("1 / 3", "0.33"),
    ("(100 - 12.5) * 2", "175.0"),
    ("-3 * (2 + -1)", "-3.0"),
    ("  7 / 2  ", "3.5"),
    ("2 ** 10", "1024.0"),
    ("7 // 2", "3.0"),
    ("1009.35 - 499.99 + 0.05", "509.41"),
    ("1 / 0", "Error: division by zero"),
    ("1 // 0", "Error: integer division or modulo by zero"),
    ("2 +", "Error: invalid syntax (<string>, line 1)"),
    ("", "Error: invalid syntax (<string>, line 0)"),
    ("()", "Error: float() argument must be a string or a real number, not 'tuple'"),
    ("(2)(3)", "Error: 'int' object is not callable"),
    ("(", "Error: '(' was never closed (<string>, line 1)"),
    ("__import__('os')", "Error: invalid characters in expression"),
    ("2 ^ 3", "Error: invalid characters in expression"),
    ("abs(-1)", "Error: invalid characters in expression"),
    ("9 ** 9 ** 9", "Error: int too large to convert to float"),
]


@pytest.mark.parametrize(("expression", "expected"), CALCULATIONS)
def test_calculate_matches_tau_bench_texts(expression, expected):
    assert retail_env().execute("calculate", {"expression": expression}) == expected


def test_calculate_never_calls_eval(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be used")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    env = retail_env()
    assert env.execute("calculate", {"expression": "(3 + 4) * 2 / 7"}) == "2.0"
    assert env.execute("calculate", {"expression": "__import__('os').system('true')"}) == (
        "Error: invalid characters in expression")


def test_reads_and_errors():
    env = retail_env()
    user_id = next(iter(env.state["users"]))
    user = env.state["users"][user_id]
    assert env.execute("find_user_id_by_email", {"email": user["email"].upper()}) == user_id
    assert env.execute("find_user_id_by_name_zip", {
        "first_name": user["name"]["first_name"].lower(),
        "last_name": user["name"]["last_name"], "zip": user["address"]["zip"]}) == user_id
    assert json.loads(env.execute("get_user_details", {"user_id": user_id})) == user
    assert env.execute("get_user_details", {"user_id": "nobody_1"}) == "Error: user not found"
    assert env.execute("find_user_id_by_email", {"email": "x@y.z"}) == "Error: user not found"
    assert env.execute("get_order_details", {"order_id": "#W0"}) == "Error: order not found"
    assert env.execute("get_product_details", {"product_id": "1"}) == "Error: product not found"
    listing = json.loads(env.execute("list_all_product_types", {}))
    assert list(listing) == sorted(listing) and len(listing) == 50
    assert env.execute("think", {"thought": "hm"}) == ""
    assert env.execute("transfer_to_human_agents", {"summary": "s"}) == "Transfer successful"


def test_cancel_checks_like_tau_bench():
    env = retail_env()
    pending_id, _ = find(env, "pending")
    bad = {"order_id": pending_id, "reason": "too expensive"}
    assert env.execute("cancel_pending_order", bad) == "Error: invalid reason"
    missing = {"order_id": "#W0000000", "reason": "too expensive"}
    assert env.execute("cancel_pending_order", missing) == "Error: order not found"
    assert env.state.changes() == {}


def test_failed_write_changes_nothing():
    env = retail_env()
    order_id, order = find(env, "delivered")
    before = env.hash()
    obs = env.execute("cancel_pending_order", {"order_id": order_id,
                                               "reason": "no longer needed"})
    assert obs == "Error: non-pending order cannot be cancelled"
    obs = env.execute("return_delivered_order_items", {
        "order_id": order_id, "item_ids": ["0000000000"],
        "payment_method_id": order["payment_history"][0]["payment_method_id"]})
    assert obs == "Error: some item not found"
    assert env.hash() == before and env.state.changes() == {}


SAMPLE = 25  # orders per status


def _sample(env, status):
    orders = env.state["orders"]
    return [o for o in orders if orders[o]["status"] == status][:SAMPLE]


def test_cancel_and_address_succeed_on_pending_orders():
    env = retail_env()
    for order_id in _sample(env, "pending"):
        address = {"address1": "1 Test Road", "address2": "", "city": "Boise",
                   "state": "ID", "country": "USA", "zip": "83702"}
        obs = env.execute("modify_pending_order_address", {"order_id": order_id, **address})
        assert json.loads(obs)["address"] == address
        obs = env.execute("cancel_pending_order", {"order_id": order_id,
                                                   "reason": "ordered by mistake"})
        cancelled = json.loads(obs)
        assert cancelled["status"] == "cancelled"
        assert cancelled["cancel_reason"] == "ordered by mistake"
        assert cancelled["payment_history"][-1]["transaction_type"] == "refund"


def test_modify_items_and_payment_succeed_on_pending_orders():
    env = retail_env()
    modified = paid = 0
    for order_id in _sample(env, "pending"):
        order = env.state["orders"][order_id]
        user_id = order["user_id"]
        current = order["payment_history"][0]["payment_method_id"]
        others = [m for m in methods(env, user_id, None) if m != current
                  and (not m.startswith("gift_card")
                       or env.state["users"][user_id]["payment_methods"][m]["balance"]
                       >= order["payment_history"][0]["amount"])]
        if others:
            obs = env.execute("modify_pending_order_payment",
                              {"order_id": order_id, "payment_method_id": others[0]})
            assert not obs.startswith("Error"), obs
            paid += 1
            continue
        item = order["items"][0]
        new_id = other_available(env, item)[0]
        card = [m for m in methods(env, user_id) if not m.startswith("gift_card")] or [current]
        obs = env.execute("modify_pending_order_items", {
            "order_id": order_id, "item_ids": [item["item_id"]], "new_item_ids": [new_id],
            "payment_method_id": card[0]})
        if obs.startswith("Error: insufficient gift card balance"):
            continue
        assert json.loads(obs)["status"] == "pending (item modified)", obs
        modified += 1
    assert modified >= 5 and paid >= 5


@pytest.mark.parametrize("tau", [True, False])
def test_return_and_exchange_succeed_on_delivered_orders(tau):
    env = retail_env(tau_compat=tau)
    delivered = _sample(env, "delivered")
    for n, order_id in enumerate(delivered):
        order = env.state["orders"][order_id]
        original = order["payment_history"][0]["payment_method_id"]
        items = [i["item_id"] for i in order["items"]]
        if n % 2 == 0:
            obs = env.execute("return_delivered_order_items", {
                "order_id": order_id, "item_ids": items, "payment_method_id": original})
            # τ-bench sorts the list; the corrected tool keeps the order asked
            assert json.loads(obs)["return_items"] == (sorted(items) if tau else items)
        else:
            new_ids = [other_available(env, i)[0] for i in order["items"]]
            non_gift = [m for m in methods(env, order["user_id"])
                        if not m.startswith("gift_card")]
            obs = env.execute("exchange_delivered_order_items", {
                "order_id": order_id, "item_ids": items, "new_item_ids": new_ids,
                "payment_method_id": (non_gift or [original])[0]})
            if obs.startswith("Error: insufficient gift card balance"):
                continue
            assert json.loads(obs)["status"] == "exchange requested", obs


def test_modify_user_address_succeeds():
    env = retail_env()
    for user_id in list(env.state["users"])[:SAMPLE]:
        obs = env.execute("modify_user_address", {
            "user_id": user_id, "address1": "9 Elm Street", "address2": "Apt 1",
            "city": "Tampa", "state": "FL", "country": "USA", "zip": "33602"})
        assert json.loads(obs)["address"]["city"] == "Tampa"


def test_modify_items_keeps_unrounded_difference_and_rounds_gift_card():
    env = retail_env(tau_compat=True)  # τ-bench's quirk; corrected in test_corrections.py
    order_id, order = find(env, "pending", lambda o: any(
        m.startswith("gift_card") for m in methods(env, o["user_id"])))
    gift = methods(env, order["user_id"], "gift_card")[0]
    balance = env.state["users"][order["user_id"]]["payment_methods"][gift]["balance"]
    item = order["items"][0]
    variants = env.state["products"][item["product_id"]]["variants"]
    cheaper = [v for v in other_available(env, item) if variants[v]["price"] < item["price"]]
    new_id = (cheaper or other_available(env, item))[0]
    obs = env.execute("modify_pending_order_items", {
        "order_id": order_id, "item_ids": [item["item_id"]], "new_item_ids": [new_id],
        "payment_method_id": gift})
    difference = variants[new_id]["price"] - item["price"]
    if obs.startswith("Error"):
        assert obs == "Error: insufficient gift card balance to pay for the new item"
        return
    entry = json.loads(obs)["payment_history"][-1]
    assert entry["amount"] == abs(difference)  # not rounded
    assert entry["transaction_type"] == ("payment" if difference > 0 else "refund")
    after = env.state["users"][order["user_id"]]["payment_methods"][gift]["balance"]
    assert after == round(balance - difference, 2)
