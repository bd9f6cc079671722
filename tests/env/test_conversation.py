"""Conversation-reading helpers shared by every domain's conversation-only rules."""

from __future__ import annotations

from apigen_mt.env.conversation import (
    confirmation_violations,
    is_affirmative,
    multi_call_violations,
)


def call(name, args='{"order_id": "#W1"}'):
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": args}}


def describe(name, args):
    return f"{name} on {args.get('order_id')}"


def test_affirmative_and_negative_answers():
    for yes in ("Yes, please go ahead.", "ok", "Confirmed", "sure, do it"):
        assert is_affirmative(yes), yes
    for no in ("No, wait.", "Hold on, not yet", "don't proceed", "What does it cost?",
               "Please do not go ahead yet"):
        assert not is_affirmative(no), no


def test_a_write_needs_a_yes_just_before_it():
    confirmed = [{"role": "user", "content": "Cancel #W1."},
                 {"role": "assistant", "content": "Cancel #W1? (yes/no)"},
                 {"role": "user", "content": "Yes."},
                 {"role": "assistant", "content": None, "tool_calls": [call("cancel")]}]
    assert confirmation_violations(confirmed, {"cancel"}, describe) == []
    hasty = confirmed[:1] + confirmed[3:]
    reasons = confirmation_violations(hasty, {"cancel"}, describe)
    assert reasons and reasons[0].startswith("cancel on #W1 without an explicit yes")
    assert confirmation_violations(hasty, {"other"}, describe) == []  # reads need no yes


def test_one_call_per_turn():
    two = {"role": "assistant", "content": None, "tool_calls": [call("a"), call("b")]}
    both = {"role": "assistant", "content": "Let me check.", "tool_calls": [call("a")]}
    assert len(multi_call_violations([two, both])) == 2
    assert multi_call_violations([{"role": "assistant", "content": "hi"}]) == []
