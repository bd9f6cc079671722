"""The bank's policy as code: each rule reads an execution trace and names every breach.

A rule gets a :class:`RuleInput` (the executed calls, the state before each call and,
in a conversation, the chat messages) and returns one reason per violation; an empty
list means the rule holds. Failed calls changed nothing, so the trace rules look only at
successful ones. Reasons quote the tool and the offending value so that feedback can
point a drafter away from them.

These rules cover what the tools would let through: the tools themselves refuse what
the core system cannot do (missing records, missing money, a card in the wrong state).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from apigen_mt.env.domain import PolicyRule, RuleInput
from apigen_mt.env.environment import Executed
from apigen_mt.env.ownership import one_owner_findings
from apigen_mt.env.state import State

from .data import SAVINGS_WITHDRAWALS_PER_MONTH, TODAY
from .tools import ALL_TOOLS

WRITE_TOOLS = frozenset(t.name for t in ALL_TOOLS if t.kind == "write")
OUTGOING = frozenset({"transfer_between_accounts", "send_payment_to_payee"})
LOOKUPS = frozenset({"find_customer_id_by_email", "find_customer_id_by_name_and_phone"})
DISPUTE_WINDOW_DAYS = 60


# --------------------------------------------------------------------- helpers


def _successful(data: RuleInput, names: frozenset[str] | set[str]) -> Iterator[
        tuple[int, Executed]]:
    for index, action in enumerate(data.actions):
        if action.ok and action.name in names:
            yield index, action


def _record(state: State, table: str, key: Any) -> dict[str, Any] | None:
    return state[table][key] if isinstance(key, str) and key in state[table] else None


def _source_account(action: Executed) -> Any:
    """The account money leaves in an outgoing write."""
    if action.name == "transfer_between_accounts":
        return action.arguments.get("from_account_id")
    return action.arguments.get("account_id")


def customer_of(state: State, action: Executed) -> str | None:
    """The customer a write acts for (the owner of the card, account or transaction)."""
    args = action.arguments
    if "customer_id" in args:
        return args["customer_id"]
    if "card_id" in args:
        card = _record(state, "cards", args["card_id"])
        return card["customer_id"] if card else None
    if "transaction_id" in args:
        txn = _record(state, "transactions", args["transaction_id"])
        if txn is None:
            return None
        account = _record(state, "accounts", txn["account_id"])
        return account["customer_id"] if account else None
    account = _record(state, "accounts", _source_account(action))
    return account["customer_id"] if account else None


# ------------------------------------------------------------------ trace rules


def transfers_stay_with_the_customer(data: RuleInput) -> list[str]:
    """An account-to-account transfer goes only between accounts of the same customer;
    money for anyone else goes to a saved payee."""
    reasons = []
    for i, action in _successful(data, {"transfer_between_accounts"}):
        accounts = data.before[i]["accounts"]
        source = action.arguments.get("from_account_id")
        target = action.arguments.get("to_account_id")
        if source in accounts and target in accounts and \
                accounts[source]["customer_id"] != accounts[target]["customer_id"]:
            reasons.append(f"transfer_between_accounts from '{source}' to '{target}', which "
                           f"belongs to another customer ({accounts[target]['customer_id']}); "
                           "pay other people through a saved payee")
    return reasons


def no_money_out_of_frozen_accounts(data: RuleInput) -> list[str]:
    """No transfer or payment may leave an account whose status is 'frozen'."""
    reasons = []
    for i, action in _successful(data, OUTGOING):
        source = _source_account(action)
        account = _record(data.before[i], "accounts", source)
        if account is not None and account["status"] == "frozen":
            reasons.append(f"{action.name} takes money out of '{source}', which is frozen")
    return reasons


def _paid_today(state: State, customer_id: str) -> float:
    """Payee payments already made today from any account of the customer."""
    total = 0.0
    txns = state["transactions"]
    accounts = state["accounts"]
    for account_id in state["customers"][customer_id]["accounts"]:
        for txn_id in accounts[account_id]["transactions"]:
            txn = txns[txn_id]
            if txn["date"] == TODAY and txn["category"] == "payee_payment":
                total += txn["amount"]
    return total


def daily_payment_limit(data: RuleInput) -> list[str]:
    """Payments to payees in one day, counting those already made today, stay within the
    customer's daily payment limit."""
    reasons = []
    for i, action in _successful(data, {"send_payment_to_payee"}):
        state = data.before[i]
        source = action.arguments.get("account_id")
        account = _record(state, "accounts", source)
        if account is None:
            continue
        customer = state["customers"][account["customer_id"]]
        amount = action.arguments.get("amount", 0)
        already = _paid_today(state, account["customer_id"])
        if already + amount > customer["daily_payment_limit"]:
            reasons.append(f"send_payment_to_payee of '{amount}' from '{source}' brings today's "
                           f"payments to {already + amount:.2f}, over the daily limit of "
                           f"{customer['daily_payment_limit']}")
    return reasons


