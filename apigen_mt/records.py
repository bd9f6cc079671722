"""Every record the pipeline writes, as pydantic models (I/O is model_dump_json/validate)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field


def content_id(prefix: str, payload: Any) -> str:
    """A short id derived from content, so reruns produce the same ids."""
    body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return f"{prefix}-{hashlib.sha256(body).hexdigest()[:16]}"


def _text(content: Any) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
    return raw


def normalized_conversation(messages: list[dict[str, Any]]) -> list[list[Any]]:
    """What a conversation says, without the ids a model or server makes up.

    Tool-call ids (and the ``tool_call_id`` answering them) differ between trials that
    say exactly the same thing; a tool result is tied to its call by position instead.
    Arguments compare as JSON values, so key order and spacing do not matter.
    """
    out: list[list[Any]] = []
    for m in messages:
        calls = [[(c.get("function") or {}).get("name", ""),
                  _arguments((c.get("function") or {}).get("arguments"))]
                 for c in m.get("tool_calls") or []]
        if m.get("function_call"):  # the legacy single-call field
            fc = m["function_call"]
            calls.append([fc.get("name", ""), _arguments(fc.get("arguments"))])
        out.append([m.get("role", ""), _text(m.get("content")), calls])
    return out


def conversation_id(messages: list[dict[str, Any]]) -> str:
    """Identity of a conversation: equal for conversations that differ only in ids."""
    return content_id("conv", normalized_conversation(messages))


class Action(BaseModel):
    """One ground-truth tool call."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


Stage = Literal["format", "execution", "policy", "committee", "duplicate", "drafter", "error"]


class Verdict(BaseModel):
    """The result of one check: never a bare bool, always with reasons."""

    stage: Stage
    passed: bool
    reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class Review(BaseModel):
    """One committee member's scores (0/1 per criterion) and reflection."""

    reviewer: str
    correctness: int
    completeness: int
    satisfaction: int
    creativity: int
    reflection: str = ""

    def scores(self) -> dict[str, int]:
        """Criterion → 0/1."""
        return {"correctness": self.correctness, "completeness": self.completeness,
                "satisfaction": self.satisfaction, "creativity": self.creativity}


class Provenance(BaseModel):
    """Where an accepted blueprint came from, so any record can be audited."""

    slot: int
    seed: int
    drafter: str
    rounds: int
    context: dict[str, Any] = Field(default_factory=dict)
    verdicts: list[Verdict] = Field(default_factory=list)
    reviews: list[Review] = Field(default_factory=list)
    feedback: list[str] = Field(default_factory=list)
    models: dict[str, Any] = Field(default_factory=dict)
    prompt_version: str = ""
    recombined_from: list[str] = Field(default_factory=list)


# A blueprint's fields that playing an episode never reads, and most of its memory: phase
# 2 and the early episodes of phase 1 hold their blueprints without them.
UNPLAYED_FIELDS = ("provenance", "diff")


class Blueprint(BaseModel):
    """A task with its answer key; a blueprints file is also a valid tasks file."""

    id: str = ""
    env: str
    user_id: str | None = None
    instruction: str
    actions: list[Action]
    outputs: list[str] = Field(default_factory=list)
    persona: str | None = None
    target_hash: str | None = None
    diff: list[dict[str, Any]] = Field(default_factory=list)
    provenance: Provenance | None = None

    def for_play(self) -> Blueprint:
        """This blueprint with :data:`UNPLAYED_FIELDS` at their defaults."""
        fields = type(self).model_fields
        return self.model_copy(update={
            f: fields[f].get_default(call_default_factory=True) for f in UNPLAYED_FIELDS})

    def key(self) -> dict[str, Any]:
        """What defines the task (its id is derived from this)."""
        return {"env": self.env, "user_id": self.user_id, "instruction": self.instruction,
                "actions": [a.model_dump() for a in self.actions], "outputs": self.outputs}

    def with_id(self) -> Blueprint:
        """This blueprint with its content-derived id filled in."""
        return self.model_copy(update={"id": content_id("bp", self.key())})

    @classmethod
    def from_task(cls, task: dict[str, Any], env_name: str) -> Blueprint:
        """A task (τ-bench's ``{user_id, instruction, actions: [{name, kwargs}], outputs}``
        or a blueprint row) as a blueprint, its id derived from its content."""
        actions = [Action(name=a["name"], arguments=a.get("arguments", a.get("kwargs", {})))
                   for a in task["actions"]]
        bp = cls(env=str(task.get("env") or env_name), user_id=task.get("user_id"),
                 instruction=str(task.get("instruction") or ""), actions=actions,
                 outputs=[str(o) for o in task.get("outputs") or []])
        return bp.with_id() if not task.get("id") else bp.model_copy(update={"id": task["id"]})

    def action_signature(self) -> str:
        """Identity of the action sequence, for duplicate detection."""
        return content_id("acts", [a.model_dump() for a in self.actions])


class RejectedBlueprint(BaseModel):
    """A slot that produced no accepted blueprint, with its final reasons."""

    slot: int
    env: str
    stage: Stage
    reasons: list[str]
    rounds: int
    draft: dict[str, Any] | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    feedback: list[str] = Field(default_factory=list)


class JudgeVerdict(BaseModel):
    """Why a rollout was kept or not."""

    passed: bool
    reasons: list[str] = Field(default_factory=list)
    state_match: bool = False
    missing_outputs: list[str] = Field(default_factory=list)
    diff: list[str] = Field(default_factory=list)  # rendered diff against the target
    rule_violations: list[str] = Field(default_factory=list)
    # the judge's rules that failed, by name (state, outputs, identification, consent,
    # domain_rules), in that order
    failed_rules: list[str] = Field(default_factory=list)


EndReason = Literal["stop", "ending_tool", "max_turns", "model_error", "unreadable_instruction",
                    "broken_rule"]


class HumanChoice(BaseModel):
    """One simulated-human turn's best-of-N: every candidate, its critic score and reason,
    and which one was sent. Preference data for training a user simulator."""

    turn: int  # the human's turn number in the conversation (0: the opening message)
    candidates: list[str]
    scores: list[float] = Field(default_factory=list)  # empty: not scored (all the same)
    reasons: list[str] = Field(default_factory=list)
    chosen: int = 0
    critic_error: str | None = None  # the critic never answered in a usable form


class RoleUsage(BaseModel):
    """Model calls and tokens one role spent (on one trajectory, or a phase)."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0


class Trajectory(BaseModel):
    """One played-out conversation, as OpenAI chat messages, with its verdict."""

    id: str = ""
    blueprint_id: str
    env: str
    trial: int
    messages: list[dict[str, Any]]
    verdict: JudgeVerdict
    end_reason: EndReason
    final_hash: str = ""
    target_hash: str = ""
    human_scores: list[list[float]] = Field(default_factory=list)
    human_choices: list[HumanChoice] = Field(default_factory=list)
    invalid_tool_calls: int = 0
    # {"calls", "prompt_tokens", "completion_tokens", "cached_tokens", "cost",
    #  "roles": {role: RoleUsage}}: what this conversation cost, cache hits included
    usage: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0

    def content_key(self) -> Any:
        """What the record id is derived from (the messages exactly as played)."""
        return {"blueprint": self.blueprint_id, "messages": self.messages}

    def conversation_id(self) -> str:
        """Identity of what was said, ids aside: two trajectories with the same one are
        duplicates, whatever their blueprint or trial, and only the first is kept."""
        return conversation_id(self.messages)
