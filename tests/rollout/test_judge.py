"""The judge's rules, one by one, on hand-written retail conversations."""

from __future__ import annotations

import json

import pytest

from apigen_mt.rollout.judge import judge, target_for
from apigen_mt.rollout.settings import JudgeSettings
from tests.rollout.conversations import (
    Script,
    cancel_blueprint,
    clean_cancel,
    pending_order,
    retail,
)


@pytest.fixture(scope="module")
def env():
    return retail()


def verdict_of(env, script: Script, expected=None, **rules):
    bp = cancel_blueprint(env, expected)
    return judge(bp, target_for(env, bp), script.world, script.messages, JudgeSettings(**rules))


def test_a_clean_conversation_is_kept(env):
    verdict = verdict_of(env, clean_cancel(env), expected=["full refund"])
    assert verdict.passed, verdict.reasons
    assert verdict.failed_rules == []


def test_a_write_with_no_consent_is_rejected_and_the_rule_can_be_turned_off(env):
    script = clean_cancel(env, ask=False)
    verdict = verdict_of(env, script)
    assert not verdict.passed and verdict.state_match
    assert verdict.failed_rules == ["consent"]
    assert "cancel_pending_order" in verdict.reasons[0]
    assert verdict_of(env, script, consent=False).passed


@pytest.mark.parametrize("reply", ["No, don't do that.", "Wait, what will it cost?",
                                   "Only if it is free.", "Hold on.", "",
                                   "Yes, cancel #W0000000 instead."])
def test_anything_but_a_plain_yes_is_not_consent(env, reply):
    verdict = verdict_of(env, clean_cancel(env, reply=reply))
    assert not verdict.passed and verdict.failed_rules == ["consent"], verdict.reasons


def test_a_yes_to_a_proposal_without_the_details_is_not_consent(env):
    verdict = verdict_of(env, clean_cancel(env, proposal="Shall I cancel it?"))
    assert verdict.failed_rules == ["consent"]
    assert "does not state" in verdict.reasons[0]


def test_a_write_before_identification_is_rejected(env):
    script = clean_cancel(env, identify=False)
    verdict = verdict_of(env, script)
    assert verdict.state_match and verdict.failed_rules == ["identification"]
    assert "identified" in verdict.reasons[0]
    assert verdict_of(env, script, identification=False).passed


def test_an_output_split_across_replies_is_not_said(env):
    script = clean_cancel(env)
    script.messages[-2]["content"] = "Done: the order is cancelled and you will get a full"
    script.agent("refund soon.")
    verdict = verdict_of(env, script, expected=["full refund"])
    assert verdict.failed_rules == ["outputs"] and verdict.missing_outputs == ["full refund"]
    assert verdict_of(env, script, expected=["full refund"], outputs=False).passed


def test_an_output_written_only_beside_a_tool_call_is_not_said(env):
    order_id, _, _ = pending_order(env)
    script = clean_cancel(env)
    # the report moves into the text of a (harmless) read call
    script.messages[-2:] = []
    script.call("get_order_details", {"order_id": order_id},
                text="Done: the order is cancelled and you will get a full refund.")
    script.agent("Anything else?").user("No. ###STOP###")
    verdict = verdict_of(env, script, expected=["full refund"])
    assert verdict.failed_rules == ["outputs"]


def test_a_wrong_state_fails_the_state_rule(env):
    order_id, _, _ = pending_order(env)
    script = clean_cancel(env)
    script.world.execute("cancel_pending_order", {"order_id": order_id,
                                                  "reason": "ordered by mistake"})
    bp = cancel_blueprint(env)
    other = bp.model_copy(update={"actions": bp.actions[:1]})  # the target changes nothing
    verdict = judge(other, target_for(env, other), script.world, script.messages)
    assert not verdict.passed and verdict.failed_rules[0] == "state"


