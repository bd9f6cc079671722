"""The feedback step: every rejection reason turned into advice for the next draft.

The committee's reflections go to the feedback role for a summary; the checks' reasons
(format, execution, policy, an unreadable draft) reach the drafter as they are, unless
the run asks for the model every time (``blueprint.feedback: always``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apigen_mt.llm.base import ChatModel, Settings
from apigen_mt.prompts import load_prompt
from apigen_mt.records import Verdict

# blueprint.feedback → the stages whose rejections the feedback role summarises
FEEDBACK_STAGES: dict[str, frozenset[str] | None] = {"reviews": frozenset({"committee"}),
                                                     "always": None}


def check_reasons(verdict: Verdict, also: Sequence[Verdict] = ()) -> str:
    """A failed check's reasons as the drafter reads them, one line each; ``also`` are
    later checks that were run anyway and found more to fix."""
    lines = ["The reply could not be read as a blueprint:" if verdict.stage == "drafter"
             else f"The {verdict.stage} check rejected it:"]
    lines += [f"- {r}" for r in verdict.reasons] or ["- (no reason given)"]
    lines += [f"- (warning) {w}" for w in verdict.warnings]
    for more in also:
        lines.append(f"The {more.stage} check also found:")
        lines += [f"- {r}" for r in more.reasons]
    return "\n".join(lines)


def feedback_messages(draft: dict[str, Any] | None, verdict: Verdict,
                      also: Sequence[Verdict] = ()) -> list[dict[str, Any]]:
    """The feedback role's prompt: the draft and all reasons of the failed check (and of
    the later checks in ``also``)."""
    reasons = "\n".join(f"- [{v.stage}] {r}" for v in (verdict, *also) for r in v.reasons) \
        or "- (none)"
    warnings = "\n".join(f"- (warning) {w}" for w in verdict.warnings)
    body = (json.dumps(draft, separators=(",", ":"), ensure_ascii=False) if draft is not None
            else "(no parseable draft)")
    user = (f"Draft:\n```json\n{body}\n```\n\nRejected at the {verdict.stage} check:\n"
            f"{reasons}\n{warnings}").strip()
    return [{"role": "system", "content": load_prompt("feedback").render()},
            {"role": "user", "content": user}]


@dataclass
class FeedbackWriter:
    """Bound to the feedback role's model; an empty answer falls back to the raw reasons.
    ``ask_for`` is the stages whose rejections the model summarises (None: every stage)."""

    model: ChatModel
    settings: Settings
    ask_for: frozenset[str] | None = None

    async def advise(self, draft: dict[str, Any] | None, verdict: Verdict,
                     also: Sequence[Verdict] = ()) -> str:
        """Short actionable advice for the drafter (``also``: later checks' findings)."""
        if self.ask_for is not None and verdict.stage not in self.ask_for:
            return check_reasons(verdict, also)
        done = await self.model.complete(feedback_messages(draft, verdict, also), None,
                                         self.settings)
        if not (done.text or "").strip():
            return check_reasons(verdict, also)
        return done.text.strip()
