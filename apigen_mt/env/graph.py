"""The API dependency graph of an environment, and seeded walks over it.

Edge A → B when one of B's inputs can come from A's outputs. Tools return free text,
so outputs are inferred from the schemas: a tool yields the entities it is about (its
own parameters) and the ids its name or description mentions (``find_user_id_by_email``
yields ``user_id``). A domain adds or removes edges where that inference is wrong.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from apigen_mt.env.tools import Tool

_SKIP = {"think", "calculate"}


def _stem(param: str) -> str:
    """``item_ids`` and ``item_id`` name the same entity."""
    return param[:-1] if param.endswith("_ids") else param


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _mentions(tool: Tool, param: str) -> bool:
    stem = _stem(param)
    if stem in tool.name:
        return True
    # "user id" / "order id" written in prose counts as a mention of user_id / order_id
    return all(w in _words(tool.description) for w in stem.split("_"))


def inputs(tool: Tool) -> list[str]:
    """Required input names of a tool."""
    return list(tool.parameters.get("required", []))


@dataclass
class ApiGraph:
    """Directed graph over tool names with read/write tags."""

    tools: dict[str, Tool]
    edges: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, tools: list[Tool], add: list[tuple[str, str]] = (),
              remove: list[tuple[str, str]] = ()) -> ApiGraph:
        """Derive edges from the schemas, then apply a domain's additions and removals."""
        named = {t.name: t for t in tools}
        graph = cls(tools=named, edges={name: set() for name in named})
        for a in tools:
            if a.name in _SKIP or a.ends_conversation:
                continue
            a_inputs = {_stem(p) for p in inputs(a)}
            for b in tools:
                if b is a or b.name in _SKIP or b.ends_conversation:
                    continue
                for p in inputs(b):
                    if _stem(p) in a_inputs or _mentions(a, p):
                        graph.edges[a.name].add(b.name)
                        break
        for a, b in add:
            if a in named and b in named:
                graph.edges[a].add(b)
        for a, b in remove:
            graph.edges.get(a, set()).discard(b)
        return graph

    def predecessors(self, name: str) -> list[str]:
        """Tools with an edge into ``name``, sorted for determinism."""
        return sorted(a for a, outs in self.edges.items() if name in outs)

    def writes(self) -> list[str]:
        """Write tools that may form a walk's core."""
        return sorted(n for n, t in self.tools.items()
                      if t.kind == "write" and not t.ends_conversation)

    def walk(self, rng: random.Random, max_writes: int = 2, max_reads: int = 3,
             writes: int | None = None, allowed: set[str] | None = None,
             core: list[str] | None = None) -> list[str]:
        """A seeded walk: ``writes`` write tools (default 1..max_writes), each preceded by
        reads that feed it. ``allowed`` limits the writes to those that can succeed (for
        one user, say); distinct writes are preferred while there are enough. ``core``
        gives the writes themselves."""
        pool = [w for w in self.writes() if allowed is None or w in allowed]
        if not pool:
            reads = [n for n, t in self.tools.items() if t.kind == "read" and n not in _SKIP]
            return rng.sample(reads, k=min(len(reads), max_reads))
        if core is None:
            count = writes if writes is not None else rng.randint(1, max_writes)
            core = rng.sample(pool, k=min(count, len(pool)))
            core += [rng.choice(pool) for _ in range(count - len(core))]
        path: list[str] = []
        for write in core:
            chain: list[str] = []
            current = write
            for _ in range(max_reads):
                preds = [p for p in self.predecessors(current)
                         if self.tools[p].kind == "read" and p not in chain]
                if not preds or rng.random() < 0.3:
                    break
                current = rng.choice(preds)
                chain.insert(0, current)
            path.extend(t for t in chain if t not in path or self.tools[t].kind == "write")
            path.append(write)
        return path

    def render(self) -> list[str]:
        """``A -> B, C`` lines for ``env show``."""
        return [f"{a} -> {', '.join(sorted(b))}" for a, b in sorted(self.edges.items()) if b]
