"""Every retail policy rule flags a violating trace and passes a valid one."""

from __future__ import annotations

import json

import pytest

from apigen_mt.env.domain import RuleInput, load_domain
from apigen_mt.env.environment import Executed
from tests.envs_retail.helpers import find, forged, methods, other_available, retail_env, run

RULES = {rule.name: rule for rule in load_domain("retail").rules}


def check(name, data: RuleInput) -> list[str]:
    return RULES[name].check(data)


@pytest.fixture
def env():
    return retail_env()


def _pending(env):
    return find(env, "pending")


def _delivered(env, predicate=None):
    return find(env, "delivered", predicate)


def _cancel(order_id, reason="no longer needed"):
    return ("cancel_pending_order", {"order_id": order_id, "reason": reason})


def _swap(env, order, new_id=None):
    item = order["items"][0]
    return {"order_id": order["order_id"], "item_ids": [item["item_id"]],
            "new_item_ids": [new_id or other_available(env, item)[0]],
            "payment_method_id": order["payment_history"][0]["payment_method_id"]}


def _then(data: RuleInput, env, name, arguments) -> RuleInput:
    """``data`` followed by a forged successful call made on the current state."""
    return RuleInput(actions=[*data.actions, Executed(name, arguments, "{}", True, "write")],
                     before=[*data.before, env.state.fork()], messages=data.messages)


def test_rule_table():
    assert len(RULES) == len(load_domain("retail").rules)
    assert {n for n, r in RULES.items() if r.conversation_only} == {
        "user_identified_before_write", "explicit_confirmation_before_write",
        "one_tool_call_per_turn"}
    assert all(r.tools and r.description for r in RULES.values())


def test_cancel_only_pending_with_allowed_reason(env):
    pending_id, _ = _pending(env)
    delivered_id, _ = _delivered(env)
    assert check("cancel_only_pending_with_allowed_reason", run(env, [_cancel(pending_id)])) == []
    fresh = retail_env()
    reasons = check("cancel_only_pending_with_allowed_reason",
                    forged(fresh, *_cancel(delivered_id)))
    assert len(reasons) == 1 and delivered_id in reasons[0] and "delivered" in reasons[0]
    reasons = check("cancel_only_pending_with_allowed_reason",
                    forged(fresh, *_cancel(pending_id, "too expensive")))
    assert len(reasons) == 1 and "too expensive" in reasons[0]


def test_modify_items_at_most_once(env):
    order_id, order = _pending(env)
    data = run(env, [("modify_pending_order_items", _swap(env, order))])
    assert data.actions[0].ok
    assert check("modify_items_at_most_once", data) == []
    twice = _then(data, env, "modify_pending_order_items", _swap(env, order))
    reasons = check("modify_items_at_most_once", twice)
    assert len(reasons) == 1 and order_id in reasons[0]
    modified_id, modified = find(retail_env(), "pending (item modified)")
    reasons = check("modify_items_at_most_once", forged(
        retail_env(), "modify_pending_order_items", _swap(env, modified)))
    assert len(reasons) == 1 and modified_id in reasons[0]


def test_no_change_after_final_write(env):
    order_id, _ = _pending(env)
    address = {"order_id": order_id, "address1": "5 Mill Road", "address2": "",
               "city": "Omaha", "state": "NE", "country": "USA", "zip": "68102"}
    data = run(env, [("modify_pending_order_address", address), _cancel(order_id)])
    assert all(a.ok for a in data.actions)
    assert check("no_change_after_final_write", data) == []
    after = _then(data, env, "modify_pending_order_address", address)
    reasons = check("no_change_after_final_write", after)
    assert len(reasons) == 1 and order_id in reasons[0] and "cancelled" in reasons[0]


