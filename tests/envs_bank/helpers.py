"""Shared helpers for the bank domain tests: a fresh environment, traced runs, lookups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apigen_mt.env.domain import RuleInput, load_environment
from apigen_mt.env.environment import Environment, Executed


def bank_env() -> Environment:
    """A fresh bank environment on the default generated data (seed 0)."""
    return load_environment("bank").fresh()


def run(env: Environment, actions: list[tuple[str, dict[str, Any]]],
        messages: list[dict[str, Any]] | None = None) -> RuleInput:
    """Execute the calls in order and return what policy rules see."""
    before = []
    for name, arguments in actions:
        before.append(env.state.fork())
        env.execute(name, arguments)
    return RuleInput(actions=env.trace[-len(actions):] if actions else [], before=before,
                     messages=messages)


def forged(env: Environment, name: str, arguments: dict[str, Any]) -> RuleInput:
    """A trace claiming a call succeeded without running it (for rules over what the
    tools here would refuse, but other data or a buggy tool might let through)."""
    return RuleInput(actions=[Executed(name, arguments, "{}", True, "write")],
                     before=[env.state.fork()])


def first(env: Environment, table: str, predicate: Callable[[dict[str, Any]], bool]) -> str:
    """The first record id of ``table`` (in key order) that satisfies ``predicate``."""
    records = env.state[table]
    for key in sorted(records):
        if predicate(records[key]):
            return key
    raise LookupError(table)


def account_of(env: Environment, customer_id: str, kind: str, status: str = "open",
               predicate: Callable[[dict[str, Any]], bool] | None = None) -> str | None:
    """One of the customer's accounts of a type and status, or None."""
    accounts = env.state["accounts"]
    for account_id in env.state["customers"][customer_id]["accounts"]:
        account = accounts[account_id]
        if account["type"] == kind and account["status"] == status and (
                predicate is None or predicate(account)):
            return account_id
    return None


def customer_with(env: Environment, predicate: Callable[[str, dict[str, Any]], bool]) -> str:
    """The first customer id (in key order) for which ``predicate(id, record)`` holds."""
    customers = env.state["customers"]
    for customer_id in sorted(customers):
        if predicate(customer_id, customers[customer_id]):
            return customer_id
    raise LookupError("no such customer")


def payee_of(env: Environment, customer_id: str, added_before_today: bool = True) -> str | None:
    """A saved payee of the customer (by default one added before today)."""
    from apigen_mt_envs.bank.data import TODAY

    for payee_id, payee in env.state["customers"][customer_id]["payees"].items():
        if (payee["added_on"] < TODAY) == added_before_today:
            return payee_id
    return None
