"""The built-in ``retail`` domain: τ-bench's online store, tool for tool and hash for hash.

An agent helps one customer at a time: cancel or change pending orders, return or
exchange delivered ones, update the default address, and answer questions about the
customer's profile, orders and the products on sale. Loaded with τ-bench's own data
(``--data-dir``) every τ-bench retail task reaches its ground-truth hash; by default the
data comes from the seeded generator in :mod:`.data`, and the tools correct the few
τ-bench quirks that would teach wrong facts (``tau_compat`` off; README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apigen_mt.env.domain import Domain
from apigen_mt.env.state import State

from .data import generate
from .hints import HINTS
from .rules import RULES
from .tools import ALL_TOOLS

# τ-bench's behaviour where the tools run in τ-bench mode (``tau_compat``); entries marked
# "corrected" behave otherwise by default (README: "τ-bench mode and the corrected tools").
QUIRKS = [
    "corrected: modify_pending_order_items stores the price difference unrounded (for "
    "example 0.04999999999999716) as the amount of its payment or refund entry, and takes "
    "it off a gift card before rounding the balance; exchange_delivered_order_items rounds "
    "its difference to cents.",
    "corrected: a price difference of exactly zero is recorded as a 'refund' of 0.",
    "Gift-card balances are rounded to cents after every change; refunds of cancelled "
    "orders go back onto the gift card at once, other methods are only recorded.",
    "cancel_pending_order refunds every payment-history entry and adds 'cancel_reason' to "
    "the order; τ-bench's shipped cancelled orders have no such field.",
    "cancel_pending_order's schema lists the two reasons, but the tool takes any string and "
    "checks it after the order, so an unknown order wins over a bad reason, and a bad reason "
    "reads 'Error: invalid reason'.",
    "Only status 'pending' counts as pending: an order in 'pending (item modified)' can no "
    "longer be cancelled or modified in any way.",
    "corrected: return_delivered_order_items accepts any payment-method id containing "
    "'gift_card' as a gift card, while the other tools check the method's 'source'.",
    "corrected: returns and exchanges store their item lists sorted, so the pairing of old "
    "and new items in an exchange is not kept.",
    "Email lookup is case-insensitive; name lookup is case-insensitive on the names but "
    "exact on the zip code, and the first match in table order wins.",
    "calculate rounds to 2 decimals and always prints a float ('4.0'); it accepts '**' and "
    "'//' since their characters are allowed, and its error texts are Python's.",
]


# τ-bench's hash of its own retail database (commit 59a200c6): loaded from --data-dir, that
# data gets τ-bench's exact tools; any other data gets the corrected ones (README).
TAU_DATA = frozenset({"5a4b2cb59f4d12dea7e4adff24a7f8fada510ead49372ea4a729a82bbb5f49b5"})


def user_view(state: State, user_id: str) -> dict[str, Any]:
    """One user's record (with its id) and all of their orders, for drafters."""
    user = state["users"][user_id]
    orders = state["orders"]
    return {
        "user": {"user_id": user_id, **user},
        "orders": {oid: orders[oid] for oid in user["orders"] if oid in orders},
    }


DOMAIN = Domain(
    name="retail",
    tools=ALL_TOOLS,
    tables=["orders", "products", "users"],
    generate=generate,
    root=Path(__file__).parent,
    rules=RULES,
    description=(
        "Customer service for an online store: identify the customer, then cancel or "
        "modify pending orders (address, payment method, item options), return or exchange "
        "items of delivered orders, update the default address, and answer questions about "
        "the customer's profile, orders and products."
    ),
    user_view=user_view,
    # Tools return free text, so the graph infers outputs from schemas; fill in what a
    # user record (order ids, payment methods), an order (product ids) and a product
    # (item ids) yield, and drop edges that only come from words in a description.
    graph_add=[
        ("find_user_id_by_email", "get_user_details"),
        ("find_user_id_by_name_zip", "get_user_details"),
        ("find_user_id_by_email", "modify_user_address"),
        ("find_user_id_by_name_zip", "modify_user_address"),
        ("get_user_details", "get_order_details"),
        ("get_user_details", "modify_pending_order_payment"),
        ("get_user_details", "modify_pending_order_items"),
        ("get_user_details", "exchange_delivered_order_items"),
        ("get_user_details", "return_delivered_order_items"),
        ("get_order_details", "get_product_details"),
        ("get_product_details", "modify_pending_order_items"),
        ("get_product_details", "exchange_delivered_order_items"),
    ],
    graph_remove=[
        ("find_user_id_by_name_zip", "find_user_id_by_email"),
        ("return_delivered_order_items", "find_user_id_by_email"),
        ("modify_pending_order_address", "find_user_id_by_name_zip"),
        ("modify_user_address", "find_user_id_by_name_zip"),
    ],
    generator_options={"users": 500, "orders": 1000, "products": 50},
    quirks=QUIRKS,
    hints=HINTS,
    tau_fingerprints=TAU_DATA,
    nested_extra_keys=True,  # as τ-bench's tools run them
)