def _booking(env):
    """A valid book_reservation call whose flight carries keys the schema does not name."""
    user_id, card = next((u, p) for u, user in env.state["users"].items()
                         for p, m in user["payment_methods"].items()
                         if m["source"] == "credit_card")
    number, flight, date = next((n, f, d) for n, f in env.state["flights"].items()
                                for d, day in f["dates"].items()
                                if day["status"] == "available")
    price = flight["dates"][date]["prices"]["economy"]
    call = {"user_id": user_id, "origin": flight["origin"],
            "destination": flight["destination"], "flight_type": "one_way",
            "cabin": "economy", "passengers": [{"first_name": "A", "last_name": "B",
                                                "dob": "1990-01-01"}],
            "flights": [{"flight_number": number, "date": date, "origin": "XXX",
                         "destination": "YYY"}],
            "payment_methods": [{"payment_id": card, "amount": price}],
            "total_baggages": 0, "nonfree_baggages": 0, "insurance": "no"}
    return call, flight


def test_tau_bench_domains_run_calls_with_unknown_keys_in_nested_objects():
    import dataclasses

    from apigen_mt.env.domain import load_environment
    from apigen_mt.env.environment import Environment

    env = load_environment("airline")
    call, flight = _booking(env)
    world = env.fresh()
    observation = world.execute("book_reservation", call)
    assert not observation.startswith("Error"), observation
    segment = json.loads(observation)["flights"][0]
    assert segment["origin"] == flight["origin"]  # the tool's own values, as in τ-bench
    assert world.execute("book_reservation", {**call, "seat": "12A"}).startswith("Error")
    # a domain that does not run them so rejects the call and changes nothing
    strict = Environment(dataclasses.replace(env.domain, nested_extra_keys=False), env.base,
                         env.policy)
    assert "unexpected argument 'flights.0.origin'" in strict.execute("book_reservation", call)
    assert not strict.state.changes().get("reservations")


def test_each_rule_is_named_in_config_and_a_wrong_name_is_refused():
    from pydantic import ValidationError

    from apigen_mt.rollout.settings import RolloutSettings

    settings = RolloutSettings.model_validate({"judge": {"consent": False,
                                                         "identification": False}})
    assert settings.judge_rules() == JudgeSettings(consent=False, identification=False)
    assert RolloutSettings().judge_rules() == JudgeSettings()  # all four on by default
    assert RolloutSettings(require_conversation_rules=True).judge_rules().domain_rules
    with pytest.raises(ValidationError, match="consnet"):
        RolloutSettings.model_validate({"judge": {"consnet": False}})


def test_a_proposal_may_read_values_back_in_plain_words():
    from apigen_mt.rollout.judge import unstated_details

    call = {"flight_number": "HAT001", "date": "2024-05-20", "cabin": "basic_economy",
            "amount": 1234.5, "user_id": "sara_doe_496", "insurance": True}
    said = "I will book HAT001 on May 20, 2024 in basic economy for $1,234.50. OK?"
    assert unstated_details(call, said, {"user_id"}) == []
    assert unstated_details(call, "I will book HAT001 in basic economy.", {"user_id"}) == [
        "2024-05-20", "1234.5"]


def test_an_episode_in_a_tau_bench_domain_runs_such_a_call_as_a_valid_one():
    import asyncio

    from apigen_mt.env.domain import load_environment
    from apigen_mt.llm.scripted import ScriptedModel
    from apigen_mt.records import Action, Blueprint
    from apigen_mt.rollout.episode import Roles, play_episode
    from apigen_mt.rollout.settings import RolloutSettings

    env = load_environment("airline")
    call, _ = _booking(env)
    clean = {**call, "flights": [{k: v for k, v in f.items() if k in ("flight_number", "date")}
                                 for f in call["flights"]]}
    bp = Blueprint(env="airline", user_id=call["user_id"], instruction="Book it.",
                   actions=[Action(name="book_reservation", arguments=clean)]).with_id()
    roles = Roles(human=ScriptedModel(["Book it.", "Yes.", "###STOP###"]),
                  critic=ScriptedModel([]),
                  agent=ScriptedModel(["Shall I book it? " + json.dumps(call),
                                       ("book_reservation", call), "Booked."]))
    traj = asyncio.run(play_episode(bp, env, target_for(env, bp), roles,
                                    RolloutSettings(best_of_n=1), 0, 0))
    assert traj.invalid_tool_calls == 0 and traj.verdict.state_match, traj.verdict.reasons
