"""Every bank policy rule flags a violating trace and passes a valid one; the violations
are ones the tools let through, so only the policy check can catch them."""

from __future__ import annotations

import pytest

from apigen_mt.env.domain import RuleInput, load_domain
from apigen_mt_envs.bank.data import TODAY
from tests.envs_bank.helpers import account_of, bank_env, customer_with, first, payee_of, run

RULES = {rule.name: rule for rule in load_domain("bank").rules}


def check(name: str, data: RuleInput) -> list[str]:
    return RULES[name].check(data)


def executed_cleanly(data: RuleInput) -> bool:
    return all(a.ok for a in data.actions)


@pytest.fixture
def env():
    return bank_env()


def _rich(env, cid):
    return account_of(env, cid, "checking", predicate=lambda a: a["balance"] > 3000)


def test_rule_table():
    assert len(RULES) == 10
    assert {n for n, r in RULES.items() if r.conversation_only} == {
        "customer_identified_before_write", "explicit_yes_before_write"}
    assert all(r.tools and r.description for r in RULES.values())
    assert all(r.check.__name__ == name for name, r in RULES.items())


def test_transfers_stay_with_the_customer(env):
    cid = customer_with(env, lambda c, r: _rich(env, c) and account_of(env, c, "savings"))
    mine, savings = _rich(env, cid), account_of(env, cid, "savings")
    stranger = first(env, "accounts", lambda a: a["customer_id"] != cid
                     and a["type"] == "checking" and a["status"] == "open")
    bad = run(env, [("transfer_between_accounts", {"from_account_id": mine,
                                                   "to_account_id": stranger, "amount": 40})])
    assert executed_cleanly(bad)
    [reason] = check("transfers_stay_with_the_customer", bad)
    assert f"'{stranger}'" in reason and "another customer" in reason
    good = run(bank_env(), [("transfer_between_accounts", {
        "from_account_id": mine, "to_account_id": savings, "amount": 40})])
    assert executed_cleanly(good) and check("transfers_stay_with_the_customer", good) == []


def test_no_money_out_of_frozen_accounts(env):
    cid = customer_with(env, lambda c, r: account_of(
        env, c, "checking", "frozen", lambda a: a["balance"] > 50) and payee_of(env, c))
    frozen = account_of(env, cid, "checking", "frozen")
    bad = run(env, [("send_payment_to_payee", {"account_id": frozen,
                                               "payee_id": payee_of(env, cid), "amount": 25})])
    assert executed_cleanly(bad)
    assert "frozen" in check("no_money_out_of_frozen_accounts", bad)[0]
    # money may still arrive in a frozen account
    other = next(a for a in env.state["customers"][cid]["accounts"]
                 if env.state["accounts"][a]["status"] == "open"
                 and env.state["accounts"][a]["type"] != "credit"
                 and env.state["accounts"][a]["balance"] > 50)
    good = run(bank_env(), [("transfer_between_accounts", {
        "from_account_id": other, "to_account_id": frozen, "amount": 25})])
    assert executed_cleanly(good) and check("no_money_out_of_frozen_accounts", good) == []


def test_daily_payment_limit_counts_todays_payments(env):
    cid = customer_with(env, lambda c, r: r["daily_payment_limit"] == 1000
                        and _rich(env, c) and payee_of(env, c))
    checking, payee_id = _rich(env, cid), payee_of(env, cid)
    already = sum(env.state["transactions"][t]["amount"]
                  for a in env.state["customers"][cid]["accounts"]
                  for t in env.state["accounts"][a]["transactions"]
                  if env.state["transactions"][t]["date"] == TODAY
                  and env.state["transactions"][t]["category"] == "payee_payment")
    room = round(1000 - already, 2)
    pay = ("send_payment_to_payee", {"account_id": checking, "payee_id": payee_id,
                                     "amount": room})
    good = run(env, [pay])
    assert executed_cleanly(good) and check("daily_payment_limit", good) == []
    bad = run(bank_env(), [pay, ("send_payment_to_payee", {
        "account_id": checking, "payee_id": payee_id, "amount": 1})])
    assert executed_cleanly(bad)
    [reason] = check("daily_payment_limit", bad)
    assert "over the daily limit of 1000" in reason and "'1'" in reason
    # transfers between the customer's own accounts do not count
    savings = account_of(bank_env(), cid, "savings")
    if savings:
        own = run(bank_env(), [("transfer_between_accounts", {
            "from_account_id": checking, "to_account_id": savings, "amount": 2000}), pay])
        assert executed_cleanly(own) and check("daily_payment_limit", own) == []


