"""Conversion details on hand-made trajectories: ids, parallel calls, STOP, greeting."""

from __future__ import annotations

import json
from collections import Counter

from apigen_mt.export.convert import to_dpo, to_openai, to_sharegpt
from apigen_mt.export.formats import ShareGPTRecord, openai_problems
from apigen_mt.records import JudgeVerdict, Trajectory

TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "d",
                                           "parameters": {"type": "object", "properties": {}}}}]


def _traj(messages, passed=True, trial=0):
    return Trajectory(id=f"traj-{trial}", blueprint_id="bp-1", env="x", trial=trial,
                      messages=messages, verdict=JudgeVerdict(passed=passed,
                                                              state_match=passed),
                      end_reason="stop")


def _call(cid, args):
    return {"id": cid, "type": "function",
            "function": {"name": "lookup", "arguments": json.dumps(args)}}


CONVO = [
    {"role": "system", "content": "policy"},
    {"role": "assistant", "content": "Hi! How can I help you today?"},
    {"role": "user", "content": "look up a and b"},
    {"role": "assistant", "content": None, "tool_calls": [_call("c1", {"k": "a"}),
                                                          _call("c1", {"k": "b"})]},
    {"role": "tool", "tool_call_id": "c1", "content": "A"},
    {"role": "tool", "tool_call_id": "c1", "content": "B"},
    {"role": "assistant", "content": ""},
    {"role": "assistant", "content": "a is A, b is B"},
    {"role": "user", "content": "thanks ###STOP###"},
]


def test_openai_makes_ids_unique_and_answers_in_order():
    rec = to_openai(_traj(CONVO), TOOLS)
    assert openai_problems(rec) == []
    calls = rec["messages"][3]["tool_calls"]
    assert [c["id"] for c in calls] == ["c1", "c1_1"]
    assert [m["tool_call_id"] for m in rec["messages"] if m["role"] == "tool"] == ["c1", "c1_1"]
    assert rec["parallel_tool_calls"] is True
    assert rec["messages"][-1] == {"role": "user", "content": "thanks"}
    assert all(m.get("content") != "" for m in rec["messages"])  # the empty turn is gone


def test_sharegpt_pairs_each_call_with_its_observation():
    rec = ShareGPTRecord.model_validate(to_sharegpt(_traj(CONVO), [TOOLS[0]["function"]]))
    assert rec.problems() == []
    assert [(t.from_, t.value) for t in rec.conversations] == [
        ("human", "look up a and b"),
        ("function_call", json.dumps({"name": "lookup", "arguments": {"k": "a"}})),
        ("observation", "A"),
        ("function_call", json.dumps({"name": "lookup", "arguments": {"k": "b"}})),
        ("observation", "B"),
        ("gpt", "a is A, b is B"),
    ]
    assert rec.system == "policy"


def test_openai_rules_catch_broken_records():
    good = to_openai(_traj(CONVO), TOOLS)
    unanswered = json.loads(json.dumps(good))
    del unanswered["messages"][5]
    assert any("never answered" in p for p in openai_problems(unanswered))
    stray = json.loads(json.dumps(good))
    stray["messages"][4]["tool_call_id"] = "zzz"
    assert any("answers no open call" in p for p in openai_problems(stray))
    bad_role = json.loads(json.dumps(good))
    bad_role["messages"][2]["role"] = "human"
    assert openai_problems(bad_role)
    unknown = json.loads(json.dumps(good))
    unknown["messages"][3]["tool_calls"][0]["function"]["name"] = "nope"
    assert any("undeclared tool" in p for p in openai_problems(unknown))
    serial = json.loads(json.dumps(good))
    serial["parallel_tool_calls"] = False
    assert any("parallel_tool_calls" in p for p in openai_problems(serial))
    no_assistant = {"messages": [{"role": "user", "content": "hi"}]}
    assert any("no assistant" in p for p in openai_problems(no_assistant))


def test_dpo_prompt_ends_before_the_diverging_assistant_turn():
    base = CONVO[:3]
    good = _traj([*base, {"role": "assistant", "content": None,
                          "tool_calls": [_call("x1", {"k": "a"})]},
                  {"role": "tool", "tool_call_id": "x1", "content": "A"},
                  {"role": "assistant", "content": "done"},
                  {"role": "user", "content": "###STOP###"}])
    bad = _traj([*base, {"role": "assistant", "content": None,
                         "tool_calls": [_call("y1", {"k": "z"})]},
                 {"role": "tool", "tool_call_id": "y1", "content": "Error: no z"},
                 {"role": "assistant", "content": "sorry"}], passed=False, trial=1)
    rec = to_dpo(good, bad, TOOLS)
    assert [m["role"] for m in rec["prompt"]] == ["system", "assistant", "user"]
    assert rec["chosen"][0]["tool_calls"][0]["function"]["arguments"] == {"k": "a"}
    assert rec["rejected"][-1]["content"] == "sorry" and rec["chosen"][-1]["content"] == "done"
    assert to_dpo(good, good, TOOLS) is None


def test_sharegpt_of_a_conversation_cut_after_a_tool_call_ends_on_the_last_reply():
    cut = [*CONVO[:-1], {"role": "user", "content": "now look up c"},
           {"role": "assistant", "content": None, "tool_calls": [_call("c2", {"k": "c"})]},
           {"role": "tool", "tool_call_id": "c2", "content": "C"}]
    notes = Counter()
    rec = to_sharegpt(_traj(cut, passed=False), [], notes)
    assert rec["conversations"][-1] == {"from": "gpt", "value": "a is A, b is B"}
    assert notes["unanswered_tail_turns"] == 3  # the question, the call, its result
    assert not ShareGPTRecord.model_validate(rec).problems()
