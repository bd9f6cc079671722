"""Bank tools: derived schemas, reads that change nothing, writes that work on generated
data and fail cleanly (an ``Error:`` observation, the state untouched) otherwise."""

from __future__ import annotations

import json

import pytest

from apigen_mt.env.domain import load_domain
from apigen_mt_envs.bank.data import TODAY
from tests.envs_bank.helpers import account_of, bank_env, customer_with, first, payee_of

READS = ["find_customer_id_by_email", "find_customer_id_by_name_and_phone",
         "get_customer_details", "get_account_details", "get_card_details", "list_transactions"]
WRITES = ["freeze_card", "unfreeze_card", "report_card_lost", "transfer_between_accounts",
          "add_payee", "send_payment_to_payee", "open_dispute", "update_address"]
REQUIRED = {
    "find_customer_id_by_email": ["email"],
    "find_customer_id_by_name_and_phone": ["first_name", "last_name", "phone"],
    "get_customer_details": ["customer_id"],
    "get_account_details": ["account_id"],
    "get_card_details": ["card_id"],
    "list_transactions": ["account_id"],
    "freeze_card": ["card_id"],
    "unfreeze_card": ["card_id"],
    "report_card_lost": ["card_id", "reason"],
    "transfer_between_accounts": ["from_account_id", "to_account_id", "amount"],
    "add_payee": ["customer_id", "name", "bank", "account_number"],
    "send_payment_to_payee": ["account_id", "payee_id", "amount"],
    "open_dispute": ["transaction_id", "reason"],
    "update_address": ["customer_id", "address1", "address2", "city", "state", "zip"],
    "transfer_to_human_agents": ["summary"],
}


@pytest.fixture
def env():
    return bank_env()


