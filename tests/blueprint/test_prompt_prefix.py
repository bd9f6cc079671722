"""Phase 1's prompts put what many slots share first, so a provider's prefix cache serves
it: two slots or two blueprints with the same tools send the same opening text."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

from apigen_mt.blueprint.committee import review_messages
from apigen_mt.blueprint.context import ContextSampler
from apigen_mt.blueprint.drafters import drafter_messages
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.env.domain import load_environment
from apigen_mt.records import Action, Blueprint


def _shared(a: str, b: str) -> int:
    """How many leading characters two prompts have in common."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def test_drafter_prompts_of_one_walk_share_the_policy_before_the_customer():
    env = load_environment("retail")
    sampler = ContextSampler(env, BlueprintSettings(), 0)
    by_policy = defaultdict(list)
    for slot in range(60):
        ctx = sampler.sample(slot, [])
        if ctx.policy:
            by_policy[ctx.policy].append(ctx)
    pairs = [(a, b) for group in by_policy.values() for a, b in itertools.pairwise(group)
             if a.user_id != b.user_id]
    assert pairs
    for a, b in pairs:
        one, two = (drafter_messages(env, c)[1]["content"] for c in (a, b))
        start = one.index(a.user_id)  # the first thing that is this slot's own
        assert one.index(json.dumps(a.policy, ensure_ascii=False)[1:200]) < start
        assert _shared(one, two) >= start - 1  # everything before the customer is shared


def test_review_prompts_open_with_the_policy_and_then_the_task():
    env = load_environment("retail")
    policy = env.policy[:3000]
    tasks = [Blueprint(env="retail", user_id=u, instruction=f"You are {u}.",
                       actions=[Action(name="get_user_details", arguments={"user_id": u})])
             for u in sorted(env.state["users"])[:2]]
    one, two = (review_messages(bp, [], policy, set())[1]["content"] for bp in tasks)
    assert one.index('"policy"') < one.index('"instruction"')
    assert _shared(one, two) > len(policy)  # the whole policy is a shared prefix
