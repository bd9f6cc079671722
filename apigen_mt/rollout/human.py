"""The simulated human: sees only its instruction, answers one line at a time.

Stabilised by best-of-N: N candidate replies are sampled, a critic scores each 0–10
for faithfulness to the instruction, and the best one is sent (N=1 turns it off).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from apigen_mt.blueprint.replies import ReplyError, parse_json_object
from apigen_mt.llm.base import ChatModel, Settings
from apigen_mt.prompts import load_prompt


def human_view(conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as the human sees it: agent text as 'user', its own as 'assistant'.

    Tool calls and tool results are invisible to the human.
    """
    out = []
    for m in conversation:
        if m["role"] == "assistant" and m.get("content"):
            out.append({"role": "user", "content": m["content"]})
        elif m["role"] == "user":
            out.append({"role": "assistant", "content": m["content"]})
    return out


def critic_messages(instruction: str, view: list[dict[str, Any]],
                    candidate: str) -> list[dict[str, Any]]:
    """The critic's prompt for one candidate reply."""
    transcript = "\n".join(
        f"{'agent' if m['role'] == 'user' else 'customer'}: {m['content']}" for m in view[-8:])
    user = (f"Instruction:\n{instruction}\n\nConversation so far:\n{transcript}\n\n"
            f"Candidate customer reply:\n{candidate}")
    return [{"role": "system", "content": load_prompt("critic").render()},
            {"role": "user", "content": user}]


def _score(text: str | None) -> float:
    try:
        value = parse_json_object(text).get("score")
    except ReplyError:
        match = re.search(r"\b(10|[0-9])\b", text or "")
        value = int(match.group(1)) if match else 0
    try:
        return max(0.0, min(10.0, float(value)))
    except (TypeError, ValueError):
        return 0.0


@dataclass
class HumanTurn:
    """The reply sent and the critic's scores of every candidate (empty when N=1)."""

    text: str
    scores: list[float]


@dataclass
class SimulatedHuman:
    """The customer role plus its critic."""

    model: ChatModel
    critic: ChatModel
    instruction: str
    best_of_n: int
    settings: Settings

    def system(self) -> dict[str, Any]:
        """The human's system prompt: the human template filled with the instruction."""
        return {"role": "system",
                "content": load_prompt("human").render(instruction=self.instruction)}

    async def reply(self, conversation: list[dict[str, Any]], turn: int) -> HumanTurn:
        """The next customer message."""
        view = [self.system(), *human_view(conversation)]
        samples = [self.settings.model_copy(update={"sample": self.settings.sample * 1000
                                                    + turn * 10 + i})
                   for i in range(self.best_of_n)]
        outs = await asyncio.gather(*(self.model.complete(view, None, s) for s in samples))
        candidates = [(o.text or "").strip() for o in outs]
        if self.best_of_n == 1:
            return HumanTurn(candidates[0], [])
        judged = await asyncio.gather(*(
            self.critic.complete(critic_messages(self.instruction, view[1:], c), None, s)
            for c, s in zip(candidates, samples, strict=True)))
        scores = [_score(j.text) for j in judged]
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        return HumanTurn(candidates[best], scores)