def test_tool_list_kinds_and_schemas():
    domain = load_domain("bank")
    assert [t.name for t in domain.tools] == [*READS, *WRITES, "transfer_to_human_agents"]
    assert [t.name for t in domain.tools if t.kind == "write"] == WRITES
    assert [t.name for t in domain.tools if t.ends_conversation] == ["transfer_to_human_agents"]
    for tool in domain.tools:
        params = tool.schema["function"]["parameters"]
        assert tool.description, tool.name
        assert params["required"] == REQUIRED[tool.name], tool.name
        for name, prop in params["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name}"
    props = domain.tool("open_dispute").parameters["properties"]
    assert props["reason"] == {"type": "string", "description": props["reason"]["description"],
                               "enum": ["unauthorized", "duplicate_charge", "not_received",
                                        "incorrect_amount"]}
    assert domain.tool("transfer_between_accounts").parameters["properties"]["amount"][
        "type"] == "number"
    assert domain.tool("list_transactions").parameters["properties"]["days"]["default"] == 60


def _unchanged(env, name, arguments, fragment):
    """The call fails with ``fragment`` in its message and changes nothing."""
    before, changes = env.hash(), [c.render() for c in env.diff()]
    obs = env.execute(name, arguments)
    assert obs.startswith("Error:") and fragment in obs, obs
    assert env.hash() == before and [c.render() for c in env.diff()] == changes


# -------------------------------------------------------------------------- reads


def test_lookups_find_the_customer(env):
    cid = sorted(env.state["customers"])[5]
    customer = env.state["customers"][cid]
    assert env.execute("find_customer_id_by_email", {"email": customer["email"].upper()}) == cid
    digits = customer["phone"].replace("-", "")
    assert env.execute("find_customer_id_by_name_and_phone", {
        "first_name": customer["name"]["first_name"].lower(),
        "last_name": customer["name"]["last_name"], "phone": f"({digits[:3]}) {digits[3:]}"}) \
        == cid
    _unchanged(env, "find_customer_id_by_email", {"email": "nobody@example.com"}, "no customer")
    _unchanged(env, "find_customer_id_by_name_and_phone",
               {"first_name": "No", "last_name": "One", "phone": "000"}, "no customer")


def test_reads_return_records_and_change_nothing(env):
    cid = sorted(env.state["customers"])[0]
    start = env.hash()
    assert json.loads(env.execute("get_customer_details", {"customer_id": cid}))[
        "customer_id"] == cid
    account_id = env.state["customers"][cid]["accounts"][0]
    account = json.loads(env.execute("get_account_details", {"account_id": account_id}))
    assert "transactions" not in account
    assert account["transaction_count"] == len(env.state["accounts"][account_id]["transactions"])
    card_id = env.state["customers"][cid]["cards"][0]
    assert json.loads(env.execute("get_card_details", {"card_id": card_id}))["card_id"] == card_id
    listed = json.loads(env.execute("list_transactions", {"account_id": account_id,
                                                          "days": 110}))
    assert [t["transaction_id"] for t in listed] == \
        env.state["accounts"][account_id]["transactions"][::-1]
    recent = json.loads(env.execute("list_transactions", {"account_id": account_id,
                                                          "days": 0}))
    assert all(t["date"] == TODAY for t in recent)
    assert env.hash() == start and not env.state.changes()
    for name, args in (("get_customer_details", {"customer_id": "C000000"}),
                       ("get_account_details", {"account_id": "CHK00000000"}),
                       ("get_card_details", {"card_id": "CARD0000000"}),
                       ("list_transactions", {"account_id": account_id, "days": -1})):
        _unchanged(env, name, args, "")


# -------------------------------------------------------------------------- cards


def _card(env, status, frozen_by=None):
    return first(env, "cards", lambda c: c["status"] == status and
                 (frozen_by is None or c["frozen_by"] == frozen_by))


def test_freeze_and_unfreeze(env):
    card_id = _card(env, "active")
    obs = json.loads(env.execute("freeze_card", {"card_id": card_id}))
    assert obs["status"] == "frozen" and obs["frozen_by"] == "customer"
    _unchanged(env, "freeze_card", {"card_id": card_id}, "only an active card")
    assert json.loads(env.execute("unfreeze_card", {"card_id": card_id}))["status"] == "active"
    assert env.state["cards"][card_id]["frozen_by"] is None
    assert not env.diff()  # back where it started
    _unchanged(env, "unfreeze_card", {"card_id": card_id}, "not frozen")
    _unchanged(env, "freeze_card", {"card_id": _card(env, "lost")}, "only an active card")
    _unchanged(env, "freeze_card", {"card_id": "CARD0000000"}, "not found")


def test_report_card_lost_issues_a_linked_replacement(env):
    card_id = _card(env, "frozen", "bank")
    old = env.state["cards"][card_id]
    obs = json.loads(env.execute("report_card_lost", {"card_id": card_id, "reason": "stolen"}))
    new_id = obs["replacement_card"]["card_id"]
    new = env.state["cards"][new_id]
    assert env.state["cards"][card_id]["status"] == "stolen"
    assert env.state["cards"][card_id]["replaced_by"] == new_id and new["replaces"] == card_id
    assert new["status"] == "pending_activation" and new["account_id"] == old["account_id"]
    assert new_id in env.state["customers"][old["customer_id"]]["cards"]
    assert new["expires"] == f"{int(TODAY[:4]) + 4}-{TODAY[5:7]}"
    _unchanged(env, "report_card_lost", {"card_id": card_id, "reason": "lost"}, "cannot be")
    _unchanged(env, "report_card_lost", {"card_id": _card(env, "expired"), "reason": "lost"},
               "cannot be")
    _unchanged(env, "report_card_lost", {"card_id": card_id, "reason": "broken"}, "reason")
    # the same report on another fresh copy gives the same ids and the same state
    again = bank_env()
    again.execute("report_card_lost", {"card_id": card_id, "reason": "stolen"})
    fresh = bank_env()
    fresh.execute("report_card_lost", {"card_id": card_id, "reason": "stolen"})
    assert again.hash() == fresh.hash() != bank_env().hash()


# -------------------------------------------------------------------------- money


def _with_checking_and(env, kind):
    cid = customer_with(env, lambda c, r: account_of(env, c, "checking",
                                                     predicate=lambda a: a["balance"] > 500)
                        and account_of(env, c, kind, predicate=lambda a: a["balance"] > 100))
    return cid, account_of(env, cid, "checking"), account_of(env, cid, kind)


def test_transfer_between_own_accounts(env):
    _, checking, savings = _with_checking_and(env, "savings")
    accounts = env.state["accounts"]
    before = (accounts[checking]["balance"], accounts[savings]["balance"],
              accounts[savings]["withdrawals_this_month"])
    obs = json.loads(env.execute("transfer_between_accounts", {
        "from_account_id": savings, "to_account_id": checking, "amount": 100}))
    assert obs["status"] == "completed" and obs["amount"] == 100
    assert accounts[savings]["balance"] == round(before[1] - 100, 2)
    assert accounts[checking]["balance"] == round(before[0] + 100, 2)
    assert accounts[savings]["withdrawals_this_month"] == before[2] + 1
    out_id, in_id = obs["transaction_ids"]
    txns = env.state["transactions"]
    assert txns[out_id]["direction"] == "debit" and txns[in_id]["direction"] == "credit"
    assert int(in_id[3:]) == int(out_id[3:]) + 1 == len(txns) and txns[in_id]["date"] == TODAY
    assert accounts[savings]["transactions"][-1] == out_id
    assert accounts[checking]["transactions"][-1] == in_id
    assert isinstance(txns[out_id]["amount"], int)  # the JSON type is kept


def test_transfer_into_credit_pays_it_down(env):
    accounts = env.state["accounts"]
    cid = customer_with(env, lambda c, r: account_of(env, c, "credit", predicate=lambda a: 100 <
                                                     a["balance"] < accounts[r["accounts"][0]][
                                                         "balance"] - 100)
                        and accounts[r["accounts"][0]]["status"] == "open")
    checking, credit = env.state["customers"][cid]["accounts"][0], account_of(env, cid, "credit")
    owed = accounts[credit]["balance"]
    env.execute("transfer_between_accounts", {"from_account_id": checking,
                                              "to_account_id": credit, "amount": 50.5})
    assert env.state["accounts"][credit]["balance"] == round(owed - 50.5, 2)
    _unchanged(env, "transfer_between_accounts", {
        "from_account_id": checking, "to_account_id": credit, "amount": owed},
        "exceeds")
    _unchanged(env, "transfer_between_accounts", {
        "from_account_id": credit, "to_account_id": checking, "amount": 10}, "credit account")


def test_transfer_refusals(env):
    _, checking, savings = _with_checking_and(env, "savings")
    balance = env.state["accounts"][checking]["balance"]
    closed = first(env, "accounts", lambda a: a["status"] == "closed")
    for args, fragment in (
        ({"from_account_id": checking, "to_account_id": savings, "amount": balance + 1},
         "insufficient funds"),
        ({"from_account_id": checking, "to_account_id": savings, "amount": 0}, "positive"),
        ({"from_account_id": checking, "to_account_id": savings, "amount": 1.005}, "decimals"),
        ({"from_account_id": checking, "to_account_id": checking, "amount": 1}, "must differ"),
        ({"from_account_id": checking, "to_account_id": "CHK00000000", "amount": 1}, "not found"),
        ({"from_account_id": checking, "to_account_id": closed, "amount": 1}, "closed"),
        ({"from_account_id": closed, "to_account_id": checking, "amount": 1}, "closed"),
        ({"from_account_id": checking, "to_account_id": savings, "amount": "1"}, "amount"),
    ):
        _unchanged(env, "transfer_between_accounts", args, fragment)


def test_add_payee_and_pay_payees(env):
    cid = customer_with(env, lambda c, r: payee_of(env, c) and account_of(
        env, c, "checking", predicate=lambda a: a["balance"] > 300))
    checking = account_of(env, cid, "checking")
    new = json.loads(env.execute("add_payee", {"customer_id": cid, "name": "Sierra Vista Rentals",
                                               "bank": "Granite Trust",
                                               "account_number": "4410029871"}))
    assert new["added_on"] == TODAY and new["payee_id"].startswith("PY")
    assert env.state["customers"][cid]["payees"][new["payee_id"]] == new
    _unchanged(env, "add_payee", {"customer_id": cid, "name": "Again", "bank": "Granite Trust",
                                  "account_number": "4410029871"}, "already saved")
    _unchanged(env, "add_payee", {"customer_id": cid, "name": "X", "bank": "Granite Trust",
                                  "account_number": "12ab"}, "6 to 17 digits")
    _unchanged(env, "add_payee", {"customer_id": "C000000", "name": "X", "bank": "B",
                                  "account_number": "1234567"}, "not found")
    payee_id = payee_of(env, cid)
    balance = env.state["accounts"][checking]["balance"]
    obs = json.loads(env.execute("send_payment_to_payee", {"account_id": checking,
                                                           "payee_id": payee_id, "amount": 120}))
    txn = env.state["transactions"][obs["transaction_id"]]
    assert txn["payee_id"] == payee_id and txn["category"] == "payee_payment"
    assert env.state["accounts"][checking]["balance"] == round(balance - 120, 2)
    other = customer_with(env, lambda c, r: c != cid and payee_of(env, c))
    _unchanged(env, "send_payment_to_payee", {"account_id": checking,
                                              "payee_id": payee_of(env, other), "amount": 5},
               "not saved")
    _unchanged(env, "send_payment_to_payee", {"account_id": checking, "payee_id": payee_id,
                                              "amount": 10 ** 7}, "insufficient funds")


def test_payee_limit(env):
    cid = customer_with(env, lambda c, r: not r["payees"])
    for n in range(10):
        assert not env.execute("add_payee", {"customer_id": cid, "name": f"P{n}", "bank": "B",
                                             "account_number": f"100000{n}"}).startswith("Error")
    _unchanged(env, "add_payee", {"customer_id": cid, "name": "P10", "bank": "B",
                                  "account_number": "1000010"}, "at most 10")


def test_open_dispute(env):
    txn_id = first(env, "transactions", lambda t: t["direction"] == "debit"
                   and t["dispute_id"] is None and "card_id" in t)
    dispute = json.loads(env.execute("open_dispute", {"transaction_id": txn_id,
                                                      "reason": "duplicate_charge"}))
    assert dispute["status"] == "open" and dispute["opened_on"] == TODAY
    assert dispute["dispute_id"] == f"DSP{len(env.state['disputes']):06d}"
    assert env.state["transactions"][txn_id]["dispute_id"] == dispute["dispute_id"]
    _unchanged(env, "open_dispute", {"transaction_id": txn_id, "reason": "unauthorized"},
               "already disputed")
    credit = first(env, "transactions", lambda t: t["direction"] == "credit")
    _unchanged(env, "open_dispute", {"transaction_id": credit, "reason": "unauthorized"},
               "only charges")
    _unchanged(env, "open_dispute", {"transaction_id": "TXN99999999", "reason": "unauthorized"},
               "not found")


def test_update_address(env):
    cid = sorted(env.state["customers"])[3]
    address = {"address1": "77 Lantern Lane", "address2": "Apt 5", "city": "Reno",
               "state": "NV", "zip": "89501"}
    obs = json.loads(env.execute("update_address", {"customer_id": cid, **address}))
    assert obs["address"] == address == env.state["customers"][cid]["address"]
    _unchanged(env, "update_address", {"customer_id": cid, **address, "zip": "8950"},
               "five digits")
    _unchanged(env, "update_address", {"customer_id": "C000000", **address}, "not found")


def test_transfer_to_human_agents_ends_the_conversation(env):
    assert env.execute("transfer_to_human_agents", {"summary": "wants a loan"}) == \
        "Transfer successful"
    assert not env.state.changes()
