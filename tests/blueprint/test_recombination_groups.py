"""Which drafted tasks of one customer may be recombined into one conversation: decided by
playing their ground truth one after the other on a fresh copy, not by record ids alone."""

from __future__ import annotations

import pytest

from apigen_mt.blueprint.produce import recombination_groups
from apigen_mt.env.domain import load_environment

USER = "arjun_vogel_2668"  # two pending orders in the shipped retail data
ADDRESS = {"address1": "1 Elm Street", "address2": "", "city": "Omaha", "state": "NE",
           "country": "USA", "zip": "68164"}


@pytest.fixture(scope="module")
def env():
    return load_environment("retail")


def _bp(bp_id: str, *actions: tuple[str, dict]) -> dict:
    return {"id": bp_id, "user_id": USER, "provenance": {},
            "actions": [{"name": n, "arguments": a} for n, a in actions]}


def _pending(env) -> list[str]:
    orders = env.state["orders"]
    return sorted(k for k in orders if orders[k]["user_id"] == USER
                  and orders[k]["status"] == "pending")


def _cancel(order: str) -> tuple[str, dict]:
    return ("cancel_pending_order", {"order_id": order, "reason": "no longer needed"})


def _readdress(order: str) -> tuple[str, dict]:
    return ("modify_pending_order_address", {"order_id": order, **ADDRESS})


def test_tasks_on_different_records_or_compatible_on_one_are_grouped(env):
    first, second = _pending(env)
    apart = [_bp("bp-a", _cancel(first)), _bp("bp-b", _readdress(second))]
    same_order = [_bp("bp-c", _readdress(first)),
                  _bp("bp-d", ("get_order_details", {"order_id": first}), _cancel(first))]
    for bps in (apart, same_order):
        groups = recombination_groups(bps, 0, set(), env)
        assert [sorted(b["id"] for b in g) for g in groups] == [sorted(b["id"] for b in bps)]


def test_a_task_the_other_makes_impossible_is_not_grouped(env):
    first, _ = _pending(env)
    # the order is cancelled first, so its address can no longer change
    bps = [_bp("bp-a", _cancel(first)), _bp("bp-b", _readdress(first))]
    assert recombination_groups(bps, 0, set(), env) == []
    twice = [_bp("bp-c", _cancel(first)), _bp("bp-d", _cancel(first))]
    assert recombination_groups(twice, 0, set(), env) == []


def test_tasks_too_long_for_one_conversation_together_are_not_grouped(env):
    """Tasks whose writes together pass MAX_WRITES_TOGETHER would run out of turns."""
    from apigen_mt.blueprint.produce import MAX_WRITES_TOGETHER

    first, second = _pending(env)
    profile = ("modify_user_address", {"user_id": USER, **ADDRESS})
    three = _bp("bp-a", _readdress(first), _readdress(second), profile)
    assert MAX_WRITES_TOGETHER == 5
    # each pair below can be played in order; 3 + 2 writes fit, 3 + 3 do not
    two = _bp("bp-b", _cancel(first), _cancel(second))
    assert len(recombination_groups([three, two], 0, set(), env)) == 1
    another = _bp("bp-c", _cancel(first), _cancel(second), profile)
    assert recombination_groups([three, another], 0, set(), env) == []


def test_a_users_groups_come_from_their_first_few_blueprints_only(env):
    """Recombination's checks stay bounded however many tasks a customer gets: groups are
    drawn from the first POOL_PER_USER of them, whether checked as each is accepted or
    all at once, so a long run neither remembers nor checks a cube of them."""
    from apigen_mt.blueprint.produce import POOL_PER_USER, Playable

    reads = [_bp(f"r{i}", ("get_user_details", {"user_id": USER})) for i in range(12)]
    pool = {b["id"] for b in reads[:POOL_PER_USER]}
    playable = Playable(env)
    for b in reads:
        playable.accepted(b)
    assert {i for key in playable.known for i in key} == pool
    groups = recombination_groups(reads, 0, set(), env, playable)
    assert {b["id"] for g in groups for b in g} == pool
    assert recombination_groups(reads, 0, set(), env) == groups