def savings_withdrawal_limit(data: RuleInput) -> list[str]:
    """At most six transfers or payments may leave a savings account in a calendar
    month."""
    reasons = []
    for i, action in _successful(data, OUTGOING):
        source = _source_account(action)
        account = _record(data.before[i], "accounts", source)
        if account is not None and account["type"] == "savings" and \
                account["withdrawals_this_month"] >= SAVINGS_WITHDRAWALS_PER_MONTH:
            reasons.append(f"{action.name} from savings account '{source}', which already had "
                           f"{account['withdrawals_this_month']} withdrawals this month "
                           f"(limit {SAVINGS_WITHDRAWALS_PER_MONTH})")
    return reasons


def new_payees_wait_a_day(data: RuleInput) -> list[str]:
    """A payee added today (in this conversation or earlier) cannot be paid until
    tomorrow."""
    reasons = []
    for i, action in _successful(data, {"send_payment_to_payee"}):
        state = data.before[i]
        account = _record(state, "accounts", action.arguments.get("account_id"))
        if account is None:
            continue
        payee_id = action.arguments.get("payee_id")
        payee = state["customers"][account["customer_id"]]["payees"].get(payee_id)
        if payee is not None and payee["added_on"] >= TODAY:
            reasons.append(f"send_payment_to_payee to '{payee_id}', a payee added today; new "
                           "payees can be paid from tomorrow")
    return reasons


def disputes_within_window(data: RuleInput) -> list[str]:
    """Only posted charges dated within the last 60 days can be disputed; pending ones
    must post first."""
    reasons = []
    today = date.fromisoformat(TODAY)
    for i, action in _successful(data, {"open_dispute"}):
        txn_id = action.arguments.get("transaction_id")
        txn = _record(data.before[i], "transactions", txn_id)
        if txn is None:
            continue
        if txn["status"] != "posted":
            reasons.append(f"open_dispute on '{txn_id}', which is still {txn['status']}")
        age = (today - date.fromisoformat(txn["date"])).days
        if age > DISPUTE_WINDOW_DAYS:
            reasons.append(f"open_dispute on '{txn_id}', dated {txn['date']} ({age} days ago, "
                           f"past the {DISPUTE_WINDOW_DAYS}-day window)")
    return reasons


def bank_freezes_stay(data: RuleInput) -> list[str]:
    """A card the bank froze (fraud review) stays frozen: only cards the customer froze
    may be unfrozen."""
    reasons = []
    for i, action in _successful(data, {"unfreeze_card"}):
        card_id = action.arguments.get("card_id")
        card = _record(data.before[i], "cards", card_id)
        if card is not None and card["frozen_by"] == "bank":
            reasons.append(f"unfreeze_card on '{card_id}', which the bank froze; only the "
                           "fraud team can lift it")
    return reasons


def one_customer_per_conversation(data: RuleInput) -> list[str]:
    """Every change concerns the one customer being served (the task's own, when the
    calls come from a task)."""
    owners: dict[str, list[str]] = {}
    for i, action in _successful(data, WRITE_TOOLS):
        owner = customer_of(data.before[i], action)
        if owner is not None:
            owners.setdefault(owner, []).append(action.name)
    return one_owner_findings(owners, data.user_id, "customer")


