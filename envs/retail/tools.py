"""The sixteen retail tools: τ-bench's retail tools, and their corrections.

Every check runs in τ-bench's order and fails with τ-bench's error text, and every
successful call returns the same text τ-bench returns (``json.dumps`` of the same
record, keys in the same order). Float arithmetic also follows τ-bench step by step,
because the τ-bench state hash is taken over ``str()`` of the stored floats: price
differences of item modifications are stored unrounded, exchange differences are
rounded to cents, and gift-card balances are rounded after each change.

That is the behaviour with the state option ``tau_compat`` (τ-bench's own data,
``env replay --hash tau``, or ``tau_compat: true``). Otherwise (generated data, by
default) the few oddities that would teach an agent wrong facts are corrected, each
marked ``Corrected`` below and listed in the domain README.

Tools read records with ``db[table][key]`` and take a private copy with
``db[table].edit(key)`` before changing anything; the engine rolls a failed call back.
"""

from __future__ import annotations

import copy
import json
from typing import Annotated

from pydantic import WithJsonSchema

from apigen_mt.env.calculator import CalculationError, evaluate
from apigen_mt.env.state import State
from apigen_mt.env.tools import ToolError, tool

from .orders import (
    address_record,
    adjust_balance,
    first_item,
    listed,
    missing_item,
    order_of,
    price_difference,
    require_status,
    tau_mode,
    user_methods,
)

CANCEL_REASONS = ("no longer needed", "ordered by mistake")
# The schema lists the two reasons, but any string gets through to the tool, which checks
# it after the order (as τ-bench does): an unknown order is reported before a bad reason,
# and a bad reason reads "Error: invalid reason".
CancelReason = Annotated[str, WithJsonSchema({"type": "string", "enum": list(CANCEL_REASONS)})]


# --------------------------------------------------------------------- calculate


@tool(kind="read")
def calculate(db: State, expression: str) -> str:
    """Work out the value of an arithmetic expression.

    Args:
        expression: The mathematical expression to calculate, such as '2 + 2'. The
            expression can contain numbers, operators (+, -, *, /), parentheses, and spaces.
    """
    try:
        return evaluate(expression)
    except CalculationError as exc:
        raise ToolError(str(exc)) from None


# ------------------------------------------------------------------ write tools


@tool(kind="write")
def cancel_pending_order(db: State, order_id: str, reason: CancelReason) -> str:
    """Cancel an order that is still pending; processed or delivered orders cannot be
    cancelled. Before calling, the agent explains what the cancellation does and gets an
    explicit yes from the user. The order becomes 'cancelled' and its payments are
    refunded: at once onto a gift card when one was used, otherwise within 5-7 business
    days. Returns the order details after the cancellation.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at
            the beginning of the order id.
        reason: The reason for cancellation, which should be either 'no longer needed' or
            'ordered by mistake'.
    """
    order = order_of(db, order_id)
    require_status(order, "pending", "non-pending order cannot be cancelled")
    if reason not in CANCEL_REASONS:
        raise ToolError("invalid reason")

    order = db["orders"].edit(order_id)
    refunds = []
    for payment in order["payment_history"]:
        method_id = payment["payment_method_id"]
        refunds.append({"transaction_type": "refund", "amount": payment["amount"],
                        "payment_method_id": method_id})
        if "gift_card" in method_id:  # gift cards are credited immediately
            user = db["users"].edit(order["user_id"])
            adjust_balance(user["payment_methods"][method_id], payment["amount"])
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["payment_history"].extend(refunds)
    return json.dumps(order)


