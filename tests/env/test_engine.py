"""The environment engine on a small environment written for these tests."""

from __future__ import annotations

from pathlib import Path

from apigen_mt.env.domain import load_environment
from apigen_mt.env.graph import ApiGraph
from apigen_mt.env.state import BaseState, State, record_digest

NOTES = str(Path(__file__).resolve().parents[1] / "fixtures" / "notes_env")


def env():
    return load_environment(NOTES)


def test_schema_is_derived_with_nested_objects_enums_and_descriptions():
    schema = {s["function"]["name"]: s["function"] for s in env().tool_schemas()}
    add = schema["add_note"]
    assert add["description"] == "Add a note to an account."
    props = add["parameters"]["properties"]
    assert props["tags"]["type"] == "array"
    assert props["tags"]["items"]["properties"]["weight"] == {"type": "integer"}
    assert props["tags"]["items"]["required"] == ["label", "weight"]
    assert props["priority"]["enum"] == ["low", "high"]
    assert props["text"]["description"] == "The note's text."
    assert add["parameters"]["required"] == ["account_id", "text", "tags"]
    assert schema["transfer"]["parameters"]["properties"]["amount"]["type"] == "number"


def test_bad_calls_give_error_observations_and_change_nothing():
    e = env()
    before = e.hash()
    cases = [
        ("nope", {}),
        ("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2"}),
        ("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 1, "x": 2}),
        ("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": "5"}),
        ("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 10**6}),
        ("add_note", {"account_id": "acc_1", "text": "", "tags": []}),  # fails mid-write
        ("add_note", ["not", "an", "object"]),
    ]
    for name, args in cases:
        obs = e.execute(name, args)
        assert obs.startswith("Error:"), (name, args, obs)
    assert e.hash() == before
    assert e.state.changes() == {}
    assert "missing argument 'amount'" in e.execute("transfer", cases[1][1])


def test_ints_stay_ints_in_number_arguments():
    e = env()
    e.execute("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 1})
    assert isinstance(e.state["accounts"]["acc_1"]["balance"], int)


def test_fresh_copies_are_independent_and_share_the_base():
    e = env()
    a, b = e.fresh(), e.fresh()
    a.execute("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 1})
    assert a.hash() != b.hash() == e.hash()
    assert a.base is b.base
    forked = a.fork()
    forked.execute("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 1})
    balance = a.state["accounts"]["acc_1"]["balance"]
    assert forked.state["accounts"]["acc_1"]["balance"] == balance - 1


def test_canonical_and_tau_hash_agree_on_equality_and_match_a_full_recompute():
    e = env()
    e.execute("add_note", {"account_id": "acc_3", "text": "hi",
                           "tags": [{"label": "x", "weight": 2}]})
    full = BaseState(e.state.materialize())
    assert State(full).canonical_hash() == e.hash()
    assert State(full).tau_hash() == e.hash("tau")
    # same changes reached another way give the same hashes
    other = env()
    other.execute("add_note", {"account_id": "acc_3", "text": "hi",
                               "tags": [{"label": "x", "weight": 2}]})
    assert other.hash() == e.hash() and other.hash("tau") == e.hash("tau")


def test_hash_distinguishes_int_and_float():
    assert record_digest("t", "k", {"a": 1}) != record_digest("t", "k", {"a": 1.0})


def test_diff_lists_path_old_new_and_renders():
    e = env()
    e.execute("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 3})
    changes = e.diff()
    paths = {tuple(c.path) for c in changes}
    assert paths == {("accounts", "acc_1", "balance"), ("accounts", "acc_2", "balance")}
    line = next(c.render() for c in changes if c.path[1] == "acc_1")
    assert line.startswith("accounts[acc_1].balance: ") and "->" in line
    target = e.fresh()
    target.execute("transfer", {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount": 2})
    against = e.diff(target)
    assert {c.old for c in against} != {c.new for c in against}


def test_graph_edges_and_walks_are_seeded_and_end_in_writes():
    import random

    e = env()
    graph = ApiGraph.build(e.domain.tools)
    assert "add_note" in graph.edges["find_account_id_by_owner"]
    assert graph.writes() == ["add_note", "transfer"]
    walks = [graph.walk(random.Random(7)) for _ in range(2)]
    assert walks[0] == walks[1]
    for seed in range(20):
        walk = graph.walk(random.Random(seed))
        assert e.tools[walk[-1]].kind == "write"
    removed = ApiGraph.build(e.domain.tools, remove=[("find_account_id_by_owner", "add_note")])
    assert "add_note" not in removed.edges["find_account_id_by_owner"]


def test_ending_tools_are_skipped_on_replay():
    e = env().fresh()
    ran = e.replay([{"name": "transfer_to_human_agents", "arguments": {"summary": "x"}},
                    {"name": "get_account", "kwargs": {"account_id": "acc_0"}}])
    assert [r.name for r in ran] == ["get_account"]


def test_a_tables_items_and_values_are_what_its_keys_look_up_through_every_layer():
    base = BaseState({"t": {"a": {"v": 1}, "b": {"v": 2}, "c": {"v": 3}}})
    s = State(base)

    def looked_up(table):
        return [(k, table[k]) for k in table]

    table = s["t"]
    assert list(table.items()) == looked_up(table)  # nothing changed: the base itself
    s.begin()
    table.edit("b")["v"] = 20
    del table["c"]
    table["d"] = {"v": 4}
    s.commit()
    s.begin()  # an open transaction over the committed changes
    table.edit("a")["v"] = 10
    table["e"] = {"v": 5}
    del table["d"]
    expected = [("a", {"v": 10}), ("b", {"v": 20}), ("e", {"v": 5})]
    assert looked_up(table) == expected
    assert list(table.items()) == expected
    assert list(table.values()) == [v for _, v in expected]
    assert len(table.items()) == 3 and ("b", {"v": 20}) in table.items()
    s.rollback()
    assert list(table.items()) == looked_up(table) == [
        ("a", {"v": 1}), ("b", {"v": 20}), ("d", {"v": 4})]
    assert base.tables["t"]["b"] == {"v": 2}  # the base is never changed