def test_return_exchange_only_delivered(env):
    delivered_id, delivered = _delivered(env)
    pay = delivered["payment_history"][0]["payment_method_id"]
    returned = ("return_delivered_order_items",
                {"order_id": delivered_id, "item_ids": [delivered["items"][0]["item_id"]],
                 "payment_method_id": pay})
    assert check("return_exchange_only_delivered", run(env, [returned])) == []
    pending_id, pending = _pending(retail_env())
    reasons = check("return_exchange_only_delivered", forged(
        retail_env(), "exchange_delivered_order_items", _swap(env, pending)))
    assert len(reasons) == 1 and pending_id in reasons[0] and "'pending'" in reasons[0]


def test_refund_to_original_or_gift_card(env):
    order_id, order = _delivered(env, lambda o: methods(env, o["user_id"], "gift_card"))
    gift = methods(env, order["user_id"], "gift_card")[0]
    items = [order["items"][0]["item_id"]]
    ok = run(env, [("return_delivered_order_items",
                    {"order_id": order_id, "item_ids": items, "payment_method_id": gift})])
    assert ok.actions[0].ok and check("refund_to_original_or_gift_card", ok) == []
    elsewhere = {"order_id": order_id, "item_ids": items,
                 "payment_method_id": "credit_card_0000000"}
    reasons = check("refund_to_original_or_gift_card",
                    forged(retail_env(), "return_delivered_order_items", elsewhere))
    assert len(reasons) == 1 and "credit_card_0000000" in reasons[0]


def test_swaps_within_same_product(env):
    order_id, order = _delivered(env)
    data = run(env, [("exchange_delivered_order_items", _swap(env, order))])
    assert data.actions[0].ok and check("swaps_within_same_product", data) == []
    products = retail_env().state["products"]
    foreign = next(p for p in products if p != order["items"][0]["product_id"])
    other_item = next(iter(products[foreign]["variants"]))
    reasons = check("swaps_within_same_product", forged(
        retail_env(), "exchange_delivered_order_items", _swap(env, order, other_item)))
    assert len(reasons) == 1 and other_item in reasons[0] and order_id in reasons[0]
    variants = products[order["items"][0]["product_id"]]["variants"]
    sold_out = next(v for v, var in variants.items() if not var["available"])
    reasons = check("swaps_within_same_product", forged(
        retail_env(), "exchange_delivered_order_items", _swap(env, order, sold_out)))
    assert reasons == [f"exchange_delivered_order_items on {order_id}: {sold_out} "
                       "is not available"]


def test_swaps_change_the_option(env):
    products = env.state["products"]

    def first_item_available(order):
        item = order["items"][0]
        return products[item["product_id"]]["variants"][item["item_id"]]["available"]

    _, order = _delivered(env, first_item_available)
    same = run(env, [("exchange_delivered_order_items",
                      _swap(env, order, order["items"][0]["item_id"]))])
    assert same.actions[0].ok  # the tool itself allows it, as τ-bench's does
    # a like-for-like exchange is a replacement, which τ-bench's ground truth does
    assert check("swaps_change_the_option", same) == []
    _, pending = find(env, "pending", first_item_available)
    modified = run(retail_env(), [("modify_pending_order_items",
                                   _swap(env, pending, pending["items"][0]["item_id"]))])
    assert modified.actions[0].ok
    reasons = check("swaps_change_the_option", modified)
    assert len(reasons) == 1 and "for itself" in reasons[0]


def test_one_user_per_task(env):
    orders = env.state["orders"]
    pending = [o for o in orders if orders[o]["status"] == "pending"]
    first = pending[0]
    user_id = orders[first]["user_id"]
    other_user = next(o for o in pending if orders[o]["user_id"] != user_id)
    reasons = check("one_user_per_task", run(env, [_cancel(first), _cancel(other_user)]))
    assert len(reasons) == 1 and user_id in reasons[0] and other_user in reasons[0]
    valid = [_cancel(first), ("modify_user_address", {
        "user_id": user_id, "address1": "2 Bay Street", "address2": "", "city": "Miami",
        "state": "FL", "country": "USA", "zip": "33101"})]
    assert check("one_user_per_task", run(retail_env(), valid)) == []