@tool(kind="write")
def exchange_delivered_order_items(db: State, order_id: str, item_ids: list[str],
                                   new_item_ids: list[str], payment_method_id: str) -> str:
    """Swap items of a delivered order for other items of the same product. A delivered
    order can be returned or exchanged only once by the agent. Before calling, the agent
    explains the exchange and gets an explicit yes from the user.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at
            the beginning of the order id.
        item_ids: The item ids to be exchanged, each such as '1008292230'. There could be
            duplicate items in the list.
        new_item_ids: The item ids to be exchanged for, each such as '1008292230'. There
            could be duplicate items in the list. Each new item id should match the item id
            in the same position and be of the same product.
        payment_method_id: The payment method id to pay or receive refund for the item
            price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These
            can be looked up from the user or order details.
    """
    order = order_of(db, order_id)
    require_status(order, "delivered", "non-delivered order cannot be exchanged")
    missing = missing_item(order, item_ids)
    if missing is not None:
        raise ToolError(f"{missing} not found")
    difference = round(price_difference(db, order, item_ids, new_item_ids), 2)

    methods = user_methods(db, order)
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    method = methods[payment_method_id]
    if method["source"] == "gift_card" and method["balance"] < difference:
        raise ToolError("insufficient gift card balance to pay for the price difference")

    order = db["orders"].edit(order_id)
    order["status"] = "exchange requested"
    order["exchange_items"] = listed(db, item_ids)
    order["exchange_new_items"] = listed(db, new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = difference
    return json.dumps(order)


# ------------------------------------------------------------------- read tools


@tool(kind="read")
def find_user_id_by_email(db: State, email: str) -> str:
    """Look up a user id from an email address (case-insensitive). Returns an error when
    no user has that email.

    Args:
        email: The email of the user, such as 'something@example.com'.
    """
    wanted = email.lower()
    for user_id, profile in db["users"].items():
        if profile["email"].lower() == wanted:
            return user_id
    raise ToolError("user not found")


@tool(kind="read")
def find_user_id_by_name_zip(db: State, first_name: str, last_name: str, zip: str) -> str:
    """Look up a user id from first name, last name and zip code; returns an error when no
    user matches. Email lookup is the default: use this only when the user cannot be found
    by email or does not remember it.

    Args:
        first_name: The first name of the customer, such as 'John'.
        last_name: The last name of the customer, such as 'Doe'.
        zip: The zip code of the customer, such as '12345'.
    """
    first, last = first_name.lower(), last_name.lower()
    for user_id, profile in db["users"].items():
        if (profile["name"]["first_name"].lower() == first
                and profile["name"]["last_name"].lower() == last
                and profile["address"]["zip"] == zip):
            return user_id
    raise ToolError("user not found")


@tool(kind="read")
def get_order_details(db: State, order_id: str) -> str:
    """Show an order's status and full details.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at
            the beginning of the order id.
    """
    return json.dumps(order_of(db, order_id))


@tool(kind="read")
def get_product_details(db: State, product_id: str) -> str:
    """Show a product's inventory: every variant with its options, availability and price.

    Args:
        product_id: The product id, such as '6086499569'. Be careful the product id is
            different from the item id.
    """
    if product_id not in db["products"]:
        raise ToolError("product not found")
    return json.dumps(db["products"][product_id])


@tool(kind="read")
def get_user_details(db: State, user_id: str) -> str:
    """Show a user's profile: name, address, email, payment methods and orders.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
    """
    if user_id not in db["users"]:
        raise ToolError("user not found")
    return json.dumps(db["users"][user_id])


@tool(kind="read")
def list_all_product_types(db: State) -> str:
    """List every product type by name with its product id. Each product type comes in
    several items, each with its own item id and options. The store has 50 product types.
    """
    products = db["products"]
    by_name = {products[pid]["name"]: products[pid]["product_id"] for pid in products}
    return json.dumps(dict(sorted(by_name.items())))


# ------------------------------------------------------------ more write tools


@tool(kind="write")
def modify_pending_order_address(db: State, order_id: str, address1: str, address2: str,
                                 city: str, state: str, country: str, zip: str) -> str:
    """Change the shipping address of a pending order. Before calling, the agent explains
    the change and gets an explicit yes from the user.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at
            the beginning of the order id.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1' or ''.
        city: The city, such as 'San Francisco'.
        state: The province, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """
    order = order_of(db, order_id)
    require_status(order, "pending", "non-pending order cannot be modified")
    order = db["orders"].edit(order_id)
    order["address"] = address_record(address1, address2, city, state, country, zip)
    return json.dumps(order)


@tool(kind="write")
def modify_pending_order_items(db: State, order_id: str, item_ids: list[str],
                               new_item_ids: list[str], payment_method_id: str) -> str:
    """Change items of a pending order to other items of the same product. This can be
    done only once for a pending order. Before calling, the agent explains the change and
    gets an explicit yes from the user.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at
            the beginning of the order id.
        item_ids: The item ids to be modified, each such as '1008292230'. There could be
            duplicate items in the list.
        new_item_ids: The item ids to be modified for, each such as '1008292230'. There
            could be duplicate items in the list. Each new item id should match the item id
            in the same position and be of the same product.
        payment_method_id: The payment method id to pay or receive refund for the item
            price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These
            can be looked up from the user or order details.
    """
    order = order_of(db, order_id)
    require_status(order, "pending", "non-pending order cannot be modified")
    missing = missing_item(order, item_ids)
    if missing is not None:
        raise ToolError(f"{missing} not found")
    difference = price_difference(db, order, item_ids, new_item_ids)
    if not tau_mode(db):
        # Corrected: in cents, like every other amount (quirk: τ-bench keeps the float
        # noise, e.g. 0.04999999999999716, in the payment entry and the gift-card check)
        difference = round(difference, 2)

    methods = user_methods(db, order)
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    method = methods[payment_method_id]
    if method["source"] == "gift_card" and method["balance"] < difference:
        raise ToolError("insufficient gift card balance to pay for the new item")

    order = db["orders"].edit(order_id)
    # Quirk: a zero difference is recorded as a refund of 0 (corrected: nothing is paid or
    # refunded, so nothing is recorded).
    if difference != 0 or tau_mode(db):
        order["payment_history"].append({
            "transaction_type": "payment" if difference > 0 else "refund",
            "amount": abs(difference),
            "payment_method_id": payment_method_id,
        })
    if method["source"] == "gift_card":
        user = db["users"].edit(order["user_id"])
        adjust_balance(user["payment_methods"][payment_method_id], -difference)

    # One pair at a time, each time the first item still carrying the old id.
    variants_of = db["products"]
    for old_id, new_id in zip(item_ids, new_item_ids, strict=True):
        item = first_item(order, old_id)
        variant = variants_of[item["product_id"]]["variants"][new_id]
        item["item_id"] = new_id
        item["price"] = variant["price"]
        item["options"] = copy.deepcopy(variant["options"])
    order["status"] = "pending (item modified)"
    return json.dumps(order)


@tool(kind="write")
def modify_pending_order_payment(db: State, order_id: str, payment_method_id: str) -> str:
    """Pay for a pending order with another payment method. Before calling, the agent
    explains the change and gets an explicit yes from the user.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at
            the beginning of the order id.
        payment_method_id: The payment method id to pay or receive refund for the item
            price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These
            can be looked up from the user or order details.
    """
    order = order_of(db, order_id)
    require_status(order, "pending", "non-pending order cannot be modified")
    methods = user_methods(db, order)
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    history = order["payment_history"]
    if len(history) > 1 or history[0]["transaction_type"] != "payment":
        raise ToolError("there should be exactly one payment for a pending order")
    old_method_id = history[0]["payment_method_id"]
    if old_method_id == payment_method_id:
        raise ToolError("the new payment method should be different from the current one")
    amount = history[0]["amount"]
    if methods[payment_method_id]["source"] == "gift_card" and \
            methods[payment_method_id]["balance"] < amount:
        raise ToolError("insufficient gift card balance to pay for the order")

    order = db["orders"].edit(order_id)
    order["payment_history"].extend([
        {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
        {"transaction_type": "refund", "amount": amount, "payment_method_id": old_method_id},
    ])
    if methods[payment_method_id]["source"] == "gift_card":
        user = db["users"].edit(order["user_id"])
        adjust_balance(user["payment_methods"][payment_method_id], -amount)
    if "gift_card" in old_method_id:
        user = db["users"].edit(order["user_id"])
        adjust_balance(user["payment_methods"][old_method_id], amount)
    return json.dumps(order)


@tool(kind="write")
def modify_user_address(db: State, user_id: str, address1: str, address2: str, city: str,
                        state: str, country: str, zip: str) -> str:
    """Change a user's default address. Before calling, the agent explains the change and
    gets an explicit yes from the user.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1' or ''.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """
    if user_id not in db["users"]:
        raise ToolError("user not found")
    user = db["users"].edit(user_id)
    user["address"] = address_record(address1, address2, city, state, country, zip)
    return json.dumps(user)


@tool(kind="write")
def return_delivered_order_items(db: State, order_id: str, item_ids: list[str],
                                 payment_method_id: str) -> str:
    """Return some items of a delivered order; the order becomes 'return requested'.
    Before calling, the agent explains the return and gets an explicit yes from the user.
    The user then receives an email saying how and where to send the items back.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at
            the beginning of the order id.
        item_ids: The item ids to be returned, each such as '1008292230'. There could be
            duplicate items in the list.
        payment_method_id: The payment method id to pay or receive refund for the item
            price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These
            can be looked up from the user or order details.
    """
    order = order_of(db, order_id)
    require_status(order, "delivered", "non-delivered order cannot be returned")
    methods = user_methods(db, order)
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    # Quirk: τ-bench takes any id containing "gift_card" for a gift card (corrected: the
    # method's source says, as in the other tools).
    is_gift_card = ("gift_card" in payment_method_id if tau_mode(db)
                    else methods[payment_method_id]["source"] == "gift_card")
    if (not is_gift_card
            and payment_method_id != order["payment_history"][0]["payment_method_id"]):
        raise ToolError(
            "payment method should be either the original payment method or a gift card")
    if missing_item(order, item_ids) is not None:
        raise ToolError("some item not found")

    order = db["orders"].edit(order_id)
    order["status"] = "return requested"
    order["return_items"] = listed(db, item_ids)
    order["return_payment_method_id"] = payment_method_id
    return json.dumps(order)


# ----------------------------------------------------------------- other tools


@tool(kind="read")
def think(db: State, thought: str) -> str:
    """Think something through. Nothing is looked up and nothing in the database changes;
    the thought is only added to the log. Useful for complex reasoning or as a scratchpad.

    Args:
        thought: A thought to think about.
    """
    return ""


@tool(kind="read", ends_conversation=True)
def transfer_to_human_agents(db: State, summary: str) -> str:
    """Hand the user over to a human agent together with a summary of the issue. Transfer
    only when the user explicitly asks for a human, or when the issue cannot be solved
    with the available tools.

    Args:
        summary: A summary of the user's issue.
    """
    return "Transfer successful"


ALL_TOOLS = [
    calculate,
    cancel_pending_order,
    exchange_delivered_order_items,
    find_user_id_by_email,
    find_user_id_by_name_zip,
    get_order_details,
    get_product_details,
    get_user_details,
    list_all_product_types,
    modify_pending_order_address,
    modify_pending_order_items,
    modify_pending_order_payment,
    modify_user_address,
    return_delivered_order_items,
    think,
    transfer_to_human_agents,
]
"""Every retail tool, in τ-bench's order."""
