"""The retail policy as code: each rule reads an execution trace and names every breach.

A rule gets a :class:`RuleInput` (the executed calls, the state before each call and,
in a conversation, the chat messages) and returns one specific reason per violation;
an empty list means the rule holds. Failed calls changed nothing, so rules over the
trace look only at successful ones; the rules over chat messages (confirmation and
turn-taking) judge every attempted write too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apigen_mt.env.conversation import confirmation_violations, multi_call_violations
from apigen_mt.env.domain import PolicyRule, RuleInput
from apigen_mt.env.environment import Executed
from apigen_mt.env.ownership import one_owner_findings
from apigen_mt.env.state import State

from .tools import ALL_TOOLS, CANCEL_REASONS

WRITE_TOOLS = frozenset(t.name for t in ALL_TOOLS if t.kind == "write")
ORDER_WRITES = WRITE_TOOLS - {"modify_user_address"}
# Writes after which the order accepts no further change.
FINAL_WRITES = {
    "cancel_pending_order": "cancelled",
    "modify_pending_order_items": "had its items modified",
    "return_delivered_order_items": "had a return requested",
    "exchange_delivered_order_items": "had an exchange requested",
}

# --------------------------------------------------------------------- helpers


def _successful(data: RuleInput, names: frozenset[str] | set[str]) -> Iterator[
        tuple[int, Executed]]:
    for index, action in enumerate(data.actions):
        if action.ok and action.name in names:
            yield index, action


def _order_before(data: RuleInput, index: int, order_id: Any) -> dict[str, Any] | None:
    """The order as it was just before action ``index`` (None when it did not exist)."""
    orders = data.before[index]["orders"]
    return orders[order_id] if isinstance(order_id, str) and order_id in orders else None


def _user_of(state: State, action: Executed) -> str | None:
    """The user a write is about: the order's owner, or the user being edited."""
    if action.name == "modify_user_address":
        return action.arguments.get("user_id")
    order_id = action.arguments.get("order_id")
    orders = state["orders"]
    if isinstance(order_id, str) and order_id in orders:
        return orders[order_id]["user_id"]
    return None


def _pairs(action: Executed) -> list[tuple[Any, Any]]:
    old, new = action.arguments.get("item_ids", []), action.arguments.get("new_item_ids", [])
    return list(zip(old, new, strict=False))  # a forged or foreign trace may mismatch


# ------------------------------------------------------------------ trace rules


def cancel_only_pending_with_allowed_reason(data: RuleInput) -> list[str]:
    """Only a 'pending' order may be cancelled, for 'no longer needed' or 'ordered by
    mistake'."""
    reasons = []
    for i, action in _successful(data, {"cancel_pending_order"}):
        order_id = action.arguments.get("order_id")
        order = _order_before(data, i, order_id)
        if order is not None and order["status"] != "pending":
            reasons.append(f"cancel_pending_order on {order_id}, whose status was "
                           f"'{order['status']}', not 'pending'")
        reason = action.arguments.get("reason")
        if reason not in CANCEL_REASONS:
            reasons.append(f"cancel_pending_order on {order_id} with reason {reason!r}; "
                           f"allowed: {', '.join(CANCEL_REASONS)}")
    return reasons


def modify_items_at_most_once(data: RuleInput) -> list[str]:
    """The items of a pending order may be modified once, in a single call."""
    reasons = []
    done: set[str] = set()
    for i, action in _successful(data, {"modify_pending_order_items"}):
        order_id = action.arguments.get("order_id")
        order = _order_before(data, i, order_id)
        if order_id in done or (order is not None
                                and order["status"] == "pending (item modified)"):
            reasons.append(f"the items of {order_id} were modified more than once; collect "
                           "every item into one modify_pending_order_items call")
        done.add(order_id)
    return reasons


def no_change_after_final_write(data: RuleInput) -> list[str]:
    """Once an order is cancelled, item-modified, returned or exchanged, it takes no more
    changes in the same task."""
    reasons = []
    closed: dict[str, str] = {}  # order id -> what closed it
    for _, action in _successful(data, ORDER_WRITES):
        order_id = action.arguments.get("order_id")
        if order_id in closed and not (action.name == "modify_pending_order_items"
                                       and closed[order_id] == FINAL_WRITES[action.name]):
            # a second item modification is modify_items_at_most_once's to report
            reasons.append(f"{action.name} on {order_id} after the order "
                           f"{closed[order_id]}")
        if action.name in FINAL_WRITES:
            closed.setdefault(order_id, FINAL_WRITES[action.name])
    return reasons


def return_exchange_only_delivered(data: RuleInput) -> list[str]:
    """Only items of a 'delivered' order may be returned or exchanged."""
    reasons = []
    for i, action in _successful(data, {"return_delivered_order_items",
                                        "exchange_delivered_order_items"}):
        order_id = action.arguments.get("order_id")
        order = _order_before(data, i, order_id)
        if order is not None and order["status"] != "delivered":
            reasons.append(f"{action.name} on {order_id}, whose status was "
                           f"'{order['status']}', not 'delivered'")
    return reasons


def refund_to_original_or_gift_card(data: RuleInput) -> list[str]:
    """A return is refunded to the order's original payment method or to a gift card of the
    user."""
    reasons = []
    for i, action in _successful(data, {"return_delivered_order_items"}):
        order_id = action.arguments.get("order_id")
        order = _order_before(data, i, order_id)
        if order is None:
            continue
        method_id = action.arguments.get("payment_method_id")
        original = order["payment_history"][0]["payment_method_id"]
        methods = data.before[i]["users"][order["user_id"]]["payment_methods"]
        is_gift_card = method_id in methods and methods[method_id]["source"] == "gift_card"
        if method_id != original and not is_gift_card:
            reasons.append(f"the refund for {order_id} goes to {method_id}, which is neither "
                           f"the original payment method {original} nor a gift card")
    return reasons


