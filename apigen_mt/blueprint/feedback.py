"""The feedback step: every rejection reason turned into advice for the next draft."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from apigen_mt.llm.base import ChatModel, Settings
from apigen_mt.prompts import load_prompt
from apigen_mt.records import Verdict


def feedback_messages(draft: dict[str, Any] | None, verdict: Verdict) -> list[dict[str, Any]]:
    """The feedback role's prompt: the draft and all reasons of the failed check."""
    reasons = "\n".join(f"- [{verdict.stage}] {r}" for r in verdict.reasons) or "- (none)"
    warnings = "\n".join(f"- (warning) {w}" for w in verdict.warnings)
    body = (json.dumps(draft, separators=(",", ":"), ensure_ascii=False) if draft is not None
            else "(no parseable draft)")
    user = (f"Draft:\n```json\n{body}\n```\n\nRejected at the {verdict.stage} check:\n"
            f"{reasons}\n{warnings}").strip()
    return [{"role": "system", "content": load_prompt("feedback").render()},
            {"role": "user", "content": user}]


@dataclass
class FeedbackWriter:
    """Bound to the feedback role's model; an empty answer falls back to the raw reasons."""

    model: ChatModel
    settings: Settings

    async def advise(self, draft: dict[str, Any] | None, verdict: Verdict) -> str:
        """Short actionable advice for the drafter."""
        done = await self.model.complete(feedback_messages(draft, verdict), None, self.settings)
        if not (done.text or "").strip():
            return "\n".join(f"Fix: {r}" for r in verdict.reasons)
        return done.text.strip()
