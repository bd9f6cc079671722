"""Phase-2 settings (the ``rollout:`` block of a run config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TAU_GREETING = "Hi! How can I help you today?"
STOP = "###STOP###"


class RolloutSettings(BaseModel):
    """Knobs of the human × agent episodes; defaults follow τ-bench and the paper."""

    model_config = ConfigDict(extra="forbid")

    trials: int = Field(3, ge=1)
    best_of_n: int = Field(4, ge=1)
    # batched: one critic request scores all N candidates; each: one per candidate (paper)
    critic: Literal["batched", "each"] = "batched"
    max_turns: int = Field(30, ge=1)
    greeting: str = TAU_GREETING
    one_tool_call_per_turn: bool = True
    require_conversation_rules: bool = False
    # a kept conversation teaches what it shows: one with a malformed tool call (even if
    # the agent recovered) is kept apart as a failure, useful as a "rejected" sample
    reject_invalid_tool_calls: bool = True
    concurrency: int = Field(64, ge=1)
    parse_retries: int = 2
