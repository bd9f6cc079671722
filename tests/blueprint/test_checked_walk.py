"""The suggested walk of a class environment is checked on a scratch copy: it comes in an
order that works, each step's ``applies_to`` holds values the prompt's records (or the
schema) show, and a step that says a later call needs it is telling the truth: without
it that call fails with the error it quotes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from apigen_mt.blueprint.checked_walk import checked_steps
from apigen_mt.blueprint.context import ContextSampler, user_view
from apigen_mt.blueprint.drafters import drafter_messages
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.env.class_adapter import load_class_environment
from apigen_mt.env.graph import ApiGraph

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "classes"
CLASSES = [("shell", "Shell", "mount"), ("helpdesk", "HelpDesk", None),
           ("feed", "Feed", None), ("vehicle", "Vehicle", None)]


def env_of(module: str, cls: str, init: str | None):
    return load_class_environment(f"tests.fixtures.classes.{module}:{cls}",
                                  str(FIXTURES / f"{module}_init.json"), init)


@pytest.mark.parametrize(("module", "cls", "init"), CLASSES)
def test_the_prompt_states_what_each_step_applies_to_and_needs(module, cls, init):
    env = env_of(module, cls, init)
    sampler = ContextSampler(env, BlueprintSettings(), seed=3)
    checked = shown = 0
    for slot in range(12):
        ctx = sampler.sample(slot, [])
        body = json.loads(drafter_messages(env, ctx)[1]["content"].split("```json context\n",
                                                                          1)[1][:-4])
        steps = body["suggested_tools"]
        records = json.dumps(body["user_records"])
        names = [s["name"] for s in steps]
        if ctx.steps is None:  # no walk of a few could be filled: the sampled one is shown
            assert names == ctx.walk
            continue
        shown += 1
        assert names == [s["name"] for s in ctx.steps]
        for i, step in enumerate(steps):
            enums = env.tools[step["name"]].parameters["properties"]
            for key, values in (step.get("applies_to") or {}).items():
                for value in values:
                    assert value in enums[key].get("enum", []) or json.dumps(value) in \
                        records or all(json.dumps(p) in records
                                       for p in value.strip("/").split("/")), (key, value)
            if "needed_before" in step:
                assert step["needed_before"] in names[i + 1:]
                assert step["because"] and not step["because"].startswith("Error:")
                checked += 1
    assert shown >= 9, f"only {shown} of 12 walks could be checked"
    if module != "feed":  # the feed's calls need nothing first
        assert checked, "no step of twelve contexts said what it was needed for"


def test_a_needed_step_quotes_the_error_the_later_call_gives_without_it():
    env = env_of("vehicle", "Vehicle", None)
    graph = ApiGraph.build(env.domain.tools)
    steps = checked_steps(env, ["unplug", "shift", "drive"], user_view(env, "vehicle"), graph,
                          random.Random(0))
    names = [s["name"] for s in steps]
    assert names[-1] == "drive" and names.index("unlock") < names.index("shift")
    unlock = steps[names.index("unlock")]
    assert unlock["applies_to"] == {"pin": [env.state["state"]["pin"]]}
    locked = env.fresh().execute(unlock["needed_before"], {"distance_km": 5.0}
                                 if unlock["needed_before"] == "drive" else {})
    assert unlock["because"] in locked  # what the car answers when still locked
    shift = steps[names.index("shift")]
    assert shift["needed_before"] == "drive" and shift["because"] == "shift into drive first"
    assert shift["applies_to"]["gear"][0] in ("drive", "reverse")
