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


def test_a_lookup_before_a_move_uses_the_address_the_customer_has_now():
    """A read placed before the writes sees the records as they are: the name-and-zip
    lookup before an address change takes the current zip, not the one moved to."""
    from apigen_mt.blueprint.checks import check_execution, check_format

    env = load_environment("retail")
    sampler = ContextSampler(env, BlueprintSettings(), 0)
    model = SimModel("sim:perfect", roles=builtin_roles())
    looked_up = 0
    for slot in range(120):
        ctx = sampler.sample(slot, [])
        done = asyncio.run(model.complete(drafter_messages(env, ctx), None, Settings()))
        draft = parse_json_object(done.text)
        names = [a["name"] for a in draft["actions"]]
        writes = {s["name"] for s in ctx.prompt_body()["suggested_tools"]
                  if s.get("changes_records")}
        first_write = next(i for i, n in enumerate(names) if n in writes)
        if "modify_user_address" not in names or \
                "find_user_id_by_name_zip" not in names[:first_write]:
            continue
        verdict, bp = check_format(draft, env)
        assert verdict.passed, verdict.reasons
        verdict, _ = check_execution(env, bp)
        assert not [w for w in verdict.warnings if "find_user_id_by_name_zip" in w], slot
        looked_up += 1
    assert looked_up >= 5
