"""The episode loop, best-of-N and the judge, driven by scripted models."""

from __future__ import annotations

import asyncio
import json

import pytest

from apigen_mt.blueprint.replies import ReplyError
from apigen_mt.env.domain import load_environment
from apigen_mt.llm.base import Choice, Completion, Settings
from apigen_mt.llm.scripted import ScriptedModel
from apigen_mt.records import Action, Blueprint
from apigen_mt.rollout.episode import Roles, play_episode
from apigen_mt.rollout.human import SimulatedHuman, human_view, parse_batch_scores
from apigen_mt.rollout.judge import missing_outputs, target_for
from apigen_mt.rollout.settings import JudgeSettings, RolloutSettings
from apigen_mt.runner.phase2 import failure_reason
from tests.env.test_engine import NOTES

MOVE = {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 5}
ASK = "I will transfer 5 from acc_1 to acc_2. Shall I go ahead?"
BP = Blueprint(env="notes", user_id="acc_1", instruction="You are Owner 1. Move 5 to acc_2.",
               actions=[Action(name="transfer", arguments=MOVE)], outputs=["moved"]).with_id()


def play(agent_script, human_script, critic=None, **settings):
    env = load_environment(NOTES)
    roles = Roles(human=ScriptedModel(human_script), critic=critic or ScriptedModel([]),
                  agent=ScriptedModel(agent_script))
    opts = RolloutSettings(best_of_n=1, **settings)
    return asyncio.run(play_episode(BP, env, target_for(env, BP), roles, opts, 0, 0)), roles


def test_a_faithful_episode_is_kept_and_recorded_as_openai_messages():
    traj, roles = play([ASK, ("transfer", MOVE), "Done, moved."],
                       ["Please move 5 to acc_2.", "Yes.", "Thanks ###STOP###"])
    assert traj.verdict.passed and traj.end_reason == "stop"
    roles_seen = [m["role"] for m in traj.messages]
    assert roles_seen == ["system", "assistant", "user", "assistant", "user", "assistant",
                          "tool", "assistant", "user"]
    call = traj.messages[5]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == MOVE
    assert traj.messages[6]["tool_call_id"] == call["id"]
    assert traj.messages[1]["content"] == "Hi! How can I help you today?"
    # the human never sees tools or tool results
    human_prompt = roles.human.calls[1].messages
    assert all(m["role"] != "tool" for m in human_prompt)
    assert roles.human.calls[0].tools is None


def test_a_wrong_write_fails_with_a_readable_diff_and_missing_outputs():
    wrong = {**MOVE, "amount": 6}
    traj, _ = play([("transfer", wrong), "All set."], ["Move 5 please.", "###STOP###"])
    assert not traj.verdict.passed and not traj.verdict.state_match
    assert any("balance" in line for line in traj.verdict.diff)
    assert traj.verdict.missing_outputs == ["moved"]


def test_malformed_calls_become_error_observations_and_are_counted():
    traj, _ = play([ASK, ("transfer", '{"from_account_id": "acc_1",'), ("transfer", MOVE),
                    "moved it"], ["Move 5.", "yes", "###STOP###"], stop_at_broken_rule=False)
    tool_messages = [m["content"] for m in traj.messages if m["role"] == "tool"]
    assert tool_messages[0].startswith("Error:") and traj.invalid_tool_calls == 1
    assert traj.verdict.state_match and not traj.verdict.passed  # kept apart by default
    traj, _ = play([ASK, ("transfer", '{"from_account_id": "acc_1",'), ("transfer", MOVE),
                    "moved it"], ["Move 5.", "yes", "###STOP###"],
                   reject_invalid_tool_calls=False)
    assert traj.verdict.passed


def test_an_invalid_call_stops_the_episode_there_when_it_cannot_be_kept():
    agent = [ASK, ("transfer", '{"from_account_id": "acc_1",'), ("transfer", MOVE), "moved it"]
    traj, roles = play(agent, ["Move 5.", "yes", "###STOP###"])
    assert traj.end_reason == "broken_rule" and not traj.verdict.passed
    assert traj.messages[-1]["role"] == "tool" and traj.messages[-1]["content"].startswith(
        "Error:")  # the record ends with the bad call and its answer
    assert len(roles.agent.calls) == 2 and len(roles.human.calls) == 2  # nothing after it
    assert "stopped at a broken rule: the agent made an invalid tool call" in \
        traj.verdict.reasons
    assert failure_reason(traj) == "invalid_tool_call"
    # when invalid calls are forgiven, the same episode plays on and is kept
    traj, _ = play(agent, ["Move 5.", "yes", "###STOP###"], reject_invalid_tool_calls=False)
    assert traj.end_reason == "stop" and traj.verdict.passed


def test_a_write_without_consent_stops_the_episode_at_that_write():
    agent = ["Which accounts?", ("transfer", MOVE), "Done, moved."]
    traj, roles = play(agent, ["Move 5 to acc_2.", "From acc_1.", "Thanks ###STOP###"])
    assert traj.end_reason == "broken_rule" and traj.verdict.state_match
    assert not traj.verdict.passed and "consent" in traj.verdict.failed_rules
    assert len(roles.agent.calls) == 2 and len(roles.human.calls) == 2
    assert failure_reason(traj) == "no_consent"
    # played out to its end when asked, and still not kept
    traj, roles = play(agent, ["Move 5 to acc_2.", "From acc_1.", "Thanks ###STOP###"],
                       stop_at_broken_rule=False)
    assert traj.end_reason == "stop" and not traj.verdict.passed
    assert len(roles.agent.calls) == 3
    # with consent not judged (τ-bench's protocol), nothing stops it there
    traj, _ = play(agent, ["Move 5 to acc_2.", "From acc_1.", "Thanks ###STOP###"],
                   judge=JudgeSettings(consent=False))
    assert traj.end_reason == "stop" and traj.verdict.passed
    assert RolloutSettings().for_protocol("tau").judge_rules().consent is False


