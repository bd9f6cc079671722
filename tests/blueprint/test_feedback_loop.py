"""Drafter → checks → feedback → redraft, driven by scripted models (no sim, no network)."""

from __future__ import annotations

import asyncio
import json

from apigen_mt.blueprint.committee import Reviewer
from apigen_mt.blueprint.context import ContextSampler
from apigen_mt.blueprint.drafters import LLMDrafter
from apigen_mt.blueprint.feedback import FeedbackWriter
from apigen_mt.blueprint.produce import Phase1, produce
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.env.domain import load_environment
from apigen_mt.llm.base import Settings
from apigen_mt.llm.scripted import ScriptedModel
from tests.env.test_engine import NOTES

GOOD = {"user_id": "acc_1", "instruction": "You are Owner 1 (acc_1). Move 5 to acc_2.",
        "actions": [{"name": "transfer", "arguments": {"from_account_id": "acc_1",
                                                       "to_account_id": "acc_2", "amount": 5}}]}
BAD = {**GOOD, "actions": [{"name": "transfer", "arguments": {
    "from_account_id": "acc_1", "to_account_id": "acc_9", "amount": 5}}]}
YES = json.dumps({"correctness": 1, "completeness": 1, "satisfaction": 1, "creativity": 1})
NO = json.dumps({"correctness": 0, "completeness": 0, "satisfaction": 1, "creativity": 1,
                 "reflection": "the amount is not in the instruction"})


def phase(drafter, reviewers, feedback, rounds=3, ask_for=None, env_name=NOTES):
    env = load_environment(env_name)
    settings = BlueprintSettings(max_rounds={env.name: rounds}, recombine_share=0,
                                 committee_size=len(reviewers))
    return Phase1(env=env, settings=settings, sampler=ContextSampler(env, settings, 0),
                  drafter=LLMDrafter(env, drafter, Settings()),
                  reviewers=[Reviewer(f"r{i}", m, Settings()) for i, m in enumerate(reviewers)],
                  feedback=FeedbackWriter(feedback, Settings(), ask_for), recombiner=None,
                  recombiner_settings=Settings(), seed=0)


def test_a_failing_draft_gets_feedback_and_the_redraft_is_accepted():
    drafter = ScriptedModel([json.dumps(BAD), "```json\n" + json.dumps(GOOD) + "\n```"])
    feedback = ScriptedModel(["Use acc_2 as the receiving account; acc_9 does not exist."])
    reviewers = [ScriptedModel([YES]) for _ in range(3)]
    result = asyncio.run(produce(phase(drafter, reviewers, feedback), 0, []))
    bp = result.accepted
    assert bp is not None and bp.provenance.rounds == 2
    assert bp.provenance.feedback == ["Use acc_2 as the receiving account; acc_9 does not exist."]
    stages = [(v.stage, v.passed) for v in bp.provenance.verdicts]
    assert stages == [("format", True), ("execution", False), ("format", True),
                      ("execution", True), ("policy", True), ("committee", True)]
    # the feedback role saw the execution error; the redraft saw the advice
    assert "account not found" in feedback.calls[0].messages[-1]["content"]
    assert "acc_9 does not exist" in drafter.calls[1].messages[-1]["content"]
    assert bp.id.startswith("bp-") and bp.target_hash and bp.diff


def test_committee_rejection_after_the_last_round_is_recorded_with_reasons():
    drafter = ScriptedModel([json.dumps(GOOD)] * 2)
    reviewers = [ScriptedModel([NO, NO]) for _ in range(3)]
    feedback = ScriptedModel(["State the amount."])
    result = asyncio.run(produce(phase(drafter, reviewers, feedback, rounds=2), 4, []))
    rej = result.rejected
    assert result.accepted is None and rej is not None
    assert rej.stage == "committee" and rej.rounds == 2 and rej.slot == 4
    assert any("amount is not in the instruction" in r for r in rej.reasons)
    assert len(feedback.calls) == 1  # no feedback after the final round


