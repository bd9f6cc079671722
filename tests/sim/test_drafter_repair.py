"""The sim drafter's redraft after a check names a failing write: only that write changes."""

from __future__ import annotations

import asyncio

from apigen_mt.blueprint.context import ContextSampler
from apigen_mt.blueprint.drafters import compact, drafter_messages
from apigen_mt.blueprint.replies import parse_json_object
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.env.domain import load_environment
from apigen_mt.llm.base import Settings
from apigen_mt.sim.model import SimModel
from apigen_mt.sim.roles import builtin_roles


def _draft(model, convo, sample=0):
    done = asyncio.run(model.complete(convo, None, Settings(sample=sample)))
    return parse_json_object(done.text)


def _redraft(model, convo, draft, advice):
    return _draft(model, [*convo, {"role": "assistant", "content": compact(draft)},
                          {"role": "user", "content": f"The draft was rejected.\n{advice}\n\n"
                           "Write a corrected blueprint as one JSON object."}], sample=10)


def test_a_redraft_changes_the_write_a_check_named_and_keeps_the_others():
    env = load_environment("retail")
    writes = {t.name for t in env.domain.tools if t.kind == "write"}
    sampler = ContextSampler(env, BlueprintSettings(writes={3: 1.0}), 0)
    model = SimModel("sim:perfect", roles=builtin_roles())
    seen = redrawn = repaired = 0
    for slot in range(40):
        convo = drafter_messages(env, sampler.sample(slot, []))
        draft = _draft(model, convo)
        at = [i for i, a in enumerate(draft["actions"]) if a["name"] in writes]
        if len(at) < 2:
            continue
        bad = at[0]
        advice = (f"The execution check rejected it:\n- action {bad} "
                  f"({draft['actions'][bad]['name']}) failed: Error: not available")
        redraft = _redraft(model, convo, draft, advice)
        before = [draft["actions"][i] for i in at]
        after = [a for a in redraft["actions"] if a["name"] in writes]
        # what did not fail is kept as it was and the failed write is drafted again (when
        # the records offer nothing else for it, the task is drafted afresh)
        if after[1:] == before[1:]:
            assert after[0]["name"] == before[0]["name"]
            assert after[0]["arguments"] != before[0]["arguments"]
            repaired += 1
        # without a position, the whole draft is drafted again
        vague = _redraft(model, convo, draft, "The execution check rejected it:\n- failed")
        redrawn += [a for a in vague["actions"] if a["name"] in writes][1:] != before[1:]
        seen += 1
    assert seen >= 5 and repaired >= 0.8 * seen and redrawn >= 1


def test_a_redraft_stops_paying_with_the_card_an_error_names_in_words():
    env = load_environment("airline")
    writes = {t.name for t in env.domain.tools if t.kind == "write"}
    sampler = ContextSampler(env, BlueprintSettings(), 0)
    model = SimModel("sim:perfect", roles=builtin_roles())
    seen = 0
    for slot in range(150):
        convo = drafter_messages(env, sampler.sample(slot, []))
        draft = _draft(model, convo)
        paid = [(i, a) for i, a in enumerate(draft["actions"]) if a["name"] in writes
                and "gift_card_" in str(a["arguments"])]
        if not paid:
            continue
        i, action = paid[0]
        card = next(w for w in str(action["arguments"]).replace("'", " ").split()
                    if w.startswith("gift_card_"))
        advice = (f"The execution check rejected it:\n- action {i} ({action['name']}) "
                  "failed: Error: gift card balance is not enough")
        redraft = _redraft(model, convo, draft, advice)
        again = [a for a in redraft["actions"] if a["name"] == action["name"]]
        assert all(card not in str(a["arguments"]) for a in again)
        seen += 1
        if seen == 4:
            break
    assert seen == 4


def test_the_wrong_argument_flaw_is_an_id_the_execution_check_catches():
    from apigen_mt.blueprint.checks import check_execution, check_format
    from apigen_mt.llm.settings import SimSettings
    from apigen_mt.sim.drafter import DEFAULT_FLAWS

    flaws = {name: 0.0 for name in DEFAULT_FLAWS if name.startswith("drafter.")}
    flaws["drafter.wrong_argument"] = 1.0
    model = SimModel("sim:sim", SimSettings(flaws=flaws), roles=builtin_roles())
    for name in ("retail", "airline"):
        env = load_environment(name)
        sampler = ContextSampler(env, BlueprintSettings(), 0)
        for slot in range(30):
            draft = _draft(model, drafter_messages(env, sampler.sample(slot, [])))
            verdict, bp = check_format(draft, env)
            assert verdict.passed
            verdict, _ = check_execution(env, bp)
            # never a value no check can tell from a real one ("FLx" for a state)
            assert not verdict.passed, (name, slot, draft["actions"])
