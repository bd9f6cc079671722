"""The agent: the domain policy as system prompt, the environment's tools, native calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apigen_mt.llm.base import ChatModel, Completion, Settings


@dataclass
class Agent:
    """The agent role bound to a model and an environment's tool schemas."""

    model: ChatModel
    policy: str
    tools: list[dict[str, Any]]
    settings: Settings
    one_call_per_turn: bool = True

    def system(self) -> dict[str, Any]:
        """The system message: the policy."""
        return {"role": "system", "content": self.policy}

    async def act(self, conversation: list[dict[str, Any]], step: int) -> Completion:
        """The agent's next turn: text for the customer, or tool calls."""
        settings = self.settings.model_copy(update={
            "sample": self.settings.sample * 1000 + step,
            "parallel_tool_calls": False if self.one_call_per_turn else None})
        done = await self.model.complete(conversation, self.tools, settings)
        if self.one_call_per_turn and len(done.tool_calls) > 1:
            # τ-bench's convention: one call per turn; the rest are dropped, not run
            done = done.model_copy(update={"tool_calls": done.tool_calls[:1]})
        return done
