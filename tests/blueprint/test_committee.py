"""The committee reducer is pure: majority per criterion, accept above a threshold."""

from __future__ import annotations

import asyncio

from apigen_mt.blueprint.committee import Reviewer, reduce_reviews
from apigen_mt.llm.base import Settings
from apigen_mt.llm.scripted import ScriptedModel
from apigen_mt.records import Review


def review(name, c, comp, s, cr, note=""):
    return Review(reviewer=name, correctness=c, completeness=comp, satisfaction=s,
                  creativity=cr, reflection=note)


def test_majority_per_criterion_and_threshold():
    votes = [review("a", 1, 1, 1, 0), review("b", 1, 0, 1, 0), review("c", 0, 1, 1, 1)]
    verdict = reduce_reviews(votes, threshold=0.75)
    assert verdict.details["majority"] == {"correctness": 1, "completeness": 1,
                                           "satisfaction": 1, "creativity": 0}
    assert verdict.passed and verdict.details["mean"] == 0.75
    assert not reduce_reviews(votes, threshold=0.8).passed


def test_rejection_names_failed_criteria_and_reflections():
    votes = [review("a", 0, 0, 1, 1, "the zip code is never given"),
             review("b", 0, 1, 1, 1), review("c", 1, 0, 1, 1)]
    verdict = reduce_reviews(votes, threshold=0.75)
    assert not verdict.passed
    assert "correctness" in verdict.reasons[0] and "completeness" in verdict.reasons[0]
    assert any("zip code" in r for r in verdict.reasons)


def test_ties_count_as_failure_and_empty_committee_rejects():
    votes = [review("a", 1, 1, 1, 1), review("b", 0, 0, 0, 0)]
    assert reduce_reviews(votes, threshold=0.25).details["mean"] == 0
    assert not reduce_reviews([], threshold=0.0).passed


def test_reviewer_answers_parse_errors_with_the_error_then_accepts_the_fix():
    model = ScriptedModel(["I think it is fine!",
                           '{"correctness": 1, "completeness": "1", "satisfaction": true, '
                           '"creativity": 0, "reflection": "ok"}'])
    reviewer = Reviewer("r", model, Settings(), retries=2)
    got = asyncio.run(reviewer.review([{"role": "user", "content": "task"}]))
    assert got is not None and got.scores() == {"correctness": 1, "completeness": 1,
                                                "satisfaction": 1, "creativity": 0}
    second = model.calls[1].messages
    assert second[-1]["role"] == "user" and "JSON" in second[-1]["content"]


def test_reviewer_gives_up_after_retries():
    model = ScriptedModel(["no", "still no", "never"])
    assert asyncio.run(Reviewer("r", model, Settings(), retries=2).review([])) is None


def test_identical_reviewers_share_one_request_and_retry_alone():
    import asyncio

    from apigen_mt.blueprint.committee import Reviewer, review_all
    from apigen_mt.llm.base import Choice, Completion, Settings
    from apigen_mt.llm.scripted import ScriptedModel

    good = '{"correctness": 1, "completeness": 1, "satisfaction": 1, "creativity": 0}'
    asked = []

    def answer(messages, tools, settings):
        asked.append(settings)
        if settings.n == 3:
            return Completion(text=good, choices=[Choice(text=good), Choice(text="nonsense"),
                                                  Choice(text=good)])
        return good

    model = ScriptedModel(answer)
    members = [Reviewer(f"r{i}", model, Settings(seed=0, sample=i)) for i in range(3)]
    reviews = asyncio.run(review_all(members, [{"role": "user", "content": "task"}]))
    assert all(r is not None and r.correctness == 1 for r in reviews)
    # one request for the three first replies, then the malformed one retried on its own
    assert [s.n for s in asked] == [3, 1] and asked[1].sample == 2
    assert asked[1].sample == members[1].settings.sample + 1


def test_a_majority_against_correctness_rejects_whatever_the_threshold():
    votes = [review("a", 0, 1, 1, 1, "the refund goes to the wrong card"),
             review("b", 0, 1, 1, 1), review("c", 1, 1, 1, 1)]
    verdict = reduce_reviews(votes, threshold=0.75)
    assert verdict.details["mean"] == 0.75 and not verdict.passed
    assert any("majority holds the task incorrect" in r for r in verdict.reasons)
    assert any("wrong card" in r for r in verdict.reasons)
    assert not reduce_reviews(votes, threshold=0.0).passed
    # the threshold still applies when correctness holds
    right = [review("a", 1, 0, 0, 0), review("b", 1, 0, 0, 0)]
    assert reduce_reviews(right, threshold=0.25).passed
    assert not reduce_reviews(right, threshold=0.5).passed
