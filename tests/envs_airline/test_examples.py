"""Shipped example blueprints replay cleanly on the default data; rules vs τ-bench's tasks."""

from __future__ import annotations

from apigen_mt.env.domain import load_environment
from apigen_mt.env.tasks import load_tasks
from apigen_mt_envs.airline import DOMAIN
from tests.conftest import ANCHORS, needs_anchors
from tests.envs_airline.conftest import run


def _violations(env, actions):
    inp = run(env, [(a["name"], a["arguments"]) for a in actions
                    if not env.tools[a["name"]].ends_conversation])
    found = {rule.name: rule.check(inp) for rule in DOMAIN.rules if not rule.conversation_only}
    return inp, {name: reasons for name, reasons in found.items() if reasons}


def test_examples_are_well_formed_and_valid(generated):
    examples = DOMAIN.examples()
    assert 4 <= len(examples) <= 6
    writes = set()
    for example in examples:
        assert example["env"] == "airline"
        assert example["user_id"] in generated.state["users"]
        assert example["instruction"].startswith("You are ")
        assert all(isinstance(o, str) for o in example["outputs"])
        inp, violations = _violations(generated, example["actions"])
        assert all(a.ok for a in inp.actions), [a.observation for a in inp.actions]
        assert violations == {}
        writes.update(a.name for a in inp.actions if a.kind == "write")
    assert len(writes) >= 5  # the examples cover most write tools


# τ-bench's ground truths that break the written policy (see the domain README)
KNOWN_FLAGS = {
    10: {"cancellation_eligible"},
    19: {"flight_change_keeps_trip", "nonfree_bags_match_allowance"},
    23: {"nonfree_bags_match_allowance"},
    26: {"cancel_only_unflown_trips"},
    27: {"cancel_only_unflown_trips"},
    34: {"cancellation_eligible"},
}


@needs_anchors
def test_rules_on_tau_bench_airline_test():
    env = load_environment("airline", data_dir=ANCHORS / "airline")
    flagged = {}
    for task in load_tasks(ANCHORS / "tasks.json", split="airline_test"):
        _, violations = _violations(env, task["actions"])
        if violations:
            flagged[task["index"]] = set(violations)
    assert flagged == KNOWN_FLAGS
