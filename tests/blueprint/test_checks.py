"""Format, execution and policy checks each return a verdict with reasons."""

from __future__ import annotations

from apigen_mt.blueprint.checks import check_execution, check_format, check_policy
from apigen_mt.env.domain import load_environment
from tests.env.test_engine import NOTES


def env():
    return load_environment(NOTES)


def draft(actions, **extra):
    return {"user_id": "acc_1", "instruction": "You are Owner 1.", "actions": actions, **extra}


def test_format_catches_unknown_tools_arguments_types_and_users():
    verdict, _ = check_format(draft([
        {"name": "nope", "arguments": {}},
        {"name": "transfer", "arguments": {"from_account_id": "acc_1", "amount": "5"}},
    ], user_id="ghost"), env())
    text = " | ".join(verdict.reasons)
    assert not verdict.passed and verdict.stage == "format"
    assert "unknown tool 'nope'" in text
    assert "missing argument 'to_account_id'" in text and "invalid argument 'amount'" in text
    assert "user_id 'ghost' does not exist" in text
    bad, _ = check_format({"instruction": 3}, env())
    assert not bad.passed and bad.reasons


def test_execution_rejects_failing_writes_warns_on_failing_reads_and_keeps_the_diff():
    e = env()
    _, bp = check_format(draft([
        {"name": "get_account", "arguments": {"account_id": "missing"}},
        {"name": "transfer", "arguments": {"from_account_id": "acc_1", "to_account_id": "acc_2",
                                           "amount": 1}}]), e)
    verdict, run = check_execution(e, bp)
    assert verdict.passed and verdict.warnings and "account not found" in verdict.warnings[0]
    assert verdict.details["diff"] and verdict.details["hash"] == run.env.hash()
    _, bad = check_format(draft([{"name": "transfer", "arguments": {
        "from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 10**6}}]), e)
    verdict, _ = check_execution(e, bad)
    assert not verdict.passed and "insufficient balance" in verdict.reasons[0]


def test_execution_rejects_drafts_that_change_nothing_unless_asked_not_to():
    e = env()
    _, bp = check_format(draft([{"name": "get_account", "arguments": {"account_id": "acc_1"}}]),
                         e)
    assert not check_execution(e, bp)[0].passed
    assert check_execution(e, bp, require_change=False)[0].passed


def test_policy_runs_the_domain_rules_over_the_executed_actions():
    e = env()
    assert e.state["accounts"]["acc_1"]["balance"] == 97  # seed 0
    _, bp = check_format(draft([{"name": "transfer", "arguments": {
        "from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 60}}]), e)
    verdict, run = check_execution(e, bp)
    assert verdict.passed  # the tool allows it ...
    verdict = check_policy(e, run)
    assert not verdict.passed and verdict.reasons == ["no_big_transfers: transfer of 60 exceeds 50"]
