"""The bank data generator: deterministic, internally consistent, and the drafter's view."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import date

import pytest

from apigen_mt.env.domain import load_domain, load_environment
from apigen_mt_envs.bank import DOMAIN, user_view
from apigen_mt_envs.bank.data import SAVINGS_WITHDRAWALS_PER_MONTH, TODAY, generate


@pytest.fixture(scope="module")
def data():
    return generate(0)


def test_same_seed_same_bytes_other_seed_other_data(data):
    assert json.dumps(generate(0)) == json.dumps(data)
    assert json.dumps(generate(1)) != json.dumps(data)
    assert json.dumps(generate(9, customers=12)) == json.dumps(generate(9, customers=12))


def test_sizes_options_and_speed(data):
    assert sorted(data) == sorted(DOMAIN.tables)
    assert len(data["customers"]) == 300
    assert len(generate(4, customers=17)["customers"]) == 17
    start = time.perf_counter()
    generate(3)
    assert time.perf_counter() - start < 1.5
    assert load_domain("bank").generator_options == {"customers": 300}
    assert load_domain("bank").user_table == "customers"


def test_ids_have_their_shapes(data):
    assert all(re.fullmatch(r"C\d{6}", c) for c in data["customers"])
    assert all(re.fullmatch(r"(CHK|SAV|CRD)\d{8}", a) for a in data["accounts"])
    assert all(re.fullmatch(r"CARD\d{7}", c) for c in data["cards"])
    assert all(re.fullmatch(r"TXN\d{8}", t) for t in data["transactions"])
    assert all(re.fullmatch(r"DSP\d{6}", d) for d in data["disputes"])
    for table, key in (("customers", "customer_id"), ("accounts", "account_id"),
                       ("cards", "card_id"), ("transactions", "transaction_id"),
                       ("disputes", "dispute_id")):
        assert all(rec[key] == rid for rid, rec in data[table].items()), table


def test_every_reference_resolves_and_lists_match(data):
    customers, accounts, cards = data["customers"], data["accounts"], data["cards"]
    txns, disputes = data["transactions"], data["disputes"]
    for cid, customer in customers.items():
        assert customer["accounts"] == [a for a, r in accounts.items()
                                        if r["customer_id"] == cid]
        assert sorted(customer["cards"]) == sorted(c for c, r in cards.items()
                                                   if r["customer_id"] == cid)
        assert customer["accounts"], "every customer has at least a checking account"
    for aid, account in accounts.items():
        assert account["customer_id"] in customers
        assert account["transactions"] == sorted(t for t, r in txns.items()
                                                 if r["account_id"] == aid)
        dates = [txns[t]["date"] for t in account["transactions"]]
        assert dates == sorted(dates)
    for card in cards.values():
        assert cards[card["card_id"]]["account_id"] in accounts
        assert accounts[card["account_id"]]["customer_id"] == card["customer_id"]
        if card["status"] in ("lost", "stolen"):
            assert cards[card["replaced_by"]]["replaces"] == card["card_id"]
        if card["replaces"]:
            assert cards[card["replaces"]]["replaced_by"] == card["card_id"]
    for txn in txns.values():
        assert txn["amount"] > 0 and round(txn["amount"], 2) == txn["amount"]
        assert txn["date"] <= TODAY
        if "card_id" in txn:
            assert cards[txn["card_id"]]["account_id"] == txn["account_id"]
        if txn["dispute_id"]:
            assert disputes[txn["dispute_id"]]["transaction_id"] == txn["transaction_id"]
    for did, dispute in disputes.items():
        txn = txns[dispute["transaction_id"]]
        assert txn["dispute_id"] == did and txn["direction"] == "debit"
        assert dispute["amount"] == txn["amount"]
        assert dispute["customer_id"] == accounts[txn["account_id"]]["customer_id"]


def test_counters_limits_and_payees_are_consistent(data):
    accounts, txns, customers = data["accounts"], data["transactions"], data["customers"]
    month = TODAY[:7]
    for account in accounts.values():
        if account["type"] == "savings":
            out = [t for t in account["transactions"] if txns[t]["direction"] == "debit"
                   and txns[t]["date"].startswith(month)]
            assert account["withdrawals_this_month"] == len(out)
            assert account["withdrawals_this_month"] <= SAVINGS_WITHDRAWALS_PER_MONTH
        if account["type"] == "credit":
            assert 0 <= account["balance"] <= account["credit_limit"]
        else:
            assert account["balance"] >= 0
    for cid, customer in customers.items():
        paid_today = 0.0
        for aid in customer["accounts"]:
            for t in accounts[aid]["transactions"]:
                txn = txns[t]
                if txn["category"] == "payee_payment":
                    payee = customer["payees"][txn["payee_id"]]
                    assert payee["added_on"] < txn["date"], "paid on the day it was added"
                    if txn["date"] == TODAY:
                        paid_today += txn["amount"]
        assert paid_today <= customer["daily_payment_limit"], cid


def test_identities_are_unique(data):
    customers = data["customers"].values()
    emails = [c["email"] for c in customers]
    assert len(set(emails)) == len(emails)
    keys = [(c["name"]["first_name"].lower(), c["name"]["last_name"].lower(),
             re.sub(r"\D", "", c["phone"])) for c in customers]
    assert len(set(keys)) == len(keys)


def test_every_situation_the_policy_talks_about_occurs(data):
    cards = Counter(c["status"] for c in data["cards"].values())
    assert {"active", "frozen", "lost", "stolen", "expired", "closed",
            "pending_activation"} <= set(cards)
    assert {c["frozen_by"] for c in data["cards"].values() if c["status"] == "frozen"} == {
        "customer", "bank"}
    assert {a["status"] for a in data["accounts"].values()} == {"open", "frozen", "closed"}
    assert {a["type"] for a in data["accounts"].values()} == {"checking", "savings", "credit"}
    savings = [a for a in data["accounts"].values() if a["type"] == "savings"]
    assert any(a["withdrawals_this_month"] == SAVINGS_WITHDRAWALS_PER_MONTH for a in savings)
    txns = list(data["transactions"].values())
    assert any(t["status"] == "pending" for t in txns)
    ages = [(date.fromisoformat(TODAY) - date.fromisoformat(t["date"])).days for t in txns]
    assert min(ages) == 0 and max(ages) > 60
    payees = [p for c in data["customers"].values() for p in c["payees"].values()]
    assert any(p["added_on"] == TODAY for p in payees)
    assert any(t["date"] == TODAY and t["category"] == "payee_payment" for t in txns)


def test_user_view_holds_one_customers_records():
    env = load_environment("bank")
    customer_id = sorted(env.state["customers"])[0]
    view = user_view(env.state, customer_id)
    assert view["user"]["customer_id"] == customer_id
    assert set(view) == {"user", "accounts", "cards", "transactions", "disputes"}
    assert list(view["accounts"]) == env.state["customers"][customer_id]["accounts"]
    assert all("transactions" not in a for a in view["accounts"].values())
    assert all(c["customer_id"] == customer_id for c in view["cards"].values())
    own = set(view["accounts"])
    assert all(t["account_id"] in own for t in view["transactions"].values())
    dates = [t["date"] for t in view["transactions"].values()]
    assert dates == sorted(dates, reverse=True)  # trimming drops the oldest first
    json.dumps(view)