def swaps_within_same_product(data: RuleInput) -> list[str]:
    """An item may only be exchanged or modified to an available item of the same product."""
    reasons = []
    for i, action in _successful(data, {"exchange_delivered_order_items",
                                        "modify_pending_order_items"}):
        order_id = action.arguments.get("order_id")
        order = _order_before(data, i, order_id)
        if order is None:
            continue
        products = data.before[i]["products"]
        held = {item["item_id"]: item for item in order["items"]}
        for old_id, new_id in _pairs(action):
            item = held.get(old_id)
            if item is None:
                continue
            variants = products[item["product_id"]]["variants"]
            if new_id not in variants:
                reasons.append(f"{action.name} on {order_id}: {new_id} is not an item of "
                               f"{item['name']} (product {item['product_id']}), the product "
                               f"of {old_id}")
            elif not variants[new_id]["available"]:
                reasons.append(f"{action.name} on {order_id}: {new_id} is not available")
    return reasons


def swaps_change_the_option(data: RuleInput) -> list[str]:
    """A modified pending item must become an item with different options.

    Exchanges are exempt: τ-bench's own ground truth exchanges a faulty delivered item
    for an identical new one (a replacement), so that is treated as allowed.
    """
    reasons = []
    for _, action in _successful(data, {"modify_pending_order_items"}):
        for old_id, new_id in _pairs(action):
            if old_id == new_id:
                reasons.append(f"{action.name} on {action.arguments.get('order_id')} swaps "
                               f"item {old_id} for itself")
    return reasons


def one_user_per_task(data: RuleInput) -> list[str]:
    """All changes concern one user, the one the task is for: the agent serves one user
    per conversation, and only on their own account and orders."""
    owners: dict[str, list[str]] = {}
    for i, action in _successful(data, WRITE_TOOLS):
        user_id = _user_of(data.before[i], action)
        if user_id is not None:
            target = action.arguments.get("order_id") or user_id
            owners.setdefault(user_id, []).append(f"{action.name} on {target}")
    return one_owner_findings(owners, data.user_id)


# ----------------------------------------------------------- conversation rules


def user_identified_before_write(data: RuleInput) -> list[str]:
    """The user is identified (by email, or by name and zip, or by looking up their user
    id) before any change to their account or orders."""
    if data.messages is None:  # a bare action list (a blueprint) need not look the user up
        return []
    reasons = []
    known: set[str] = set()
    for i, action in enumerate(data.actions):
        if not action.ok:
            continue
        if action.name in ("find_user_id_by_email", "find_user_id_by_name_zip"):
            known.add(action.observation)
        elif action.name == "get_user_details":
            known.add(action.arguments.get("user_id"))
        elif action.name in WRITE_TOOLS:
            user_id = _user_of(data.before[i], action)
            if user_id is not None and user_id not in known:
                target = action.arguments.get("order_id") or user_id
                reasons.append(f"{action.name} on {target} before user {user_id} was "
                               "identified")
    return reasons


def _describe(name: str, arguments: dict[str, Any]) -> str:
    target = arguments.get("order_id") or arguments.get("user_id")
    return f"{name} on {target}" if target else name


def explicit_confirmation_before_write(data: RuleInput) -> list[str]:
    """Every change is made only after the user explicitly says yes to it: the user's
    message just before the assistant turn that calls a write tool must agree."""
    return confirmation_violations(data.messages, WRITE_TOOLS, _describe)


def one_tool_call_per_turn(data: RuleInput) -> list[str]:
    """An assistant turn either makes one tool call or talks to the user, never both and
    never several calls at once."""
    return multi_call_violations(data.messages)


def _rule(check: Any, tools: set[str] | frozenset[str], conversation_only: bool = False,
          purpose: str = "") -> PolicyRule:
    return PolicyRule(name=check.__name__, description=" ".join(check.__doc__.split()),
                      check=check, conversation_only=conversation_only, purpose=purpose,
                      tools=frozenset(tools))


RULES: list[PolicyRule] = [
    _rule(cancel_only_pending_with_allowed_reason, {"cancel_pending_order"}),
    _rule(modify_items_at_most_once, {"modify_pending_order_items"}),
    _rule(no_change_after_final_write, ORDER_WRITES),
    _rule(return_exchange_only_delivered, {"return_delivered_order_items",
                                           "exchange_delivered_order_items"}),
    _rule(refund_to_original_or_gift_card, {"return_delivered_order_items"}),
    _rule(swaps_within_same_product, {"exchange_delivered_order_items",
                                      "modify_pending_order_items"}),
    _rule(swaps_change_the_option, {"modify_pending_order_items"}),
    _rule(one_user_per_task, WRITE_TOOLS),
    _rule(user_identified_before_write, WRITE_TOOLS | {"find_user_id_by_email",
                                                       "find_user_id_by_name_zip",
                                                       "get_user_details"},
          conversation_only=True, purpose="identification"),
    _rule(explicit_confirmation_before_write, WRITE_TOOLS, conversation_only=True,
          purpose="confirmation"),
    _rule(one_tool_call_per_turn, frozenset(t.name for t in ALL_TOOLS), conversation_only=True),
]
"""Every retail rule; the last three need a conversation."""
