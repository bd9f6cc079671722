"""The "one customer per conversation" finding, shared by domains whose writes each act
for one customer: every change must be for the same one, and for the task's own user
when the calls come from a task."""

from __future__ import annotations


def one_owner_findings(owners: dict[str, list[str]], user_id: str | None,
                       noun: str = "user") -> list[str]:
    """Findings for writes grouped by the customer they act for (``owners``: customer →
    the calls, described); ``user_id`` is the task's customer when known."""
    foreign = [u for u in owners if user_id is not None and u != user_id]
    if foreign:
        return [f"{', '.join(owners[u])} acts for {noun} {u}, not for the task's {noun} "
                f"{user_id}" for u in foreign]
    if len(owners) <= 1:
        return []
    detail = "; ".join(f"{owner}: {', '.join(calls)}" for owner, calls in owners.items())
    return [f"changes touch {len(owners)} {noun}s ({detail})"]