def test_by_default_the_checks_reasons_reach_the_drafter_without_a_feedback_call():
    from apigen_mt.blueprint.feedback import FEEDBACK_STAGES
    from apigen_mt.blueprint.settings import BlueprintSettings

    ask_for = FEEDBACK_STAGES[BlueprintSettings().feedback]
    drafter = ScriptedModel([json.dumps(BAD), json.dumps(GOOD)])
    feedback = ScriptedModel([])  # any call to it would fail the slot
    reviewers = [ScriptedModel([YES]) for _ in range(3)]
    result = asyncio.run(produce(phase(drafter, reviewers, feedback, ask_for=ask_for), 0, []))
    assert result.accepted is not None and result.accepted.provenance.rounds == 2
    assert feedback.calls == []
    said = drafter.calls[1].messages[-1]["content"]
    assert "The execution check rejected it:\n- action 0 (transfer) failed:" in said
    assert "account not found" in said
    assert result.accepted.provenance.feedback[0].startswith("The execution check")


def test_by_default_a_committee_rejection_is_still_summarised_by_the_feedback_role():
    from apigen_mt.blueprint.feedback import FEEDBACK_STAGES

    drafter = ScriptedModel([json.dumps(GOOD)] * 2)
    reviewers = [ScriptedModel([NO, YES]) for _ in range(3)]
    feedback = ScriptedModel(["State the amount of 5 in the instruction."])
    result = asyncio.run(produce(phase(drafter, reviewers, feedback,
                                       ask_for=FEEDBACK_STAGES["reviews"]), 0, []))
    assert result.accepted is not None and len(feedback.calls) == 1
    assert "amount is not in the instruction" in feedback.calls[0].messages[-1]["content"]
    assert "State the amount of 5" in drafter.calls[1].messages[-1]["content"]


def test_unparseable_drafts_are_answered_with_the_parse_error():
    drafter = ScriptedModel(["Sure! Here you go: a nice task.", json.dumps(GOOD)])
    reviewers = [ScriptedModel([YES]) for _ in range(3)]
    result = asyncio.run(produce(phase(drafter, reviewers, ScriptedModel([])), 0, []))
    assert result.accepted is not None and result.accepted.provenance.rounds == 1
    retry = drafter.calls[1].messages[-1]["content"]
    assert "could not read a JSON object" in retry


def test_a_run_whose_drafts_always_fail_stops_with_a_clear_reason(tmp_path):
    import pytest

    from apigen_mt.errors import RunFailure
    from apigen_mt.runner.phase1 import run_phase1
    from apigen_mt.runner.store import RunDir

    p = phase(ScriptedModel(lambda *_: "no JSON here"), [ScriptedModel([YES])],
              ScriptedModel(lambda *_: "try harder"), rounds=1)
    p.settings.max_slots_per_blueprint = 3
    with RunDir(tmp_path / "run") as run, pytest.raises(RunFailure) as err:
        asyncio.run(run_phase1(p, run, n=2, concurrency=4))
    assert "only 0 of 2 blueprints accepted" in str(err.value)
    assert "drafter" in str(err.value)
    rejected = (tmp_path / "run" / "blueprints.rejected.jsonl").read_text().splitlines()
    assert 20 <= len(rejected) <= 26


BAGS = {"name": "update_reservation_baggages", "arguments": {
    "reservation_id": "OGPSH9", "total_baggages": 3, "nonfree_baggages": 2,
    "payment_id": "gift_card_9823186"}}  # 2 regular business travellers: 4 bags are free


def test_a_draft_that_fails_to_execute_hears_the_policy_findings_too():
    from apigen_mt.blueprint.feedback import FEEDBACK_STAGES

    both = {"user_id": "bruno_esposito_3095", "instruction": "You are Bruno Esposito.",
            "actions": [BAGS, {"name": "cancel_reservation",
                               "arguments": {"reservation_id": "ZZZZZZ"}}]}
    drafter = ScriptedModel([json.dumps(both), json.dumps(both)])
    result = asyncio.run(produce(phase(drafter, [ScriptedModel([])], ScriptedModel([]), rounds=2,
                                       ask_for=FEEDBACK_STAGES["reviews"],
                                       env_name="airline"), 0, []))
    rej = result.rejected
    assert rej is not None and rej.stage == "execution"  # rejected where it first failed
    assert rej.reasons == ["action 1 (cancel_reservation) failed: Error: reservation not found"]
    said = drafter.calls[1].messages[-1]["content"]
    assert "The execution check rejected it:\n- action 1 (cancel_reservation) failed" in said
    assert "The policy check also found:\n- nonfree_bags_match_allowance: action 0 " in said
    assert "so 0 should be paid, not 2" in said
    stages = [(v.stage, v.passed) for v in rej.verdicts]
    assert stages == [("format", True), ("execution", False), ("policy", False)] * 2
