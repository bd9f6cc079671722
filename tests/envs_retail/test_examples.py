"""The shipped example blueprints replay cleanly on the default generated data."""

from __future__ import annotations

import pytest

from apigen_mt.env.domain import load_domain
from tests.envs_retail.helpers import retail_env, run

EXAMPLES = load_domain("retail").examples()


def test_there_are_examples():
    assert 4 <= len(EXAMPLES) <= 6
    assert len({ex["user_id"] for ex in EXAMPLES}) == len(EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda ex: ex["user_id"])
def test_example_replays_without_failures_or_violations(example):
    assert example["env"] == "retail"
    assert example["instruction"].startswith("You are ")
    env = retail_env()
    assert example["user_id"] in env.state["users"]
    data = run(env, [(a["name"], a["arguments"]) for a in example["actions"]])
    assert [a.observation for a in data.actions if not a.ok] == []
    assert any(a.kind == "write" for a in data.actions)
    for rule in load_domain("retail").rules:
        if not rule.conversation_only:
            assert rule.check(data) == [], rule.name
    replies = " ".join(a.observation for a in data.actions).lower().replace(",", "")
    for output in example["outputs"]:
        assert output.lower().replace(",", "") in replies
