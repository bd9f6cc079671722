"""The phase-2 trial plan: which (blueprint, trial) each work item plays, and when."""

from __future__ import annotations

from apigen_mt.records import Action, Blueprint
from apigen_mt.runner.trials import TrialPlan, longest_first


def test_keys_cover_every_trial_once_in_two_passes():
    plan = TrialPlan(4, 3)
    pairs = [(plan.blueprint(k), plan.trial(k), k < 12) for k in range(plan.size())]
    assert plan.size() == 4 * 5
    assert pairs[:4] == [(b, 0, True) for b in range(4)]  # every first trial first
    assert {(b, t) for b, t, _ in pairs} == {(b, t) for b in range(4) for t in range(3)}
    second = [(b, t) for b, t, first in pairs if not first]
    assert second == [(b, t) for t in (1, 2) for b in range(4)]


def test_kept_tasks_wait_for_the_second_pass():
    plan = TrialPlan(3, 3)
    plan.kept(1)  # blueprint 1 kept on trial 0
    first_pass = {k for k in range(9) if plan.worth_playing(k)}
    assert first_pass == {0, 1, 2, 3, 5, 6, 8}  # trials 1 and 2 of blueprint 1 left out
    plan.kept(3)  # blueprint 0 kept on trial 1: its trial 2 moves to the second pass
    assert not plan.worth_playing(6)
    second_pass = {(plan.blueprint(k), plan.trial(k)) for k in range(9, 15)
                   if plan.worth_playing(k)}
    assert second_pass == {(1, 1), (1, 2), (0, 2)}
    assert plan.depends_on(0) == -1 and plan.depends_on(4) == 1 and plan.depends_on(10) == 7


def test_longest_tasks_play_first_and_ties_keep_file_order():
    def bp(name: str, actions: int) -> Blueprint:
        return Blueprint(id=name, env="retail", user_id="u", instruction=name,
                         actions=[Action(name="t", arguments={})] * actions)

    ordered = longest_first([bp("a", 1), bp("b", 3), bp("c", 1), bp("d", 2)])
    assert [b.id for b in ordered] == ["b", "d", "a", "c"]
