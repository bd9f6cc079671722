"""Prompts carry the same JSON text whichever encoder writes it."""

import json

import pytest

from apigen_mt.blueprint.drafters import compact
from apigen_mt.env.domain import load_environment


def _reference(data):
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("data", [
    {"price": 1349.55, "zero": 0.0, "big": 1e16, "tiny": 1e-7, "small": 2.5e-12},
    {"text": "café\n\t\x01\u2028 said 1e-5", "none": None, "yes": True, "n": -3},
    {1: "an int key", "k": [2 ** 70]},
    [[], {}, "", [{"nested": [1, 2.0, "x"]}]],
])
def test_compact_writes_what_json_writes(data):
    assert compact(data) == _reference(data)


@pytest.mark.parametrize("env", ["retail", "airline"])
def test_compact_matches_json_on_every_record_of_a_domain(env):
    environment = load_environment(env)
    for table in environment.base.tables.values():
        assert compact(table) == _reference(table)
