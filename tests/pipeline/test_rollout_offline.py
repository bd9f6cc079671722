"""`apigen-mt run` offline: 100 trajectories, failures for real reasons, and an independent
replay that proves every kept conversation and disproves every failed one."""

from __future__ import annotations

import json

import pytest

from apigen_mt.env.domain import load_environment
from apigen_mt.records import Blueprint, Trajectory
from apigen_mt.rollout.judge import consent_violations, missing_outputs
from apigen_mt.runner.phase2 import failure_reason
from tests.pipeline.conftest import cli


def replay_conversation(env, messages):
    """Run the conversation's tool calls, in order, on a fresh copy."""
    fresh = env.fresh()
    for m in messages:
        for call in m.get("tool_calls") or []:
            try:
                args = json.loads(call["function"]["arguments"])
            except json.JSONDecodeError:
                continue  # a malformed call never reached the environment
            fresh.execute(call["function"]["name"], args)
    return fresh


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_run_keeps_only_conversations_the_state_proves(domain, tmp_path):
    out = tmp_path / domain
    output = cli("run", "--env", domain, "--n", "100", "--out", str(out), "--quiet")
    assert "Rollouts" in output and "accepted trajectories" in output
    accepted = [Trajectory.model_validate_json(x) for x in (out / "trajectories.jsonl").open()]
    failed = [Trajectory.model_validate_json(x)
              for x in (out / "trajectories.failed.jsonl").open()]
    assert len(accepted) == 100
    assert failed, "the sim roles should fail some episodes for real reasons"
    blueprints = {b.id: b for b in (Blueprint.model_validate_json(x)
                                    for x in (out / "blueprints.jsonl").open())}
    env = load_environment(domain)
    writes = {name for name, tool in env.tools.items() if tool.kind == "write"}
    targets = {}
    for bp_id, bp in blueprints.items():
        target = env.fresh()
        target.replay([a.model_dump() for a in bp.actions])
        targets[bp_id] = target.hash()
    for t in accepted:
        assert t.verdict.passed and t.end_reason in ("stop", "ending_tool")
        assert t.invalid_tool_calls == 0
        final = replay_conversation(env, t.messages)
        assert final.hash() == targets[t.blueprint_id] == t.target_hash
        assert not missing_outputs(blueprints[t.blueprint_id].outputs, t.messages)
        assert not consent_violations(t.messages, writes)
        _check_openai_messages(t.messages)
    for t in failed:
        final = replay_conversation(env, t.messages)
        reason = failure_reason(t)
        state_ok = final.hash() == targets[t.blueprint_id]
        assert state_ok == t.verdict.state_match, t.id
        if reason == "state_mismatch":
            assert not state_ok and t.verdict.diff
        elif reason == "missing_outputs":
            assert missing_outputs(blueprints[t.blueprint_id].outputs, t.messages)
        elif reason == "unreadable_instruction":  # the customer said why it could not play
            assert "###UNREADABLE###" in t.messages[-1]["content"]
            assert any("could not read its instruction" in r for r in t.verdict.reasons)
        elif reason == "no_consent":  # the sim agent's named flaw: it skipped the question
            assert consent_violations(t.messages, writes)
            # stopped at that write: its answer is the last message, nothing is played after
            assert t.end_reason == "broken_rule" and t.messages[-1]["role"] == "tool"
        else:
            assert reason in ("max_turns", "model_error", "policy", "invalid_tool_call",
                              "not_identified")
            if reason == "invalid_tool_call":
                assert t.invalid_tool_calls > 0
                assert t.end_reason == "broken_rule" and t.messages[-1]["role"] == "tool"
    assert len({t.id for t in accepted}) == 100
    # the judge visibly catches the agent that writes without asking
    assert any(failure_reason(t) == "no_consent" for t in failed)
    # some tasks also ask for a fact, and the kept conversations say it
    assert any(blueprints[t.blueprint_id].outputs for t in accepted)


def _check_openai_messages(messages):
    assert messages[0]["role"] == "system"
    pending = set()
    for m in messages:
        assert m["role"] in ("system", "user", "assistant", "tool")
        for call in m.get("tool_calls") or []:
            assert isinstance(call["function"]["arguments"], str)
            pending.add(call["id"])
        if m["role"] == "tool":
            assert m["tool_call_id"] in pending
            pending.discard(m["tool_call_id"])
    assert not pending
