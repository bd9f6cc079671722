"""Hand-written retail conversations for the judge and `verify` tests."""

from __future__ import annotations

import json
from typing import Any

from apigen_mt.env.domain import load_environment
from apigen_mt.env.environment import Environment
from apigen_mt.records import Action, Blueprint

REASON = "no longer needed"


def retail() -> Environment:
    """The generated retail environment (seed 0)."""
    return load_environment("retail")


def pending_order(env: Environment) -> tuple[str, str, str]:
    """(order id, user id, email) of the first pending order."""
    for order_id, order in env.state["orders"].items():
        if order["status"] == "pending":
            user_id = order["user_id"]
            return order_id, user_id, env.state["users"][user_id]["email"]
    raise AssertionError("no pending order in the generated data")


def cancel_blueprint(env: Environment, outputs: list[str] | None = None) -> Blueprint:
    """Identify by email, then cancel the first pending order."""
    order_id, user_id, email = pending_order(env)
    return Blueprint(env="retail", user_id=user_id, instruction="Cancel your pending order.",
                     actions=[Action(name="find_user_id_by_email", arguments={"email": email}),
                              Action(name="cancel_pending_order",
                                     arguments={"order_id": order_id, "reason": REASON})],
                     outputs=outputs or []).with_id()


class Script:
    """Builds a conversation turn by turn, running each call on a fresh copy."""

    def __init__(self, env: Environment):
        self.world = env.fresh()
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": "policy"},
            {"role": "assistant", "content": "Hi! How can I help you today?"}]
        self.calls = 0

    def user(self, text: str) -> Script:
        self.messages.append({"role": "user", "content": text})
        return self

    def agent(self, text: str) -> Script:
        self.messages.append({"role": "assistant", "content": text})
        return self

    def call(self, name: str, arguments: dict[str, Any], text: str | None = None) -> Script:
        self.calls += 1
        call_id = f"call_{self.calls}"
        self.messages.append({"role": "assistant", "content": text, "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": name, "arguments": json.dumps(arguments)}}]})
        observation = self.world.execute(name, arguments)
        self.messages.append({"role": "tool", "tool_call_id": call_id, "name": name,
                              "content": observation})
        return self


def clean_cancel(env: Environment, reply: str = "Yes, please go ahead.",
                 proposal: str | None = None, identify: bool = True,
                 ask: bool = True) -> Script:
    """Identify, propose with the details, hear the reply, cancel, report."""
    order_id, _, email = pending_order(env)
    s = Script(env).user("I want to cancel an order.")
    if identify:
        s.agent("Sure. What is your email?").user(f"My email is {email}.")
        s.call("find_user_id_by_email", {"email": email})
    s.agent("Which order?").user(f"Order {order_id}, I no longer need it.")
    if ask:
        s.agent(proposal or f"I will cancel order {order_id} with the reason '{REASON}'. "
                            "Shall I proceed?")
        s.user(reply)
    s.call("cancel_pending_order", {"order_id": order_id, "reason": REASON})
    s.agent("Done: the order is cancelled and you will get a full refund.")
    return s.user("Thanks. ###STOP###")
