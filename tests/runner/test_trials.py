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



def test_the_early_stop_counts_short_tasks_at_their_own_pass_rate(tmp_path):
    """Short tasks pass more often than long ones. Counted at the average rate, the short
    ones in flight at the end look short of n, and more episodes start, to be cancelled
    unfinished when the n-th trajectory is kept."""
    from apigen_mt.llm.base import ModelError
    from apigen_mt.records import JudgeVerdict, Trajectory
    from apigen_mt.runner.batch import CircuitBreaker, Failed
    from apigen_mt.runner.phase2 import _Rollouts
    from apigen_mt.runner.shelf import shelve
    from apigen_mt.runner.store import RunDir

    def bp(name: str, actions: int) -> Blueprint:
        return Blueprint(id=name, env="retail", user_id="u", instruction=name,
                         actions=[Action(name="get_user_details", arguments={})] * actions)

    def episode(b: Blueprint, passed: bool) -> Trajectory:
        return Trajectory(blueprint_id=b.id, env="retail", trial=0, end_reason="stop",
                          messages=[{"role": "user", "content": b.id}],
                          verdict=JudgeVerdict(passed=passed, state_match=passed))

    blueprints = [bp(f"long{i}", 9) for i in range(40)] + [bp(f"short{i}", 2) for i in range(40)]
    with RunDir(tmp_path / "run") as run:
        log = run.log("blueprints.jsonl")
        log.append(blueprints)
        batch = _Rollouts(shelve(log, None), 1, run, 30, None, CircuitBreaker(8), None, None)
        for key in range(50):  # each one's result in before the next starts
            assert batch.ready(key) is True
            if key == 39:
                result = Failed(ModelError("no answer"))  # an error: not judged
            elif key < 40:  # long tasks: one in four passes (10 of 39)
                result = episode(blueprints[key], key % 4 == 0)
            else:  # short tasks: nine of ten pass
                result = episode(blueprints[key], key != 40)
            batch.finished(key, result)
            batch.commit(key, result)
        started = 0
        while batch.ready(50 + started) is True:
            started += 1
        # 19 kept; about 12 of the short ones in flight would bring that to 30. At the
        # short tasks' own rate (drawn towards the rate of all, 19 in 49) the batch holds
        # back after 17; at the rate of all it would start every one of the 30 left.
        assert batch.outcome.accepted_total == 19
        assert 12 <= started <= 18
