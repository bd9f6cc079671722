"""State diffs: what changed between two states, as (path, old, new) entries."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

MISSING = "<absent>"


class Change(BaseModel):
    """One changed leaf: ``path`` like ``["orders", "#W1", "status"]``."""

    path: list[str]
    old: Any = None
    new: Any = None
    old_present: bool = True
    new_present: bool = True

    def render(self) -> str:
        """One readable line: ``orders[#W1].status: "pending" -> "cancelled"``."""
        head, *rest = self.path
        where = head + "".join(f"[{p}]" if i == 0 else f".{p}" for i, p in enumerate(rest))
        old = _short(self.old) if self.old_present else MISSING
        new = _short(self.new) if self.new_present else MISSING
        return f"{where}: {old} -> {new}"


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def diff_values(old: Any, new: Any, path: list[str], out: list[Change]) -> None:
    """Append the leaf changes that turn ``old`` into ``new``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            sub = [*path, str(key)]
            if key not in new:
                out.append(Change(path=sub, old=old[key], new_present=False))
            elif key not in old:
                out.append(Change(path=sub, new=new[key], old_present=False))
            else:
                diff_values(old[key], new[key], sub, out)
        return
    if isinstance(old, list) and isinstance(new, list) and (
            len(old) == len(new) or (old and new and old[:len(new)] == new[:len(old)]
                                     and any(isinstance(v, dict) and "__class__" in v
                                             for v in old + new))):
        # same length: item by item; a list of objects (a class environment's snapshot)
        # extended or cut: only those objects
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            diff_values(a, b, [*path, str(i)], out)
        for i in range(len(new), len(old)):
            out.append(Change(path=[*path, str(i)], old=old[i], new_present=False))
        for i in range(len(old), len(new)):
            out.append(Change(path=[*path, str(i)], new=new[i], old_present=False))
        return
    if old != new or type(old) is not type(new):
        out.append(Change(path=path, old=old, new=new))


def render_diff(changes: list[Change], limit: int = 40) -> str:
    """Human-readable multi-line rendering; reviewers read this."""
    if not changes:
        return "(no changes)"
    lines = [c.render() for c in changes[:limit]]
    if len(changes) > limit:
        lines.append(f"... and {len(changes) - limit} more changes")
    return "\n".join(lines)
