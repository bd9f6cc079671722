"""Policy rules of class environments, found every way the adapter offers: ``RULES`` in a
``rules.py`` beside a class loaded by file path, ``__apigen_rules__`` naming a module, and
an installed package's ``apigen_mt.rules`` entry point; each the same ``PolicyRule`` API as
folder environments, run by the same policy check; bad declarations are one clear error.
Also the ``typing`` module's annotation forms, and error values that roll a call back."""

from __future__ import annotations

import textwrap
from importlib import metadata

import pytest

from apigen_mt.blueprint.checks import check_policy, execute_actions
from apigen_mt.env import class_adapter
from apigen_mt.env.class_adapter import ClassEnvError, load_class_environment
from apigen_mt.records import Action, Blueprint

COUNTER = '''
class Counter:
    """You keep a counter. Never step it past 3."""
    {extra}

    def __init__(self) -> None:
        self.value = 0

    def step(self, by: int) -> dict:
        """Add to the counter.

        Args:
            by: How much to add.
        """
        self.value += by
        return {{"value": self.value}}
'''

RULES = '''
from apigen_mt.env.domain import PolicyRule, RuleInput


def _at_most_three(data: RuleInput) -> list[str]:
    out = []
    for action, before in zip(data.actions, data.before):
        if action.ok and action.name == "step":
            start = before["state"]["value"]  # the attribute's record before the call
            if start + action.arguments["by"] > 3:
                out.append(f"step {action.arguments['by']} from {start} passes 3")
    return out


RULES = [PolicyRule(name="NAME", description="Never past 3.", check=_at_most_three,
                    tools=frozenset({"step"}))]
'''


def _write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))


def _verdict(env, *steps: int):
    bp = Blueprint(env=env.name, user_id="counter", instruction="-",
                   actions=[Action(name="step", arguments={"by": by}) for by in steps])
    return check_policy(env, execute_actions(env, bp))


def test_a_rules_module_beside_a_class_loaded_by_path(tmp_path):
    _write(tmp_path / "pkg", "counter.py", COUNTER.format(extra=""))
    _write(tmp_path / "pkg", "rules.py", RULES.replace("NAME", "beside"))
    env = load_class_environment(f"{tmp_path}/pkg/counter.py:Counter")
    assert [r.name for r in env.domain.rules] == ["beside"]
    assert _verdict(env, 1, 2).passed
    verdict = _verdict(env, 2, 2)
    assert not verdict.passed and verdict.reasons == ["beside: step 2 from 2 passes 3"]


def test_a_module_named_on_the_class(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    _write(tmp_path / "named_rules_pkg", "__init__.py", "")
    _write(tmp_path / "named_rules_pkg", "policy.py", RULES.replace("NAME", "named"))
    extra = '__apigen_rules__ = "named_rules_pkg.policy:RULES"'
    _write(tmp_path / "elsewhere", "counter.py", COUNTER.format(extra=extra))
    env = load_class_environment(f"{tmp_path}/elsewhere/counter.py:Counter")
    assert [r.name for r in env.domain.rules] == ["named"]
    assert not _verdict(env, 4).passed


def test_an_installed_packages_entry_point(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    _write(tmp_path / "plugged_pkg", "__init__.py", "")
    _write(tmp_path / "plugged_pkg", "api.py", COUNTER.format(extra=""))
    _write(tmp_path / "plugged_pkg", "checks.py", RULES.replace("NAME", "plugged"))
    real = metadata.entry_points

    def entry_points(**select):
        if select.get("group") == class_adapter.RULES_ENTRY_POINT_GROUP:
            return [metadata.EntryPoint(name="plugged_pkg.api:Counter",
                                        value="plugged_pkg.checks:RULES",
                                        group=class_adapter.RULES_ENTRY_POINT_GROUP)]
        return real(**select)

    monkeypatch.setattr(class_adapter.metadata, "entry_points", entry_points)
    env = load_class_environment("plugged_pkg.api:Counter")
    assert [r.name for r in env.domain.rules] == ["plugged"]
    assert _verdict(env, 3).passed and not _verdict(env, 3, 1).passed


def test_rules_that_are_not_policy_rules_are_one_clear_error(tmp_path):
    _write(tmp_path / "bad", "counter.py", COUNTER.format(extra=""))
    _write(tmp_path / "bad", "counter_rules.py", "RULES = ['never past 3']\n")
    with pytest.raises(ClassEnvError, match=r"counter_rules.py: RULES must hold PolicyRule "
                                            r"objects, not str"):
        load_class_environment(f"{tmp_path}/bad/counter.py:Counter")


NOTES = '''
from typing import Any, Dict, List, Optional, Union


class Notes:
    """You keep notes."""

    def __init__(self) -> None:
        self.notes: Dict[str, Dict[str, Any]] = {}

    def put(self, key: str, body: Dict[str, Any], tags: List[str],
            weight: Union[int, float] = 1, colour: Optional[str] = None) -> dict:
        """Store a note.

        Args:
            key: Its name.
            body: What it holds.
            tags: Labels.
            weight: How much it counts.
            colour: Optional colour.
        """
        if key in self.notes:
            return {"error": f"{key} exists"}
        self.notes[key] = {"body": body, "tags": tags, "weight": weight, "colour": colour}
        return {"stored": key}

    def drop(self, key):
        """Remove a note.

        :param key: Its name.
        :type key: str
        """
        self.notes.pop(key)
        return "Error: this note is kept" if key == "keep" else "dropped"
'''


def test_typing_module_annotations_and_error_values_that_roll_back(tmp_path):
    _write(tmp_path, "notes.py", NOTES)
    env = load_class_environment(f"{tmp_path}/notes.py:Notes")
    put = {t.name: t for t in env.domain.tools}["put"].parameters
    assert put["required"] == ["key", "body", "tags"]
    assert put["properties"]["body"]["type"] == "object"  # Dict[str, Any]
    assert put["properties"]["tags"]["items"] == {"type": "string"}  # List[str]
    assert put["properties"]["weight"]["anyOf"] == [{"type": "integer"}, {"type": "number"}]
    assert put["properties"]["colour"]["anyOf"][1] == {"type": "null"}
    drop = {t.name: t for t in env.domain.tools}["drop"].parameters  # reST, no annotations
    assert drop["properties"]["key"]["type"] == "string"
    assert env.execute("put", {"key": "keep", "body": {"a": 1}, "tags": ["x"]}) == \
        '{"stored": "keep"}'
    stored = env.hash()
    assert env.execute("put", {"key": "keep", "body": {}, "tags": []}) == \
        "Error: keep exists"  # an error value fails the call …
    assert env.execute("drop", {"key": "keep"}) == "Error: this note is kept"
    assert env.hash() == stored  # … and leaves the state as it was (the pop rolled back)
    assert env.execute("drop", {"key": "nope"}).startswith("Error: KeyError")
    assert env.hash() == stored
