"""The early episodes of phase 1's overlap hold a bounded amount of memory."""

from __future__ import annotations

import asyncio

from apigen_mt.records import Action, Blueprint, JudgeVerdict, Provenance, Trajectory
from apigen_mt.runner import overlap
from apigen_mt.runner.overlap import Prefetch
from apigen_mt.runner.shelf import Shelved
from apigen_mt.runner.store import JsonlLog


def _blueprint(i: int) -> Blueprint:
    return Blueprint(id=f"bp{i}", env="retail", user_id="u", instruction=f"task {i}",
                     actions=[Action(name="get_user_details", arguments={"user_id": "u"})],
                     diff=[{"path": ["users", "u", "name"], "old": "a", "new": "b"}],
                     provenance=Provenance(slot=i, seed=0, drafter="sim", rounds=1,
                                           feedback=["x" * 1000]))


def test_early_episodes_held_at_once_stay_under_the_bound_and_carry_no_provenance(tmp_path):
    log = JsonlLog(tmp_path / "blueprints.jsonl")
    played: list[Blueprint] = []

    async def play(bp: Blueprint) -> Trajectory:
        played.append(bp)
        return Trajectory(blueprint_id=bp.id, env="retail", trial=0, end_reason="stop",
                          messages=[], verdict=JudgeVerdict(passed=True, state_match=True))

    async def main() -> int:
        # every blueprint is sure to be played (needed ≥ size): only the bound holds back
        pf = Prefetch(play, 2, seed=0, size=100, needed=100, done=set())
        for i in range(100):  # phase 1 writes each accepted blueprint, then offers it
            bp = _blueprint(i)
            pf.offer(Shelved.of(bp, log, log.append([bp])[0]))
        most = 0
        for _ in range(20):  # phase 1 commits; nothing is taken by phase 2 yet
            pf.fill()
            await asyncio.sleep(0)
            most = max(most, len(pf.tasks))
        held = len(pf.tasks)
        taken = pf.take(next(iter(pf.tasks)))  # phase 2 takes one: room for one more
        assert taken is not None and (await taken).blueprint_id
        pf.fill()
        assert len(pf.tasks) == held
        await asyncio.sleep(0)  # the one started in its place runs
        await pf.close()
        return most

    most = asyncio.run(main())
    assert most == overlap.HELD_PER_SLOT * 2
    assert len(played) == most + 1
    assert all(bp.provenance is None and bp.diff == [] for bp in played)
    # read back whole from the file: the played blueprint is the written one, lean
    assert played[0] == _blueprint(int(played[0].id[2:])).for_play()