def test_savings_withdrawal_limit(env):
    full = first(env, "accounts", lambda a: a["type"] == "savings" and a["status"] == "open"
                 and a["withdrawals_this_month"] == 6 and a["balance"] > 100)
    cid = env.state["accounts"][full]["customer_id"]
    checking = account_of(env, cid, "checking")
    move = ("transfer_between_accounts", {"from_account_id": full, "to_account_id": checking,
                                          "amount": 50})
    bad = run(env, [move])
    assert executed_cleanly(bad)
    assert "already had 6 withdrawals" in check("savings_withdrawal_limit", bad)[0]
    five = first(env, "accounts", lambda a: a["type"] == "savings" and a["status"] == "open"
                 and a["withdrawals_this_month"] == 2 and a["balance"] > 500
                 and account_of(env, a["customer_id"], "checking"))
    to = account_of(env, env.state["accounts"][five]["customer_id"], "checking")
    moves = [("transfer_between_accounts", {"from_account_id": five, "to_account_id": to,
                                            "amount": 10})] * 5
    data = run(bank_env(), moves)
    assert executed_cleanly(data)
    # withdrawals 3..6 are allowed, the seventh is not
    assert len(check("savings_withdrawal_limit", data)) == 1
    assert check("savings_withdrawal_limit", RuleInput(data.actions[:4], data.before[:4])) == []


def test_new_payees_wait_a_day(env):
    cid = customer_with(env, lambda c, r: _rich(env, c) and payee_of(env, c))
    checking = _rich(env, cid)
    added = env.execute("add_payee", {"customer_id": cid, "name": "Sierra Vista Rentals",
                                      "bank": "Granite Trust", "account_number": "4410029871"})
    new_id = added.split('"payee_id": "')[1].split('"')[0]
    bad = run(env, [("send_payment_to_payee", {"account_id": checking, "payee_id": new_id,
                                               "amount": 20})])
    assert executed_cleanly(bad)
    assert f"'{new_id}'" in check("new_payees_wait_a_day", bad)[0]
    good = run(bank_env(), [("send_payment_to_payee", {
        "account_id": checking, "payee_id": payee_of(env, cid), "amount": 20})])
    assert executed_cleanly(good) and check("new_payees_wait_a_day", good) == []
    # a payee saved earlier today (in the data) waits too
    today_cid = customer_with(env, lambda c, r: payee_of(env, c, added_before_today=False)
                              and account_of(env, c, "checking",
                                             predicate=lambda a: a["balance"] > 30))
    data = run(bank_env(), [("send_payment_to_payee", {
        "account_id": account_of(env, today_cid, "checking",
                                 predicate=lambda a: a["balance"] > 30),
        "payee_id": payee_of(env, today_cid, added_before_today=False), "amount": 20})])
    assert executed_cleanly(data) and check("new_payees_wait_a_day", data)


def test_disputes_within_window(env):
    def charge(predicate):
        return first(env, "transactions", lambda t: t["direction"] == "debit"
                     and t["dispute_id"] is None and predicate(t))

    old = charge(lambda t: t["date"] < "2025-03-01")
    pending = charge(lambda t: t["status"] == "pending")
    recent = charge(lambda t: t["status"] == "posted" and t["date"] >= "2025-04-20")
    bad = run(env, [("open_dispute", {"transaction_id": old, "reason": "unauthorized"}),
                    ("open_dispute", {"transaction_id": pending, "reason": "duplicate_charge"})])
    assert executed_cleanly(bad)
    reasons = check("disputes_within_window", bad)
    assert len(reasons) == 2
    assert "60-day window" in reasons[0] and "still pending" in reasons[1]
    good = run(bank_env(), [("open_dispute", {"transaction_id": recent,
                                              "reason": "not_received"})])
    assert executed_cleanly(good) and check("disputes_within_window", good) == []