def test_max_turns_and_ending_tools_end_the_episode():
    traj, _ = play(["Let me think."] * 3, ["Hello"] * 3, max_turns=2)
    assert traj.end_reason == "max_turns" and not traj.verdict.passed
    traj, _ = play([("transfer_to_human_agents", {"summary": "needs a human"})], ["Help"])
    assert traj.end_reason == "ending_tool"


def test_only_one_tool_call_per_turn_runs_by_default():
    traj, _ = play([ASK, [("transfer", MOVE), ("transfer", MOVE)], "moved"],
                   ["Move 5.", "Yep", "###STOP###"])
    assert len(traj.messages[5]["tool_calls"]) == 1 and traj.verdict.passed


def test_best_of_n_sends_the_candidate_the_critic_scores_highest():
    human = ScriptedModel(["Move 500 to acc_9.", "Move 5 to acc_2.", "Hi.", "Hey."])
    critic = ScriptedModel(['{"score": 2}', '{"score": 9}', '{"score": 9}', "7"])
    h = SimulatedHuman(human, critic, "Move 5 to acc_2.", best_of_n=4, settings=Settings(),
                       critic_mode="each")
    turn = asyncio.run(h.reply([{"role": "assistant", "content": "Hi!"}], 0))
    assert turn.text == "Move 5 to acc_2." and turn.scores == [2, 9, 9, 7]
    samples = {c.settings.sample for c in human.calls}
    assert len(samples) == 4  # four different draws (this model ignores n: one by one)
    assert human.calls[0].settings.n == 4 and len(critic.calls) == 4


def _batched(critic_script, candidates=("Move 500 to acc_9.", "Move 5 to acc_2.", "Hi.",
                                        "Move 5 to acc_2.")):
    human = ScriptedModel(lambda m, t, s: Completion(
        text=candidates[0], choices=[Choice(text=c) for c in candidates[:s.n]]))
    critic = ScriptedModel(critic_script)
    h = SimulatedHuman(human, critic, "Move 5 to acc_2.", best_of_n=4, settings=Settings())
    return asyncio.run(h.reply([{"role": "assistant", "content": "Hi!"}], 0)), human, critic


def test_the_batched_critic_scores_every_distinct_candidate_in_one_request():
    answer = json.dumps({"scores": [{"candidate": 1, "score": 2, "reason": "wrong amount"},
                                    {"candidate": 3, "score": 4, "reason": "vague"},
                                    {"candidate": 2, "score": 9, "reason": "faithful"}]})
    turn, human, critic = _batched([answer])
    assert len(human.calls) == 1 and len(critic.calls) == 1  # n=4 in one request
    prompt = critic.calls[0].messages[1]["content"]
    assert "Candidate 3:\nHi." in prompt and "Candidate 4:" not in prompt  # duplicates once
    assert turn.text == "Move 5 to acc_2." and turn.chosen == 1
    assert turn.scores == [2, 9, 4, 9]
    assert turn.reasons == ["wrong amount", "faithful", "vague", "faithful"]
    assert turn.candidates[3] == "Move 5 to acc_2."


def test_a_malformed_batched_answer_is_sent_back_and_retried():
    bad = [json.dumps({"scores": [9, 2]}), "no idea", json.dumps({"scores": [1, 11, 3]})]
    good = json.dumps({"scores": [3, 8, 1]})
    turn, _, critic = _batched([bad[0], good])
    assert turn.scores == [3, 8, 1, 8] and len(critic.calls) == 2
    retry = critic.calls[1].messages
    assert retry[-1]["role"] == "user" and "3 candidates but 2 scores" in retry[-1]["content"]
    assert critic.calls[1].settings.sample != critic.calls[0].settings.sample
    turn, _, critic = _batched(bad)  # never usable: first candidate, the error kept
    assert len(critic.calls) == 3 and turn.scores == [] and turn.chosen == 0
    assert "not a number from 0 to 10" in turn.critic_error


def test_identical_candidates_need_no_critic():
    turn, human, critic = _batched([], candidates=("Same.",) * 4)
    assert turn.text == "Same." and critic.calls == [] and len(human.calls) == 1


def test_parse_batch_scores_accepts_numbers_and_rejects_bad_entries():
    assert parse_batch_scores('{"scores": [1, 2.5]}', 2) == ([1.0, 2.5], ["", ""])
    for text, why in (('{"scores": [{"candidate": 1, "score": 1}, {"candidate": 1, '
                       '"score": 2}]}', "scored twice"),
                      ('{"scores": [{"candidate": 5, "score": 1}, 2]}', "not 1 to 2"),
                      ('{"scores": [true, 2]}', "not a number"),
                      ('{"score": 3}', 'no "scores" list')):
        with pytest.raises(ReplyError, match=why):
            parse_batch_scores(text, 2)


def test_judge_outputs_rule_is_lowercase_commas_removed_substring():
    said = [{"role": "assistant", "content": "Your total is 1,234.50 USD"}]
    assert missing_outputs(["1234.50"], said) == []
    assert missing_outputs(["1235"], said) == ["1235"]
    view = human_view([{"role": "assistant", "content": "Hi"},
                       {"role": "assistant", "content": None, "tool_calls": []},
                       {"role": "tool", "content": "x", "tool_call_id": "1"},
                       {"role": "user", "content": "yo"}])
    assert view == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "yo"}]