# ----------------------------------------------------------- conversation rules


def customer_identified_before_write(data: RuleInput) -> list[str]:
    """The customer is identified (by email, or by name and phone) before any change,
    and every change is for the customer so identified."""
    if data.messages is None:  # a bare action list has no conversation to check
        return []
    reasons = []
    known: set[str] = set()
    for i, action in enumerate(data.actions):
        if not action.ok:
            continue
        if action.name in LOOKUPS:
            known.add(action.observation.strip())
        elif action.name in WRITE_TOOLS:
            owner = customer_of(data.before[i], action)
            if owner is not None and owner not in known:
                reasons.append(f"{action.name} for customer {owner} before that customer was "
                               "identified")
    return reasons


AFFIRMATIVE = re.compile(r"\b(yes|yep|yeah|sure|confirm(ed)?|go ahead|proceed|please do|"
                         r"do it|correct|ok(ay)?)\b", re.IGNORECASE)
HOLDING_BACK = re.compile(r"^\s*(no|nope|wait|hold on|stop|not yet)\b|\b(don'?t|do not)\b",
                          re.IGNORECASE)


def agrees(text: str) -> bool:
    """Whether a customer message says yes to going ahead."""
    return not HOLDING_BACK.search(text) and AFFIRMATIVE.search(text) is not None


def _content(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _write_calls(message: dict[str, Any]) -> list[str]:
    names = []
    for call in message.get("tool_calls") or []:
        name = (call.get("function") or {}).get("name", "")
        if name in WRITE_TOOLS:
            arguments = (call.get("function") or {}).get("arguments")
            try:
                arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
            except ValueError:
                arguments = None
            target = next((str(v) for v in (arguments or {}).values()), "") \
                if isinstance(arguments, dict) else ""
            names.append(f"{name} on {target}" if target else name)
    return names


def explicit_yes_before_write(data: RuleInput) -> list[str]:
    """Each change is made only after the customer explicitly agrees to it: the customer's
    last message before the turn that makes the change says yes."""
    reasons = []
    last_customer: str | None = None
    used = False  # one yes covers one change
    for message in data.messages or []:
        role = message.get("role")
        if role == "user":
            last_customer, used = _content(message), False
        elif role == "assistant":
            for call in _write_calls(message):
                if last_customer is None:
                    reasons.append(f"{call} before the customer said anything")
                elif used:
                    reasons.append(f"{call} without a fresh yes (the last one was used for an "
                                   "earlier change)")
                elif not agrees(last_customer):
                    reasons.append(f"{call} without an explicit yes (the customer last said "
                                   f"{last_customer[:100]!r})")
                used = True
    return reasons


def _rule(check: Any, tools: set[str] | frozenset[str], conversation_only: bool = False,
          purpose: str = "") -> PolicyRule:
    return PolicyRule(name=check.__name__, description=" ".join(check.__doc__.split()),
                      check=check, conversation_only=conversation_only, purpose=purpose,
                      tools=frozenset(tools))


RULES: list[PolicyRule] = [
    _rule(transfers_stay_with_the_customer, {"transfer_between_accounts"}),
    _rule(no_money_out_of_frozen_accounts, OUTGOING),
    _rule(daily_payment_limit, {"send_payment_to_payee"}),
    _rule(savings_withdrawal_limit, OUTGOING),
    _rule(new_payees_wait_a_day, {"send_payment_to_payee", "add_payee"}),
    _rule(disputes_within_window, {"open_dispute"}),
    _rule(bank_freezes_stay, {"unfreeze_card"}),
    _rule(one_customer_per_conversation, WRITE_TOOLS),
    _rule(customer_identified_before_write, WRITE_TOOLS | LOOKUPS, conversation_only=True,
          purpose="identification"),
    _rule(explicit_yes_before_write, WRITE_TOOLS, conversation_only=True, purpose="confirmation"),
]
"""Every bank rule; the last two need a conversation."""
