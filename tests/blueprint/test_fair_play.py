"""What drafters see, and a sim that drafts from its request alone.

- the sim's phase-1 roles still produce accepted blueprints when every way to reach the
  environment or the project's checks raises while they answer;
- no request holds an environment spec, a data path or a seed (with ``--data-dir``);
- walks suggested for a user are satisfiable on that user's records;
- catalogue and flight excerpts appear exactly where their tools are sampled.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from contextlib import contextmanager

import pytest

import apigen_mt.blueprint.checks as checks
import apigen_mt.blueprint.fill as fill
import apigen_mt.env.domain as domain_mod
from apigen_mt.blueprint.context import ContextSampler
from apigen_mt.blueprint.drafters import CONTEXT_FENCE, context_block
from apigen_mt.blueprint.produce import produce
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.config import RunConfig
from apigen_mt.env.domain import load_environment
from apigen_mt.env.environment import Environment
from apigen_mt.runner.build import EnvRef, build_phase1
from tests.conftest import ANCHORS, needs_anchors

_ANSWERING = [False]


class Guarded:
    """A model wrapper: while the wrapped model answers, the environment is off limits."""

    def __init__(self, inner, seen: list):
        self.inner, self.seen = inner, seen
        self.name = getattr(inner, "name", "guarded")

    async def complete(self, messages, tools=None, settings=None):
        self.seen.append(json.dumps(messages))
        _ANSWERING[0] = True
        try:
            return await self.inner.complete(messages, tools, settings)
        finally:
            _ANSWERING[0] = False


def _forbid(original):
    def guard(*args, **kwargs):
        if _ANSWERING[0]:
            raise AssertionError("a sim role reached the environment or the checks")
        return original(*args, **kwargs)
    return guard


@contextmanager
def no_env_while_answering(monkeypatch):
    for owner, name in [(Environment, "execute"), (Environment, "fresh"),
                        (Environment, "diff"), (domain_mod, "load_environment"),
                        (domain_mod, "load_domain"), (checks, "check_policy"),
                        (checks, "execute_actions"), (checks, "check_execution"),
                        (fill, "fill_walk"), (fill, "enrich")]:
        monkeypatch.setattr(owner, name, _forbid(getattr(owner, name)))
    yield


def guarded_phase(env: str, data_dir=None, seen=None):
    cfg = RunConfig.load(None, {})
    phase, _models = build_phase1(cfg, EnvRef(env, data_dir, 0), None)
    seen = seen if seen is not None else []
    phase.drafter.model = Guarded(phase.drafter.model, seen)
    for r in phase.reviewers:
        r.model = Guarded(r.model, seen)
    phase.feedback.model = Guarded(phase.feedback.model, seen)
    phase.recombiner = Guarded(phase.recombiner, seen)
    return phase, seen


@pytest.mark.parametrize("env", ["retail", "airline"])
def test_sim_roles_draft_and_review_without_the_environment_or_checks(env, monkeypatch):
    phase, seen = guarded_phase(env)
    with no_env_while_answering(monkeypatch):
        results = [asyncio.run(produce(phase, slot, [])) for slot in range(12)]
    accepted = [r.accepted for r in results if r.accepted is not None]
    assert seen and len(accepted) >= 4
    # the checks caught real mistakes of the sim along the way
    stages = {v.stage for r in results for v in
              (r.accepted.provenance.verdicts if r.accepted else r.rejected.verdicts)
              if not v.passed}
    assert stages & {"execution", "policy", "format"}


@needs_anchors
def test_no_request_holds_the_data_dir_spec_or_seed(monkeypatch):
    data_dir = str(ANCHORS / "retail")
    phase, seen = guarded_phase("retail", data_dir)
    for slot in range(4):
        asyncio.run(produce(phase, slot, []))
    assert seen
    for text in seen:
        assert data_dir not in text and str(ANCHORS) not in text
        assert '\\"spec\\"' not in text and '\\"data_dir\\"' not in text
    blocks = [t for t in seen if CONTEXT_FENCE.replace("`", "") in t]
    assert blocks
    for text in blocks:
        body = json.loads(json.loads(text)[1]["content"].split(CONTEXT_FENCE, 1)[1]
                          .split("```", 1)[0])
        assert not {"env", "seed", "spec", "data_dir"} & set(body)
        assert {"user_id", "user_records", "suggested_tools", "policy"} <= set(body)


def _contexts(env_name: str, slots: int = 60):
    env = load_environment(env_name)
    sampler = ContextSampler(env, BlueprintSettings(), 0)
    return env, [sampler.sample(slot) for slot in range(slots)]


def test_retail_walks_are_satisfiable_on_the_users_records():
    env, contexts = _contexts("retail")
    need = {"cancel_pending_order": "pending", "modify_pending_order_address": "pending",
            "modify_pending_order_payment": "pending", "modify_pending_order_items": "pending",
            "return_delivered_order_items": "delivered",
            "exchange_delivered_order_items": "delivered"}
    checked = 0
    for ctx in contexts:
        orders = env.state["users"][ctx.user_id]["orders"]
        for tool, targets in ctx.targets.items():
            if tool not in need:
                continue
            assert targets["order_id"], (tool, ctx.user_id)
            for oid in targets["order_id"]:
                assert oid in orders
                assert env.state["orders"][oid]["status"] == need[tool]
                checked += 1
        # an order a write uses up (cancel, item change, return, exchange) is that write's
        # alone; address and payment changes may share an order with each other
        exclusive = env.domain.hints.exclusive
        for name, t in ctx.targets.items():
            if name in exclusive and t.get("order_id"):
                assert len(t["order_id"]) == 1
                others = [v for n, o in ctx.targets.items() if n != name
                          for v in o.get("order_id", [])]
                assert t["order_id"][0] not in others
    assert checked > 20


def test_airline_walks_are_satisfiable_on_the_users_records():
    env, contexts = _contexts("airline")
    checked = 0
    for ctx in contexts:
        for tool, targets in ctx.targets.items():
            for rid in targets.get("reservation_id", []):
                record = env.state["reservations"][rid]
                assert record["user_id"] == ctx.user_id
                if tool == "update_reservation_flights":
                    assert record["cabin"] != "basic_economy"
                checked += 1
            if tool == "send_certificate":
                assert targets["amount"] and all(a > 0 for a in targets["amount"])
    assert checked > 20


def test_catalogue_appears_where_item_tools_are_sampled():
    env, contexts = _contexts("retail")
    item_tools = {"modify_pending_order_items", "exchange_delivered_order_items"}
    with_items = [c for c in contexts if item_tools & set(c.walk or [])]
    assert with_items
    for ctx in contexts:
        body = json.loads(context_block(ctx).split("\n", 1)[1].rsplit("```", 1)[0])
        assert ("catalogue" in body) == bool(item_tools & set(ctx.walk or []))
    for ctx in with_items:
        catalogue = ctx.excerpts["catalogue"]
        ordered = {i["product_id"] for oid in env.state["users"][ctx.user_id]["orders"]
                   for i in env.state["orders"][oid]["items"]}
        assert catalogue and set(catalogue) <= ordered
        variant = next(iter(next(iter(catalogue.values()))["variants"].values()))
        assert {"item_id", "options", "price", "available"} <= set(variant)


def test_flights_appear_where_booking_or_flight_changes_are_sampled():
    _, contexts = _contexts("airline", 80)
    flight_tools = {"book_reservation", "update_reservation_flights"}
    booking = [c for c in contexts if "book_reservation" in (c.walk or [])]
    assert booking
    for ctx in contexts:
        assert ("flights" in ctx.excerpts) == bool(flight_tools & set(ctx.walk or []))
    for ctx in booking:
        assert ctx.now and ctx.excerpts["flights"]
        for flight in ctx.excerpts["flights"]:
            assert flight["date"] > "2024-05-15"
            assert {"prices", "available_seats", "flight_number"} <= set(flight)


def _bag_contexts(env):
    sampler = ContextSampler(env, BlueprintSettings(), 0)
    contexts = [sampler.sample(slot) for slot in range(120)]
    return [c for c in contexts if "update_reservation_baggages" in (c.walk or [])
            and "book_reservation" not in (c.walk or [])]


def test_a_drafter_adding_bags_sees_the_free_bag_allowance():
    # the policy check holds a bag update to the allowance, which the policy tells under
    # booking: without that section a drafter cannot get the paid bags right
    bags = _bag_contexts(load_environment("airline"))
    assert bags
    for ctx in bags:
        assert "Free checked bags depend on the member level" in ctx.policy
        assert "| gold | 2 | 3 | 3 |" in ctx.policy


@needs_anchors
def test_with_tau_bench_policy_a_drafter_adding_bags_sees_the_allowance():
    bags = _bag_contexts(load_environment("airline", data_dir=ANCHORS / "airline"))
    assert bags
    for ctx in bags:
        assert "Checked bag allowance" in ctx.policy


def test_writes_distribution_is_validated_and_drawn():
    import random

    settings = BlueprintSettings(writes={1: 0.0, 3: 1.0})
    assert {settings.draw_writes(random.Random(i)) for i in range(20)} == {3}
    with pytest.raises(ValueError):
        BlueprintSettings(writes={0: 1.0})


def test_blueprint_run_records_every_recombination_attempt(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "apigen_mt", "blueprint", "--env", "retail",
                           "--n", "40", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    bps = [json.loads(x) for x in (out / "blueprints.jsonl").read_text().splitlines()]
    attempts = [json.loads(x) for x in (out / "recombinations.jsonl").read_text().splitlines()]
    recombined = [b for b in bps if b["provenance"]["recombined_from"]]
    assert len(bps) == 40 and len(recombined) >= 3
    assert {a["outcome"] for a in attempts} <= {"accepted", "rejected", "error"}
    assert sum(a["outcome"] == "accepted" for a in attempts) == len(recombined)
    assert all(a.get("reasons") for a in attempts if a["outcome"] == "rejected")
    by_id = {b["id"]: b for b in bps}
    for b in recombined:
        sources = [by_id[s] for s in b["provenance"]["recombined_from"]]
        assert {s["user_id"] for s in sources} == {b["user_id"]}
        assert b["persona"] == next((s["persona"] for s in sources if s["persona"]), None)


def _imported(path) -> set[str]:
    """Every module a file imports (at any depth of its code)."""
    import ast

    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_the_sim_is_one_package_behind_the_model_port():
    """Every role the sim plays lives in ``apigen_mt.sim``, reaches the pipeline only as the
    backend the registry builds, and imports nothing of the pipeline's phases."""
    from pathlib import Path

    import apigen_mt
    from apigen_mt.llm.registry import build_model
    from apigen_mt.sim import builtin_roles

    roles = builtin_roles()
    assert {"drafter", "reviewer", "feedback", "recombiner", "human", "critic",
            "critic-batch", "agent"} <= set(roles)
    assert all(h.__module__.startswith("apigen_mt.sim.") for h in roles.values())
    built = build_model("sim:sim", RunConfig.load(None, {}))
    assert {name: h.__qualname__ for name, h in built.roles.items()} == \
        {name: h.__qualname__ for name, h in roles.items()}
    root = Path(apigen_mt.__file__).parent
    upward = ("apigen_mt.blueprint", "apigen_mt.rollout", "apigen_mt.runner", "apigen_mt.cli",
              "apigen_mt.commands_", "apigen_mt.stats", "apigen_mt.export")
    for path in sorted((root / "sim").glob("*.py")):
        bad = [m for m in _imported(path) if m.startswith(upward)]
        assert not bad, (path.name, bad)
        assert not [m for m in _imported(path) if m.startswith(("apigen_mt.env.environment",
                                                                "apigen_mt.env.domain"))]
    for layer in ("blueprint", "rollout"):
        for path in sorted((root / layer).glob("*.py")):
            assert not [m for m in _imported(path) if m.startswith("apigen_mt.sim")], path
    assert not list((root / "blueprint").glob("sim*.py")) + list((root / "rollout").glob("sim*"))
    assert not (root / "llm" / "sim.py").exists()
