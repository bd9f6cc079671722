"""The built-in ``bank`` domain: a retail bank's customer service over the phone.

The agent identifies a customer, then answers questions about their accounts, cards
and transactions, freezes, unfreezes or reports cards lost (which orders a
replacement), moves money between the customer's accounts, saves and pays payees,
opens disputes on charges and updates the mailing address. The data comes from the
seeded generator in :mod:`.data`; the policy is in ``policy.md`` and, as code, in
:mod:`.rules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apigen_mt.env.domain import Domain
from apigen_mt.env.state import State

from .data import TODAY, generate
from .rules import RULES
from .tools import ALL_TOOLS

RECENT_TRANSACTIONS = 15  # per account, in the drafter's view


def user_view(state: State, customer_id: str) -> dict[str, Any]:
    """One customer's profile (with its id), accounts, cards, recent transactions and
    disputes, for drafters. Transactions come newest first, so trimming drops old ones."""
    customer = state["customers"][customer_id]
    accounts, cards, txns = state["accounts"], state["cards"], state["transactions"]
    view_accounts = {}
    recent: list[dict[str, Any]] = []
    for account_id in customer["accounts"]:
        account = accounts[account_id]
        view_accounts[account_id] = {k: v for k, v in account.items() if k != "transactions"}
        recent.extend(txns[t] for t in account["transactions"][-RECENT_TRANSACTIONS:])
    recent.sort(key=lambda t: (t["date"], t["transaction_id"]), reverse=True)
    disputes = state["disputes"]
    return {
        "user": {"customer_id": customer_id, **customer},
        "accounts": view_accounts,
        "cards": {card_id: cards[card_id] for card_id in customer["cards"]},
        "transactions": {t["transaction_id"]: t for t in recent},
        "disputes": {d: disputes[d] for d in disputes
                     if disputes[d]["customer_id"] == customer_id},
    }


DOMAIN = Domain(
    name="bank",
    tools=ALL_TOOLS,
    tables=["accounts", "cards", "customers", "disputes", "transactions"],
    generate=generate,
    root=Path(__file__).parent,
    rules=RULES,
    description=(
        "Customer service for a retail bank: identify the customer, then answer questions "
        "about their accounts, cards and transactions; freeze, unfreeze or report cards "
        "lost; transfer money and pay saved payees; open disputes; update the address. "
        f"The bank's date is {TODAY}."
    ),
    user_table="customers",
    user_view=user_view,
    # Tools return JSON, but the graph infers outputs from schemas: spell out what a
    # customer (account, card and payee ids), an account (transactions) and a card
    # (its account) yield.
    graph_add=[
        ("find_customer_id_by_email", "get_customer_details"),
        ("find_customer_id_by_name_and_phone", "get_customer_details"),
        ("get_customer_details", "get_account_details"),
        ("get_customer_details", "get_card_details"),
        ("get_customer_details", "list_transactions"),
        ("get_customer_details", "freeze_card"),
        ("get_customer_details", "unfreeze_card"),
        ("get_customer_details", "report_card_lost"),
        ("get_customer_details", "transfer_between_accounts"),
        ("get_customer_details", "send_payment_to_payee"),
        ("get_account_details", "transfer_between_accounts"),
        ("get_account_details", "send_payment_to_payee"),
        ("get_account_details", "list_transactions"),
        ("list_transactions", "open_dispute"),
        ("get_card_details", "freeze_card"),
        ("get_card_details", "unfreeze_card"),
        ("get_card_details", "report_card_lost"),
    ],
    graph_remove=[],
    generator_options={"customers": 300},
)
