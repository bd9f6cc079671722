"""The sim drafter's reads follow the walk: a read it names records for reads one of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from apigen_mt.blueprint.context import ContextSampler
from apigen_mt.blueprint.drafters import drafter_messages
from apigen_mt.blueprint.replies import parse_json_object
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.env.domain import load_environment
from apigen_mt.llm.base import Settings
from apigen_mt.sim.model import SimModel
from apigen_mt.sim.roles import builtin_roles

SHELL = Path(__file__).resolve().parents[1] / "fixtures" / "classes" / "shell_init.json"


def test_a_read_after_a_write_keeps_to_the_records_the_walk_names_for_it():
    env = load_environment("class:tests.fixtures.classes.shell:Shell@mount", data_dir=SHELL)
    sampler = ContextSampler(env, BlueprintSettings(), 0)
    model = SimModel("sim:perfect", roles=builtin_roles())
    checked = 0
    for slot in range(80):
        ctx = sampler.sample(slot, [])
        walk = {s["name"]: s.get("applies_to") or {} for s in ctx.prompt_body()["suggested_tools"]
                if not s.get("changes_records")}
        done = asyncio.run(model.complete(drafter_messages(env, ctx), None, Settings()))
        for action in parse_json_object(done.text)["actions"]:
            for key, allowed in walk.get(action["name"], {}).items():
                if key in action["arguments"]:
                    assert action["arguments"][key] in allowed, (slot, action, allowed)
                    checked += 1
    assert checked >= 10
