"""What the retail tools share: the tool mode, order lookups and checks, price
differences and gift-card balances, each as τ-bench computes it (or corrected, where the
domain README says so)."""

from __future__ import annotations

from typing import Any

from apigen_mt.env.state import State
from apigen_mt.env.tools import ToolError


def tau_mode(db: State) -> bool:
    """τ-bench's exact behaviour, quirks included (the ``tau_compat`` option)."""
    return bool(db.options.get("tau_compat"))


def listed(db: State, item_ids: list[str]) -> list[str]:
    """How a return or exchange stores its item ids."""
    # Quirk: τ-bench sorts them, losing which old item pairs with which new one
    # (corrected: kept in the order asked, so position i of both lists is one swap).
    return sorted(item_ids) if tau_mode(db) else list(item_ids)


def order_of(db: State, order_id: str) -> dict[str, Any]:
    """The order, or τ-bench's error."""
    if order_id not in db["orders"]:
        raise ToolError("order not found")
    return db["orders"][order_id]


def require_status(order: dict[str, Any], status: str, failure: str) -> None:
    """Fail with ``failure`` unless the order has exactly ``status``."""
    if order["status"] != status:
        raise ToolError(failure)


def user_methods(db: State, order: dict[str, Any]) -> dict[str, Any]:
    """The payment methods of the order's owner."""
    return db["users"][order["user_id"]]["payment_methods"]


def missing_item(order: dict[str, Any], item_ids: list[str]) -> str | None:
    """The first requested id asked for more often than the order holds it (duplicates count)."""
    held = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > held.count(item_id):
            return item_id
    return None


def first_item(order: dict[str, Any], item_id: str) -> dict[str, Any]:
    """The first item of the order carrying ``item_id``."""
    return next(item for item in order["items"] if item["item_id"] == item_id)


def price_difference(db: State, order: dict[str, Any], item_ids: list[str],
                      new_item_ids: list[str]) -> Any:
    """Sum of (new price - old price) over the pairs, in τ-bench's order and unrounded.

    Starts from the int ``0`` as τ-bench does, so an empty list stays an int.
    """
    if len(item_ids) != len(new_item_ids):
        raise ToolError("the number of items to be exchanged should match")
    total = 0
    for old_id, new_id in zip(item_ids, new_item_ids, strict=True):
        item = first_item(order, old_id)
        variants = db["products"][item["product_id"]]["variants"]
        if new_id not in variants or not variants[new_id]["available"]:
            raise ToolError(f"new item {new_id} not found or available")
        total += variants[new_id]["price"] - item["price"]
    return total


def address_record(address1: str, address2: str, city: str, state: str, country: str,
             zip: str) -> dict[str, str]:
    """An address record in τ-bench's key order."""
    return {"address1": address1, "address2": address2, "city": city, "state": state,
            "country": country, "zip": zip}


def adjust_balance(method: dict[str, Any], delta: Any) -> None:
    """Change a gift card's balance and round it to cents, as τ-bench does after each change."""
    method["balance"] += delta
    method["balance"] = round(method["balance"], 2)
