"""The review committee: K model judges and a pure reducer (testable without any model)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from apigen_mt.blueprint.replies import ReplyError, parse_json_object
from apigen_mt.llm.base import ChatModel, Completion, Settings, complete_n
from apigen_mt.prompts import load_prompt
from apigen_mt.records import Blueprint, Review, Verdict

CRITERIA = ("correctness", "completeness", "satisfaction", "creativity")


def reduce_reviews(reviews: list[Review], threshold: float) -> Verdict:
    """Majority per criterion (a tie counts as 0); accept when the majority holds the
    blueprint correct and the mean over the criteria is ≥ threshold."""
    if not reviews:
        return Verdict(stage="committee", passed=False, reasons=["no reviewer answered"])
    majority = {}
    for criterion in CRITERIA:
        ones = sum(getattr(r, criterion) for r in reviews)
        majority[criterion] = 1 if ones * 2 > len(reviews) else 0
    mean = sum(majority.values()) / len(CRITERIA)
    # correctness is not traded against the other criteria: a wrong task is never kept
    passed = mean >= threshold and majority["correctness"] == 1
    reasons = []
    if not passed:
        failed = [c for c, v in majority.items() if not v]
        if mean < threshold:
            reasons.append(f"committee score {mean:.2f} below {threshold:.2f} "
                           f"(failed: {', '.join(failed)})")
        if majority["correctness"] == 0:
            reasons.append("correctness: the committee's majority holds the task incorrect, "
                           "whatever the other criteria score")
        for r in reviews:
            if r.reflection and any(getattr(r, c) == 0 for c in failed):
                reasons.append(f"{r.reviewer}: {r.reflection}")
    return Verdict(stage="committee", passed=passed, reasons=reasons,
                   details={"majority": majority, "mean": mean,
                            "votes": [r.scores() for r in reviews]})


def review_messages(bp: Blueprint, diff: list[str], policy: str, write_tools: set[str],
                    records: dict[str, Any] | None = None,
                    hints: Any = None) -> list[dict[str, Any]]:
    """The reviewer prompt for one blueprint: the task, every change it makes, the records
    its actions read and write (before and after), and the policy sections involved.

    The policy and the current time come first: blueprints with the same tools share
    them, so a provider's prefix cache serves them; the task follows."""
    body: dict[str, Any] = {"policy": policy}
    if hints is not None and getattr(hints, "now", None):
        body["now"] = hints.now
    body.update({
        "instruction": bp.instruction,
        "actions": [a.model_dump() for a in bp.actions],
        "write_tools": sorted({a.name for a in bp.actions} & write_tools),
        "outputs": bp.outputs,
        "database_changes": diff or ["(none)"],
        "records": records or {},
    })
    user = ("Task to review:\n```json\n" + json.dumps(body, separators=(",", ":"),
                                                      ensure_ascii=False) + "\n```")
    return [{"role": "system", "content": load_prompt("reviewer").render()},
            {"role": "user", "content": user}]


def _as_bit(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    raise ReplyError(f"scores must be 0 or 1, got {value!r}")


@dataclass
class Reviewer:
    """One committee member bound to a model."""

    name: str
    model: ChatModel
    settings: Settings
    retries: int = 2

    async def review(self, messages: list[dict[str, Any]],
                     first: str | None = None) -> Review | None:
        """Score a blueprint; unparseable replies are answered with the error and retried.

        ``first``: the first reply, already asked for (see :func:`review_all`)."""
        convo = list(messages)
        for attempt in range(self.retries + 1):
            settings = self.settings.model_copy(update={"sample": self.settings.sample + attempt})
            if attempt == 0 and first is not None:
                text = first
            else:
                text = (await self.model.complete(convo, None, settings)).text
            done = Completion(text=text)
            try:
                data = parse_json_object(done.text)
                return Review(reviewer=self.name, reflection=str(data.get("reflection", "")),
                              **{c: _as_bit(data.get(c)) for c in CRITERIA})
            except ReplyError as exc:
                convo = [*convo, {"role": "assistant", "content": done.text or ""},
                         {"role": "user", "content": f"{exc}. Reply with the JSON object only."}]
        return None


async def review_all(reviewers: list[Reviewer],
                     messages: list[dict[str, Any]]) -> list[Review | None]:
    """Every member's review. Members on one model with consecutive samples get their first
    replies from one request with ``n`` (the prompt paid once: the same answers as one
    request each, which is what endpoints without ``n`` get); retries stay per member."""
    head = reviewers[0] if reviewers else None
    same = head is not None and len(reviewers) > 1 and all(
        r.model is head.model and r.settings.sample == head.settings.sample + i
        and r.settings.model_copy(update={"sample": 0})
        == head.settings.model_copy(update={"sample": 0})
        for i, r in enumerate(reviewers))
    if not same:
        return list(await asyncio.gather(*(r.review(messages) for r in reviewers)))
    assert head is not None
    choices, _ = await complete_n(head.model, messages, None, head.settings, len(reviewers))
    return list(await asyncio.gather(*(r.review(messages, first=c.text or "")
                                       for r, c in zip(reviewers, choices, strict=True))))