def test_user_identified_before_write(env):
    order_id, order = _pending(env)
    user_id = order["user_id"]
    user = env.state["users"][user_id]
    reasons = check("user_identified_before_write", run(env, [_cancel(order_id)], messages=[]))
    assert len(reasons) == 1 and user_id in reasons[0] and order_id in reasons[0]
    by_email = run(retail_env(), [("find_user_id_by_email", {"email": user["email"]}),
                                  _cancel(order_id)], messages=[])
    assert check("user_identified_before_write", by_email) == []
    by_details = run(retail_env(), [("get_user_details", {"user_id": user_id}),
                                    _cancel(order_id)], messages=[])
    assert check("user_identified_before_write", by_details) == []
    wrong_user = next(u for u in env.state["users"] if u != user_id)
    other = run(retail_env(), [("get_user_details", {"user_id": wrong_user}),
                               _cancel(order_id)], messages=[])
    assert len(check("user_identified_before_write", other)) == 1
    # a bare blueprint (no conversation) is not judged by this rule
    assert check("user_identified_before_write", run(retail_env(), [_cancel(order_id)])) == []


def _assistant_call(name, arguments, content=None, n=1):
    calls = [{"id": f"call_{i}", "type": "function",
              "function": {"name": name, "arguments": json.dumps(arguments)}} for i in range(n)]
    return {"role": "assistant", "content": content, "tool_calls": calls}


def _conversation(user_reply):
    args = {"order_id": "#W1234567", "reason": "no longer needed"}
    return [
        {"role": "system", "content": "policy"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Cancel #W1234567, I no longer need it."},
        {"role": "assistant", "content": "I will cancel #W1234567 (no longer needed). OK?"},
        {"role": "user", "content": user_reply},
        _assistant_call("get_order_details", {"order_id": "#W1234567"}),
        {"role": "tool", "tool_call_id": "call_0", "content": "{}"},
        _assistant_call("cancel_pending_order", args),
        {"role": "tool", "tool_call_id": "call_0", "content": "{}"},
    ]


@pytest.mark.parametrize("reply", ["Yes, please.", "yes", "Confirmed, go ahead.",
                                   "Sure, proceed."])
def test_explicit_confirmation_accepts_a_yes(reply):
    data = RuleInput(actions=[], before=[], messages=_conversation(reply))
    assert check("explicit_confirmation_before_write", data) == []


@pytest.mark.parametrize("reply", ["Hmm, how much was it again?", "No, don't proceed yet.",
                                   "Wait, let me think."])
def test_explicit_confirmation_flags_a_missing_yes(reply):
    data = RuleInput(actions=[], before=[], messages=_conversation(reply))
    reasons = check("explicit_confirmation_before_write", data)
    assert len(reasons) == 1 and "cancel_pending_order on #W1234567" in reasons[0]


def test_explicit_confirmation_needs_a_user_turn():
    messages = [{"role": "system", "content": "policy"},
                _assistant_call("modify_user_address", {"user_id": "a_b_1"})]
    reasons = check("explicit_confirmation_before_write",
                    RuleInput(actions=[], before=[], messages=messages))
    assert reasons == ["modify_user_address on a_b_1 before the user said anything"]


def test_one_tool_call_per_turn():
    valid = RuleInput(actions=[], before=[], messages=_conversation("yes"))
    assert check("one_tool_call_per_turn", valid) == []
    two = [{"role": "user", "content": "hi"},
           _assistant_call("get_order_details", {"order_id": "#W1"}, n=2)]
    reasons = check("one_tool_call_per_turn", RuleInput([], [], two))
    assert len(reasons) == 1 and "2 tool calls" in reasons[0]
    mixed = [{"role": "user", "content": "hi"},
             _assistant_call("get_order_details", {"order_id": "#W1"}, content="Checking!")]
    reasons = check("one_tool_call_per_turn", RuleInput([], [], mixed))
    assert len(reasons) == 1 and "both replies" in reasons[0]


def test_failed_calls_are_ignored(env):
    delivered_id, _ = _delivered(env)
    data = run(env, [_cancel(delivered_id)])
    assert not data.actions[0].ok
    for rule in RULES.values():
        if not rule.conversation_only:
            assert rule.check(data) == [], rule.name
