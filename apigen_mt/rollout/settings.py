"""Phase-2 settings (the ``rollout:`` block of a run config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from apigen_mt.prompts import STOP as STOP  # re-exported: the customer's markers
from apigen_mt.prompts import UNREADABLE as UNREADABLE

TAU_GREETING = "Hi! How can I help you today?"


class JudgeSettings(BaseModel):
    """Which rules decide that a conversation is kept; each can be turned off by name.

    The defaults are at least as strict as τ-bench (the first two are τ-bench's reward)
    and stricter where a careful customer would want it (the next two).
    """

    model_config = ConfigDict(extra="forbid")

    state: bool = True  # the final state equals the replayed ground truth
    outputs: bool = True  # each expected output said inside one reply to the user
    identification: bool = True  # the domain's identify-before-writing rule, if it has one
    consent: bool = True  # each write proposed with its details and agreed to first
    domain_rules: bool = False  # every other rule the domain states as code
    # arguments a proposal need not read back: who the customer is, not what is done
    consent_skip_arguments: list[str] = Field(default_factory=lambda: ["user_id"])


Protocol = Literal["apigen-mt", "tau"]
PROTOCOLS: dict[str, str] = {
    "apigen-mt": "best-of-N simulated user with a critic; a kept conversation reaches the "
                 "target state, says each output in one reply, identifies the user and gets "
                 "consent before every write, and makes no invalid tool call",
    "tau": "τ-bench's protocol: one user sample per turn, reward = target state and each "
           "output in one reply; a recovered invalid tool call is not held against it",
}


class RolloutSettings(BaseModel):
    """Knobs of the human × agent episodes; defaults follow τ-bench and the paper."""

    model_config = ConfigDict(extra="forbid")

    trials: int = Field(3, ge=1, le=1_000)
    best_of_n: int = Field(4, ge=1, le=64)
    # batched: one critic request scores all N candidates; each: one per candidate (paper)
    critic: Literal["batched", "each"] = "batched"
    max_turns: int = Field(30, ge=1, le=1_000)
    greeting: str = TAU_GREETING
    one_tool_call_per_turn: bool = True
    require_conversation_rules: bool = False  # older name for judge.domain_rules
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    # a kept conversation teaches what it shows: one with a malformed tool call (even if
    # the agent recovered) is kept apart as a failure, useful as a "rejected" sample
    reject_invalid_tool_calls: bool = True
    # a conversation that has broken a rule the judge can never forgive (a write without
    # consent; an invalid call while those are rejected) stops there: the rest would cost
    # model calls and end failed anyway; off plays every failure out to its end
    stop_at_broken_rule: bool = True
    concurrency: int = Field(64, ge=1, le=4_096)
    parse_retries: int = 2

    def judge_rules(self) -> JudgeSettings:
        """The judge's rules, with the older ``require_conversation_rules`` folded in."""
        if self.require_conversation_rules and not self.judge.domain_rules:
            return self.judge.model_copy(update={"domain_rules": True})
        return self.judge

    def for_protocol(self, protocol: str) -> RolloutSettings:
        """These settings under an evaluation protocol (``apigen-mt`` leaves them as is)."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
        if protocol == "apigen-mt":
            return self
        return self.model_copy(update={
            "best_of_n": 1, "one_tool_call_per_turn": True, "reject_invalid_tool_calls": False,
            "require_conversation_rules": False,
            "judge": JudgeSettings(state=True, outputs=True, identification=False,
                                   consent=False, domain_rules=False)})
