"""Context samplers: what a drafter sees for one draft, drawn from a seeded generator."""

from __future__ import annotations

import json
import random
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.env.environment import Environment
from apigen_mt.env.graph import ApiGraph


class Context(BaseModel):
    """Everything sampled for one draft; stored in the blueprint's provenance."""

    env: str
    env_ref: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    user_data: dict[str, Any] | None = None
    walk: list[str] | None = None
    rules: list[str] | None = None
    persona: str | None = None
    examples: list[dict[str, Any]] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The compact form kept in provenance (user data is re-derivable)."""
        return {"user_id": self.user_id, "walk": self.walk, "persona": self.persona,
                "rules": len(self.rules or []), "examples": len(self.examples),
                "user_data": self.user_data is not None}


@lru_cache(maxsize=8)
def load_personas(path: str | None = None) -> tuple[str, ...]:
    """Shipped personas, or a user's PersonaHub-style JSONL (``{"persona": …}`` per line)."""
    if path is None:
        text = resources.files("apigen_mt.blueprint").joinpath("personas.jsonl").read_text()
        where = "built-in personas"
    else:
        file = Path(path)
        if not file.exists():
            raise FileNotFoundError(f"personas file not found: {path}")
        text, where = file.read_text(), path
    personas = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{where}:{lineno}: not valid JSON") from None
        value = row.get("persona") if isinstance(row, dict) else None
        if not isinstance(value, str):
            raise ValueError(f"{where}:{lineno}: expected an object with a 'persona' string")
        personas.append(value)
    if not personas:
        raise ValueError(f"{where}: no personas")
    return tuple(personas)


def user_view(env: Environment, user_id: str) -> dict[str, Any]:
    """One user's data: the domain's view, or just their record."""
    if env.domain.user_view is not None:
        return env.domain.user_view(env.state, user_id)
    table = env.domain.user_table
    id_key = (table[:-1] if table.endswith("s") else table) + "_id"  # members → member_id
    return {"user": {"id": user_id, id_key: user_id, **env.state[table][user_id]}}


def trim_to_budget(view: dict[str, Any], tokens: int) -> dict[str, Any]:
    """Drop related records (largest collections first) until the view fits ~tokens."""
    limit = tokens * 4  # about four characters a token
    view = json.loads(json.dumps(view))
    while len(json.dumps(view)) > limit:
        collections = [(k, v) for k, v in view.items() if isinstance(v, dict) and k != "user"
                       and v]
        if not collections:
            break
        _, records = max(collections, key=lambda kv: len(json.dumps(kv[1])))
        records.pop(next(reversed(records)))
    return view


class ContextSampler:
    """Samples contexts for one environment; every draw depends only on (seed, slot)."""

    def __init__(self, env: Environment, settings: BlueprintSettings, seed: int,
                 env_ref: dict[str, Any] | None = None):
        self.env = env
        self.settings = settings
        self.seed = seed
        self.env_ref = env_ref or {"spec": env.name}
        domain = env.domain
        self.graph = ApiGraph.build(domain.tools, domain.graph_add, domain.graph_remove)
        self.users = sorted(env.state[domain.user_table])
        self.personas = load_personas(settings.personas_file)
        self.examples = domain.examples()

    def rng(self, slot: int, purpose: str = "context") -> random.Random:
        """A generator private to one slot and purpose."""
        return random.Random(f"{self.seed}:{slot}:{purpose}")

    def sample(self, slot: int, accepted: list[dict[str, Any]] | None = None) -> Context:
        """The context of one slot; ``accepted`` are blueprints this slot may learn from."""
        rng = self.rng(slot)
        rates = self.settings.context
        accepted = accepted or []
        ctx = Context(env=self.env.name, env_ref=self.env_ref)
        reusable = sorted({b["user_id"] for b in accepted if b.get("user_id") in self.users})
        if reusable and rng.random() < self.settings.reuse_user_rate:
            ctx.user_id = rng.choice(reusable)
        elif self.users:
            ctx.user_id = rng.choice(self.users)
        if ctx.user_id is not None and rng.random() < rates.user:
            ctx.user_data = trim_to_budget(user_view(self.env, ctx.user_id),
                                           self.settings.user_token_budget)
        if rng.random() < rates.walk:
            ctx.walk = self.graph.walk(rng, max_writes=self.settings.max_writes)
        if rng.random() < rates.rules:
            ctx.rules = self._rules_for(ctx.walk)
        if rng.random() < rates.persona:
            ctx.persona = rng.choice(self.personas)
        if rng.random() < rates.examples:
            pool = [*self.examples, *accepted[-50:]]
            if pool:
                picks = rng.sample(range(len(pool)), k=min(self.settings.examples, len(pool)))
                ctx.examples = [_example(pool[i]) for i in sorted(picks)]
        return ctx

    def _rules_for(self, walk: list[str] | None) -> list[str]:
        tools = set(walk or [])
        return [f"{r.name}: {r.description}" for r in self.env.domain.rules
                if not r.tools or not tools or r.tools & tools]


def _example(bp: dict[str, Any]) -> dict[str, Any]:
    return {k: bp[k] for k in ("user_id", "instruction", "actions", "outputs") if k in bp}
