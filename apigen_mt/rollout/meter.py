"""Per-conversation accounting: what each role's calls cost one trajectory.

The run-wide tracker (``llm.usage``) says what a run spent; this says what one
conversation used, so a trajectory carries its own calls and tokens. Figures are those
of the answers (a response-cache hit counts what the original call used), so a record
is the same whether it was played once or replayed from the cache after a crash.
"""

from __future__ import annotations

from typing import Any

from apigen_mt.llm.base import ChatModel, Completion, Settings
from apigen_mt.records import RoleUsage


class MeteredModel:
    """A :class:`ChatModel` that adds every answer's usage to one role's bucket."""

    def __init__(self, inner: ChatModel, bucket: RoleUsage):
        self.inner = inner
        self.bucket = bucket
        self.name = inner.name

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        out = await self.inner.complete(messages, tools, settings)
        b = self.bucket
        b.calls += 1
        b.prompt_tokens += out.usage.prompt_tokens
        b.completion_tokens += out.usage.completion_tokens
        b.cached_tokens += out.usage.cached_tokens
        b.cost += out.saved_cost if out.cached else out.cost
        return out


def usage_record(buckets: dict[str, RoleUsage]) -> dict[str, Any]:
    """The ``Trajectory.usage`` dict: totals plus each role's figures."""
    roles = {role: b.model_dump(exclude={"cache_hits"}) for role, b in buckets.items()
             if b.calls}
    out: dict[str, Any] = {k: sum(r[k] for r in roles.values()) for k in
                           ("calls", "prompt_tokens", "completion_tokens", "cached_tokens")}
    out["cost"] = round(sum(r["cost"] for r in roles.values()), 8)
    for r in roles.values():
        r["cost"] = round(r["cost"], 8)
    out["roles"] = roles
    return out
