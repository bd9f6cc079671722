"""The phase-2 trial plan: which (blueprint, trial) each work item plays, and when."""

from __future__ import annotations

from apigen_mt.records import Action, Blueprint
from apigen_mt.runner.early_stop import GroupRates, likely_reached
from apigen_mt.runner.trials import TrialPlan, playing_order


def test_keys_cover_every_trial_once_in_two_passes():
    plan = TrialPlan(4, 3)
    items = [(plan.blueprint(k), plan.trial(k), plan.group(k)[0]) for k in range(plan.size())]
    assert plan.size() == 4 * 5
    assert items[:4] == [(b, 0, True) for b in range(4)]  # every first trial first
    assert [(b, t) for b, t, p in items if p] == [(b, t) for t in range(3) for b in range(4)]
    assert [(b, t) for b, t, p in items if not p] == [(b, t) for t in (1, 2) for b in range(4)]


def test_tasks_that_passed_wait_for_the_second_pass():
    plan = TrialPlan(3, 3)
    key = {(plan.blueprint(k), plan.trial(k), plan.group(k)[0]): k for k in range(plan.size())}
    plan.passed(1, 0)
    assert not plan.worth_playing(key[(1, 1, True)]) and not plan.worth_playing(key[(1, 2, True)])
    assert plan.worth_playing(key[(0, 1, True)]) and plan.worth_playing(key[(0, 0, True)])
    plan.passed(0, 1)  # blueprint 0 passed on trial 1: its trial 2 moves to the second pass
    assert not plan.worth_playing(key[(0, 2, True)])
    second = {(b, t) for (b, t, p), k in key.items() if not p and plan.worth_playing(k)}
    assert second == {(1, 1), (1, 2), (0, 2)}
    # a decision waits for the blueprint's previous trial only
    assert plan.depends_on(key[(2, 0, True)]) == -1
    assert plan.depends_on(key[(2, 1, True)]) == key[(2, 0, True)]
    assert plan.depends_on(key[(2, 2, False)]) == key[(2, 1, True)]
    assert all(plan.depends_on(k) < k for k in range(plan.size()))


def test_playing_order_is_a_seeded_shuffle_sorted_longest_first_within_chunks():
    def bp(name: str, actions: int) -> Blueprint:
        return Blueprint(id=name, env="retail", user_id="u", instruction=name,
                         actions=[Action(name="t", arguments={})] * actions)

    blueprints = [bp(f"b{i}", 1 + i % 5) for i in range(40)]
    order = playing_order(blueprints, seed=0, chunk=10)
    assert sorted(b.id for b in order) == sorted(b.id for b in blueprints)
    for start in range(0, 40, 10):  # longest first within each chunk
        sizes = [len(b.actions) for b in order[start:start + 10]]
        assert sizes == sorted(sizes, reverse=True)
    assert order == playing_order(list(reversed(blueprints)), seed=0, chunk=10)
    assert order != playing_order(blueprints, seed=1, chunk=10)
    grown = playing_order([*blueprints, bp("new", 9)], seed=0, chunk=1)
    assert [b.id for b in grown if b.id != "new"] == \
        [b.id for b in playing_order(blueprints, seed=0, chunk=1)]  # places kept


def test_the_early_stop_can_keep_a_margin_and_rates_groups_apart():
    assert likely_reached(0, 10, [1.0] * 10) and likely_reached(0, 10, [0.5] * 20)
    assert not likely_reached(0, 10, [0.5] * 19)
    assert not likely_reached(0, 10, [0.5] * 20, margin=2.0)  # 10 expected, half the time
    assert likely_reached(0, 10, [0.5] * 40, margin=2.0)
    rates = GroupRates()
    rates.record("first", 60, 80)
    rates.record("again", 5, 20)
    assert rates.rate("first") > 0.7 > rates.rate("again") > 0.25
    assert abs(rates.rate("new") - 65 / 100) < 1e-9  # no data yet: the rate of all


def test_a_waiting_key_lets_later_ones_start_and_commits_stay_in_key_order():
    import asyncio

    from apigen_mt.runner.batch import SKIP, run_ordered

    started: list[int] = []
    committed: list[int] = []

    async def work(key: int) -> int:
        started.append(key)
        await asyncio.sleep(0.05 if key == 0 else 0.001)  # key 0 is slow
        return key

    def ready(key: int):
        return SKIP if key == 5 else True

    # key 2 needs key 0's result; 3, 4 and 6 start while it waits; 5 is dropped
    asyncio.run(run_ordered(range(7), work, lambda k, r: committed.append(k) or True, 4,
                            ready=ready, depends_on=lambda k: 0 if k == 2 else -1))
    assert committed == [0, 1, 2, 3, 4, 6]
    assert started.index(3) < started.index(2) and 5 not in started
