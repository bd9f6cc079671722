"""What drafters are told about retail beyond the user's records.

Preconditions say which of the user's orders each write tool can act on (a pending
order for cancel/modify, a delivered one for return/exchange, a payment method that can
cover the order); the catalogue excerpt lists the products of the user's items with
every variant, so a drafter can pick a real replacement item id.
"""

from __future__ import annotations

import random
from typing import Any

from apigen_mt.env.domain import DraftingHints
from apigen_mt.env.policy_text import sections_for
from apigen_mt.env.state import State

ITEM_TOOLS = {"modify_pending_order_items", "exchange_delivered_order_items"}
CATALOGUE_BUDGET = 12000  # characters of catalogue JSON (about 3,000 tokens)


def _orders(state: State, user_id: str, status: str) -> list[dict[str, Any]]:
    orders = state["orders"]
    return [orders[oid] for oid in state["users"][user_id]["orders"]
            if oid in orders and orders[oid]["status"] == status]


def _swappable(state: State, order: dict[str, Any]) -> list[str]:
    """Items of an order whose product has another available variant."""
    products = state["products"]
    out = []
    for item in order["items"]:
        pid = item["product_id"]
        product = products[pid] if pid in products else None  # noqa: SIM401
        if product and any(v["available"] and vid != item["item_id"]
                           for vid, v in product["variants"].items()):
            out.append(item["item_id"])
    return out


def _targets(orders: list[dict[str, Any]], **extra: list[Any]) -> dict[str, list[Any]] | None:
    if not orders:
        return None
    return {"order_id": [o["order_id"] for o in orders], **extra}


def _methods(state: State, user_id: str) -> dict[str, dict[str, Any]]:
    return state["users"][user_id]["payment_methods"]


def _total(order: dict[str, Any]) -> float:
    return sum(i["price"] for i in order["items"])


def _payment_change(state: State, user_id: str) -> dict[str, list[Any]] | None:
    methods = _methods(state, user_id)
    fits, payers = [], set()
    for order in _orders(state, user_id, "pending"):
        current = {p["payment_method_id"] for p in order["payment_history"]}
        ok = [pid for pid, m in methods.items() if pid not in current
              and (m["source"] != "gift_card" or m.get("balance", 0) >= _total(order))]
        if ok:
            fits.append(order)
            payers.update(ok)
    return _targets(fits, payment_method_id=sorted(payers)) if fits else None


def _item_change(status: str):
    def precondition(state: State, user_id: str) -> dict[str, list[Any]] | None:
        orders = [o for o in _orders(state, user_id, status) if _swappable(state, o)]
        if not orders:
            return None
        items = sorted({i for o in orders for i in _swappable(state, o)})
        return _targets(orders, item_ids=items)
    return precondition


def _return(state: State, user_id: str) -> dict[str, list[Any]] | None:
    orders = _orders(state, user_id, "delivered")
    if not orders:
        return None
    refund = {p["payment_method_id"] for o in orders for p in o["payment_history"]}
    refund |= {pid for pid, m in _methods(state, user_id).items() if m["source"] == "gift_card"}
    return _targets(orders, payment_method_id=sorted(refund))


def _pending(state: State, user_id: str) -> dict[str, list[Any]] | None:
    return _targets(_orders(state, user_id, "pending"))


PRECONDITIONS = {
    "cancel_pending_order": _pending,
    "modify_pending_order_address": _pending,
    "modify_pending_order_payment": _payment_change,
    "modify_pending_order_items": _item_change("pending"),
    "return_delivered_order_items": _return,
    "exchange_delivered_order_items": _item_change("delivered"),
}


def catalogue(state: State, user_id: str, first: list[str] = (),
              limit: int = CATALOGUE_BUDGET) -> dict[str, Any]:
    """The products of the user's pending and delivered items, every variant with its
    item id, options, price and availability, within ``limit`` characters: the orders in
    ``first`` (those the walk changes) before the others."""
    import json

    products = state["products"]
    orders = state["orders"]
    mine = [o for status in ("pending", "delivered") for o in _orders(state, user_id, status)]
    ranked = [orders[oid] for oid in first if oid in orders] + mine
    out: dict[str, Any] = {}
    size = 0
    for order in ranked:
        for item in order["items"]:
            pid = item["product_id"]
            if pid in out or pid not in products:
                continue
            product = products[pid]
            entry = {"name": product["name"], "product_id": pid,
                     "variants": {vid: {"item_id": vid, "options": v["options"],
                                        "price": v["price"], "available": v["available"]}
                                  for vid, v in product["variants"].items()}}
            cost = len(json.dumps(entry))
            if size + cost > limit:
                continue  # a smaller product may still fit
            out[pid] = entry
            size += cost
    return out


def excerpts(state: State, user_id: str, walk: dict[str, dict[str, list[Any]]],
             rng: random.Random) -> dict[str, Any]:
    """A catalogue excerpt when an item-changing tool is in the walk."""
    tools = ITEM_TOOLS & set(walk)
    if tools:
        first = [oid for t in sorted(tools) for oid in walk[t].get("order_id", [])]
        return {"catalogue": catalogue(state, user_id, first)}
    return {}


# heading words of the project's policy and of τ-bench's wiki → the tools they govern
POLICY_KEYWORDS = {
    "cancel": ["cancel_pending_order"],
    "chang": ["modify_pending_order_address", "modify_pending_order_payment",
              "modify_pending_order_items", "modify_user_address"],
    "modify": ["modify_pending_order_address", "modify_pending_order_payment",
               "modify_pending_order_items", "modify_user_address"],
    "return": ["return_delivered_order_items"],
    "exchang": ["exchange_delivered_order_items"],
}


def policy_for(text: str, tools: set[str]) -> str:
    """The general sections and those of the tools in play."""
    return sections_for(text, tools, POLICY_KEYWORDS, always=["working", "store", "basic"])


EXCLUSIVE = frozenset({"cancel_pending_order", "modify_pending_order_items",
                       "return_delivered_order_items", "exchange_delivered_order_items"})
"""Writes after which the order takes no other change (address and payment changes keep
an order pending, so they can share it)."""


HINTS = DraftingHints(preconditions=PRECONDITIONS, excerpts=excerpts, policy_for=policy_for,
                      exclusive=EXCLUSIVE)
