"""The bank's tools: look customers and their money up, and make the changes a branch
agent would make over the phone.

Tools enforce what the bank's core system itself guarantees: records exist, money is
there, a card is in a state the action applies to, nothing is done twice. What the
*policy* forbids although the system would allow it (another customer's account as a
transfer target, daily limits, the savings withdrawal cap, lifting the bank's own
freeze, disputes outside the window …) is left to :mod:`.rules`, so the policy check
can catch drafts that execute fine but break policy.

Reads use ``db[table][key]`` and never change what they get; writes take a private copy
with ``db[table].edit(key)`` or store a new record. New ids are derived from the state
(the next number in sequence, or a hash of the record they replace), never drawn at
random, so replaying the same calls always gives the same state.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any, Literal

from apigen_mt.env.state import State
from apigen_mt.env.tools import Number, ToolError, tool

from .data import TODAY

DisputeReason = Literal["unauthorized", "duplicate_charge", "not_received", "incorrect_amount"]
MAX_PAYEES = 10


# --------------------------------------------------------------------------- helpers


def _customer(db: State, customer_id: str) -> dict[str, Any]:
    if customer_id not in db["customers"]:
        raise ToolError(f"customer {customer_id} not found")
    return db["customers"][customer_id]


def _account(db: State, account_id: str) -> dict[str, Any]:
    if account_id not in db["accounts"]:
        raise ToolError(f"account {account_id} not found")
    return db["accounts"][account_id]


def _card(db: State, card_id: str) -> dict[str, Any]:
    if card_id not in db["cards"]:
        raise ToolError(f"card {card_id} not found")
    return db["cards"][card_id]


def _check_amount(amount: Any) -> None:
    if amount <= 0:
        raise ToolError("the amount must be positive")
    if round(amount, 2) != amount:
        raise ToolError("the amount can have at most two decimals")


def _money_source(account: dict[str, Any], amount: Any) -> None:
    """Money can leave an open checking or savings account that holds enough."""
    if account["status"] == "closed":
        raise ToolError(f"account {account['account_id']} is closed")
    if account["type"] == "credit":
        raise ToolError("money cannot be sent from a credit account")
    if account["balance"] < amount:
        raise ToolError(f"insufficient funds in {account['account_id']} "
                        f"(balance {account['balance']:.2f})")


def _next_id(db: State, table: str, prefix: str, digits: int) -> str:
    """The next id in a sequentially numbered table (``TXN00000042`` → ``TXN00000043``)."""
    top = 0
    for key in db[table]:
        if key.startswith(prefix) and key[len(prefix):].isdigit():
            top = max(top, int(key[len(prefix):]))
    return f"{prefix}{top + 1:0{digits}d}"


def _hashed_number(seed: str, digits: int) -> int:
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return 10 ** (digits - 1) + value % (9 * 10 ** (digits - 1))


def _debit(account: dict[str, Any], amount: Any) -> None:
    account["balance"] = round(account["balance"] - amount, 2)
    if account["type"] == "savings":
        account["withdrawals_this_month"] += 1


def _record_txn(db: State, account: dict[str, Any], amount: Any, direction: str,
                category: str, description: str, **extra: Any) -> str:
    txn_id = _next_id(db, "transactions", "TXN", 8)
    db["transactions"][txn_id] = {
        "transaction_id": txn_id, "account_id": account["account_id"], "date": TODAY,
        "amount": amount, "direction": direction, "category": category,
        "description": description, "status": "posted", **extra, "dispute_id": None,
    }
    account["transactions"].append(txn_id)
    return txn_id


def _account_view(account: dict[str, Any]) -> dict[str, Any]:
    """An account without its long transaction list (``list_transactions`` shows those)."""
    view = {k: v for k, v in account.items() if k != "transactions"}
    view["transaction_count"] = len(account["transactions"])
    return view


# ------------------------------------------------------------------------- reads


@tool(kind="read")
def find_customer_id_by_email(db: State, email: str) -> str:
    """Find a customer's id from their email address (case-insensitive).

    Args:
        email: The customer's email, such as 'jane.doe42@example.com'.
    """
    wanted = email.strip().lower()
    customers = db["customers"]
    for customer_id in customers:
        if customers[customer_id]["email"].lower() == wanted:
            return customer_id
    raise ToolError("no customer with that email")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


@tool(kind="read")
def find_customer_id_by_name_and_phone(db: State, first_name: str, last_name: str,
                                       phone: str) -> str:
    """Find a customer's id from their full name and phone number, for customers who do
    not know the email on file. Names are case-insensitive; only the phone's digits count.

    Args:
        first_name: The customer's first name, such as 'Jane'.
        last_name: The customer's last name, such as 'Doe'.
        phone: The phone number on file, such as '512-555-0147'.
    """
    first, last, digits = first_name.strip().lower(), last_name.strip().lower(), _digits(phone)
    customers = db["customers"]
    for customer_id in customers:
        record = customers[customer_id]
        if (record["name"]["first_name"].lower() == first
                and record["name"]["last_name"].lower() == last
                and _digits(record["phone"]) == digits):
            return customer_id
    raise ToolError("no customer with that name and phone number")


@tool(kind="read")
def get_customer_details(db: State, customer_id: str) -> dict:
    """Show a customer's profile: name, contact details, daily payment limit, the ids of
    their accounts and cards, and their saved payees.

    Args:
        customer_id: The customer id, such as 'C104823'.
    """
    return _customer(db, customer_id)


@tool(kind="read")
def get_account_details(db: State, account_id: str) -> dict:
    """Show one account: type (checking, savings or credit), status, balance (for a
    credit account, the amount owed), limits and counters, and how many transactions it
    has.

    Args:
        account_id: The account id, such as 'CHK12345678'.
    """
    return _account_view(_account(db, account_id))


@tool(kind="read")
def get_card_details(db: State, card_id: str) -> dict:
    """Show one card: the account it draws on, its last four digits, status (active,
    frozen, lost, stolen, expired, closed or pending_activation), who froze it, and the
    card it replaced or was replaced by.

    Args:
        card_id: The card id, such as 'CARD1234567'.
    """
    return _card(db, card_id)


@tool(kind="read")
def list_transactions(db: State, account_id: str, days: int = 60) -> list:
    """List an account's transactions of the last ``days`` days, newest first, with their
    dates, amounts, direction (debit or credit), status (pending or posted) and any
    dispute on them.

    Args:
        account_id: The account id, such as 'CHK12345678'.
        days: How many days back to look (default 60).
    """
    account = _account(db, account_id)
    if days < 0:
        raise ToolError("days cannot be negative")
    since = (date.fromisoformat(TODAY) - timedelta(days=days)).isoformat()
    txns = db["transactions"]
    found = [txns[t] for t in account["transactions"] if txns[t]["date"] >= since]
    return found[::-1]


# ------------------------------------------------------------------------- cards


@tool(kind="write")
def freeze_card(db: State, card_id: str) -> dict:
    """Freeze an active card at the customer's request: purchases and withdrawals are
    declined until it is unfrozen. Confirm with the customer first.

    Args:
        card_id: The card id, such as 'CARD1234567'.
    """
    if _card(db, card_id)["status"] != "active":
        raise ToolError(f"card {card_id} is {db['cards'][card_id]['status']}; only an active "
                        "card can be frozen")
    card = db["cards"].edit(card_id)
    card["status"] = "frozen"
    card["frozen_by"] = "customer"
    return card


@tool(kind="write")
def unfreeze_card(db: State, card_id: str) -> dict:
    """Make a frozen card usable again. Confirm with the customer first.

    Args:
        card_id: The card id, such as 'CARD1234567'.
    """
    if _card(db, card_id)["status"] != "frozen":
        raise ToolError(f"card {card_id} is {db['cards'][card_id]['status']}, not frozen")
    card = db["cards"].edit(card_id)
    card["status"] = "active"
    card["frozen_by"] = None
    return card


@tool(kind="write")
def report_card_lost(db: State, card_id: str, reason: Literal["lost", "stolen"]) -> dict:
    """Block a lost or stolen card for good and order a replacement on the same account.
    The replacement arrives in 5-7 business days and must be activated by the customer.
    Confirm with the customer first.

    Args:
        card_id: The card id, such as 'CARD1234567'.
        reason: Whether the card was 'lost' or 'stolen'.
    """
    old = _card(db, card_id)
    if old["status"] not in ("active", "frozen", "pending_activation"):
        raise ToolError(f"card {card_id} is {old['status']} and cannot be reported")
    cards = db["cards"]
    number = _hashed_number(f"replacement:{card_id}", 7)
    while f"CARD{number}" in cards:
        number = number + 1 if number < 9999999 else 1000000
    new_id = f"CARD{number}"
    expires = f"{date.fromisoformat(TODAY).year + 4}-{TODAY[5:7]}"
    cards[new_id] = {
        "card_id": new_id, "customer_id": old["customer_id"], "account_id": old["account_id"],
        "kind": old["kind"], "last4": f"{_hashed_number(new_id, 5) % 10000:04d}",
        "status": "pending_activation", "frozen_by": None, "expires": expires,
        "replaces": card_id, "replaced_by": None,
    }
    card = cards.edit(card_id)
    card["status"] = reason
    card["frozen_by"] = None
    card["replaced_by"] = new_id
    customer = db["customers"].edit(old["customer_id"])
    customer["cards"].append(new_id)
    return {"reported_card": card, "replacement_card": cards[new_id]}


# ------------------------------------------------------------------------- money


@tool(kind="write")
def transfer_between_accounts(db: State, from_account_id: str, to_account_id: str,
                              amount: Number) -> dict:
    """Move money from a checking or savings account to another account at this bank; a
    transfer into a credit account pays down what is owed. Confirm with the customer
    first.

    Args:
        from_account_id: The account the money leaves, such as 'CHK12345678'.
        to_account_id: The account the money goes to, such as 'SAV12345678'.
        amount: The amount in dollars, such as 250 or 99.5.
    """
    _check_amount(amount)
    source = _account(db, from_account_id)
    target = _account(db, to_account_id)
    if from_account_id == to_account_id:
        raise ToolError("the two accounts must differ")
    _money_source(source, amount)
    if target["status"] == "closed":
        raise ToolError(f"account {to_account_id} is closed")
    if target["type"] == "credit" and amount > target["balance"]:
        raise ToolError(f"the payment exceeds the {target['balance']:.2f} owed on "
                        f"{to_account_id}")
    source = db["accounts"].edit(from_account_id)
    target = db["accounts"].edit(to_account_id)
    _debit(source, amount)
    out_id = _record_txn(db, source, amount, "debit", "transfer", f"Transfer to {to_account_id}")
    if target["type"] == "credit":
        target["balance"] = round(target["balance"] - amount, 2)
        in_id = _record_txn(db, target, amount, "credit", "card_payment",
                            f"Payment from {from_account_id}")
    else:
        target["balance"] = round(target["balance"] + amount, 2)
        in_id = _record_txn(db, target, amount, "credit", "transfer",
                            f"Transfer from {from_account_id}")
    return {"status": "completed", "amount": amount, "transaction_ids": [out_id, in_id],
            "from_account": _account_view(source), "to_account": _account_view(target)}


@tool(kind="write")
def add_payee(db: State, customer_id: str, name: str, bank: str, account_number: str) -> dict:
    """Save an outside person or company as a payee of the customer, so payments can be
    sent to them. Confirm with the customer first.

    Args:
        customer_id: The customer id, such as 'C104823'.
        name: The payee's name, such as 'Oakridge Property Management'.
        bank: The payee's bank, such as 'Granite Trust'.
        account_number: The payee's account number at that bank (6 to 17 digits).
    """
    customer = _customer(db, customer_id)
    if not name.strip():
        raise ToolError("the payee needs a name")
    if not (account_number.isdigit() and 6 <= len(account_number) <= 17):
        raise ToolError("the account number must be 6 to 17 digits")
    for payee in customer["payees"].values():
        if payee["account_number"] == account_number and payee["bank"] == bank:
            raise ToolError(f"that account is already saved as payee {payee['payee_id']}")
    if len(customer["payees"]) >= MAX_PAYEES:
        raise ToolError(f"a customer can have at most {MAX_PAYEES} payees")
    taken = set()
    customers = db["customers"]
    for other in customers:
        taken.update(customers[other]["payees"])
    number = _hashed_number(f"payee:{customer_id}:{bank}:{account_number}", 6)
    while f"PY{number}" in taken:
        number = number + 1 if number < 999999 else 100000
    payee_id = f"PY{number}"
    payee = {"payee_id": payee_id, "name": name.strip(), "bank": bank,
             "account_number": account_number, "added_on": TODAY}
    customers.edit(customer_id)["payees"][payee_id] = payee
    return payee


@tool(kind="write")
def send_payment_to_payee(db: State, account_id: str, payee_id: str, amount: Number) -> dict:
    """Pay one of the customer's saved payees from a checking or savings account of the
    same customer. Confirm with the customer first.

    Args:
        account_id: The account the money leaves, such as 'CHK12345678'.
        payee_id: The saved payee's id, such as 'PY123456'.
        amount: The amount in dollars, such as 120 or 45.5.
    """
    _check_amount(amount)
    account = _account(db, account_id)
    payees = db["customers"][account["customer_id"]]["payees"]
    if payee_id not in payees:
        raise ToolError(f"payee {payee_id} is not saved for the owner of {account_id}")
    _money_source(account, amount)
    account = db["accounts"].edit(account_id)
    _debit(account, amount)
    txn_id = _record_txn(db, account, amount, "debit", "payee_payment",
                         f"Payment to {payees[payee_id]['name']}", payee_id=payee_id)
    return {"status": "sent", "transaction_id": txn_id, "amount": amount,
            "payee": payees[payee_id], "account": _account_view(account)}


@tool(kind="write")
def open_dispute(db: State, transaction_id: str, reason: DisputeReason) -> dict:
    """Open a dispute on a charge the customer does not recognise or disagrees with; the
    bank investigates and answers within 10 business days. Confirm with the customer
    first.

    Args:
        transaction_id: The transaction id, such as 'TXN00001234'.
        reason: 'unauthorized', 'duplicate_charge', 'not_received' or 'incorrect_amount'.
    """
    if transaction_id not in db["transactions"]:
        raise ToolError(f"transaction {transaction_id} not found")
    txn = db["transactions"][transaction_id]
    if txn["direction"] != "debit":
        raise ToolError("only charges (debits) can be disputed")
    if txn["dispute_id"] is not None:
        raise ToolError(f"transaction {transaction_id} is already disputed "
                        f"({txn['dispute_id']})")
    dispute_id = _next_id(db, "disputes", "DSP", 6)
    account = db["accounts"][txn["account_id"]]
    db["disputes"][dispute_id] = {
        "dispute_id": dispute_id, "transaction_id": transaction_id,
        "account_id": txn["account_id"], "customer_id": account["customer_id"],
        "reason": reason, "amount": txn["amount"], "status": "open", "opened_on": TODAY,
    }
    db["transactions"].edit(transaction_id)["dispute_id"] = dispute_id
    return db["disputes"][dispute_id]


# ----------------------------------------------------------------------- profile


@tool(kind="write")
def update_address(db: State, customer_id: str, address1: str, address2: str, city: str,
                   state: str, zip: str) -> dict:
    """Change the customer's mailing address (statements and new cards go there). Confirm
    with the customer first.

    Args:
        customer_id: The customer id, such as 'C104823'.
        address1: Street and number, such as '12 Beacon Street'.
        address2: Apartment or unit, such as 'Apt 4', or '' for none.
        city: The city, such as 'Austin'.
        state: The two-letter state code, such as 'TX'.
        zip: The five-digit zip code, such as '78701'.
    """
    _customer(db, customer_id)
    if not (zip.isdigit() and len(zip) == 5):
        raise ToolError("the zip code must be five digits")
    customer = db["customers"].edit(customer_id)
    customer["address"] = {"address1": address1, "address2": address2, "city": city,
                           "state": state, "zip": zip}
    return customer


@tool(kind="read", ends_conversation=True)
def transfer_to_human_agents(db: State, summary: str) -> str:
    """Hand the customer over to a human banker with a summary of the issue. Only when the
    customer asks for a person, or the request cannot be handled with these tools.

    Args:
        summary: A short summary of the customer's issue.
    """
    return "Transfer successful"


ALL_TOOLS = [
    find_customer_id_by_email,
    find_customer_id_by_name_and_phone,
    get_customer_details,
    get_account_details,
    get_card_details,
    list_transactions,
    freeze_card,
    unfreeze_card,
    report_card_lost,
    transfer_between_accounts,
    add_payee,
    send_payment_to_payee,
    open_dispute,
    update_address,
    transfer_to_human_agents,
]
"""Every bank tool: six reads, eight writes, and the hand-over."""
