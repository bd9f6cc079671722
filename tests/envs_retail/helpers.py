"""Shared helpers for the retail domain tests: a default environment and traced runs."""

from __future__ import annotations

from typing import Any

from apigen_mt.env.domain import RuleInput, load_environment
from apigen_mt.env.environment import Environment, Executed


def retail_env(tau_compat: bool | None = None) -> Environment:
    """A fresh retail environment on the default generated data (seed 0): corrected
    tools, or τ-bench's exact ones with ``tau_compat=True``."""
    return load_environment("retail", tau_compat=tau_compat).fresh()


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
    """A trace claiming a call succeeded without running it, for rules that must catch
    what this domain's tools would refuse (other data or a buggy tool could allow it)."""
    return RuleInput(actions=[Executed(name, arguments, "{}", True, "write")],
                     before=[env.state.fork()])


def find(env: Environment, status: str, predicate=None) -> tuple[str, dict[str, Any]]:
    """The first order with ``status`` (and ``predicate(order)``), as (id, order)."""
    orders = env.state["orders"]
    for order_id in orders:
        order = orders[order_id]
        if order["status"] == status and (predicate is None or predicate(order)):
            return order_id, order
    raise LookupError(status)


def methods(env: Environment, user_id: str, source: str | None = None) -> list[str]:
    """The user's payment method ids, optionally of one source."""
    pms = env.state["users"][user_id]["payment_methods"]
    return [m for m, v in pms.items() if source is None or v["source"] == source]


def other_available(env: Environment, item: dict[str, Any]) -> list[str]:
    """Available items of the same product, other than this one."""
    variants = env.state["products"][item["product_id"]]["variants"]
    return [v for v, var in variants.items() if var["available"] and v != item["item_id"]]