def test_bank_freezes_stay(env):
    by_bank = first(env, "cards", lambda c: c["status"] == "frozen" and c["frozen_by"] == "bank")
    by_customer = first(env, "cards", lambda c: c["status"] == "frozen"
                        and c["frozen_by"] == "customer")
    bad = run(env, [("unfreeze_card", {"card_id": by_bank})])
    assert executed_cleanly(bad)
    assert "fraud team" in check("bank_freezes_stay", bad)[0]
    good = run(bank_env(), [("unfreeze_card", {"card_id": by_customer})])
    assert executed_cleanly(good) and check("bank_freezes_stay", good) == []


def test_one_customer_per_conversation(env):
    a = first(env, "cards", lambda c: c["status"] == "active")
    owner = env.state["cards"][a]["customer_id"]
    b = first(env, "cards", lambda c: c["status"] == "active" and c["customer_id"] != owner)
    bad = run(env, [("freeze_card", {"card_id": a}), ("freeze_card", {"card_id": b})])
    assert executed_cleanly(bad)
    assert "2 customers" in check("one_customer_per_conversation", bad)[0]
    good = run(bank_env(), [("freeze_card", {"card_id": a}), ("update_address", {
        "customer_id": owner, "address1": "1 Main St", "address2": "", "city": "Reno",
        "state": "NV", "zip": "89501"})])
    assert executed_cleanly(good) and check("one_customer_per_conversation", good) == []


# ----------------------------------------------------------- conversation rules


def _conversation(env, card_id, email, yes="Yes, please go ahead."):
    messages = [
        {"role": "assistant", "content": "Hi! How can I help you today?"},
        {"role": "user", "content": "Please freeze my card."},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
         "function": {"name": "find_customer_id_by_email",
                      "arguments": f'{{"email": "{email}"}}'}}]},
        {"role": "tool", "tool_call_id": "1", "content": "C"},
        {"role": "assistant", "content": f"I will freeze card {card_id}. Shall I proceed?"},
        {"role": "user", "content": yes},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "2", "type": "function",
         "function": {"name": "freeze_card", "arguments": f'{{"card_id": "{card_id}"}}'}}]},
    ]
    return messages


def test_customer_identified_before_write(env):
    card_id = first(env, "cards", lambda c: c["status"] == "active")
    owner = env.state["customers"][env.state["cards"][card_id]["customer_id"]]
    someone_else = env.state["customers"][first(env, "customers",
                                                lambda c: c["email"] != owner["email"])]
    good = run(env, [("find_customer_id_by_email", {"email": owner["email"]}),
                     ("freeze_card", {"card_id": card_id})],
               messages=_conversation(env, card_id, owner["email"]))
    assert check("customer_identified_before_write", good) == []
    for actions in ([("freeze_card", {"card_id": card_id})],
                    [("find_customer_id_by_email", {"email": someone_else["email"]}),
                     ("freeze_card", {"card_id": card_id})]):
        bad = run(bank_env(), actions, messages=[])
        assert "before that customer was identified" in check(
            "customer_identified_before_write", bad)[0]
    # a bare list of actions (a blueprint) has no conversation to judge
    assert check("customer_identified_before_write",
                 run(bank_env(), [("freeze_card", {"card_id": card_id})])) == []


def test_explicit_yes_before_write(env):
    card_id = first(env, "cards", lambda c: c["status"] == "active")
    email = env.state["customers"][env.state["cards"][card_id]["customer_id"]]["email"]
    yes = RuleInput([], [], _conversation(env, card_id, email))
    assert check("explicit_yes_before_write", yes) == []
    for reply in ("Hmm, what does that mean?", "No, wait.", "Don't do that yet.",
                  "Not yet, I want to think"):
        data = RuleInput([], [], _conversation(env, card_id, email, yes=reply))
        assert "without an explicit yes" in check("explicit_yes_before_write", data)[0], reply
    # one yes covers one change
    twice = _conversation(env, card_id, email)
    twice.append({"role": "tool", "tool_call_id": "2", "content": "{}"})
    twice.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": "3", "type": "function", "function": {"name": "update_address",
                                                     "arguments": "{}"}}]})
    assert "without a fresh yes" in check("explicit_yes_before_write",
                                          RuleInput([], [], twice))[0]
    assert "before the customer said anything" in check(
        "explicit_yes_before_write", RuleInput([], [], twice[6:7]))[0]
