"""Context samplers: what a drafter sees for one draft, drawn from a seeded generator."""

from __future__ import annotations

import json
import random
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from apigen_mt.blueprint.checked_walk import checked_steps
from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.env.declarations import DraftingHints
from apigen_mt.env.environment import Environment
from apigen_mt.env.graph import ApiGraph


class Context(BaseModel):
    """Everything sampled for one draft; stored (in short) in the blueprint's provenance.

    What reaches a model is :meth:`prompt_body`: the records, excerpts and policy a
    drafter needs, never how the environment was loaded.
    """

    env: str
    user_id: str | None = None
    user_data: dict[str, Any] | None = None
    walk: list[str] | None = None
    # write tool of the walk → the argument values its preconditions allow for this user
    targets: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    policy: str | None = None
    now: str | None = None
    excerpts: dict[str, Any] = Field(default_factory=dict)
    persona: str | None = None
    examples: list[dict[str, Any]] = Field(default_factory=list)
    # the walk as checked on a scratch copy (domains without drafting hints): each step
    # with what it applies to and, for a step the others need, which and why
    steps: list[dict[str, Any]] | None = None

    def summary(self) -> dict[str, Any]:
        """The compact form kept in provenance (user data is re-derivable)."""
        out = {"user_id": self.user_id, "walk": self.walk, "persona": self.persona,
               "policy": self.policy is not None, "excerpts": sorted(self.excerpts),
               "examples": len(self.examples), "user_data": self.user_data is not None}
        if self.steps is not None:  # the checked walk the prompt showed instead
            out["steps"] = [step["name"] for step in self.steps]
        return out

    def suggested_tools(self) -> list[dict[str, Any]]:
        """The walk as the prompt shows it: each tool, and what a write may act on."""
        if self.steps is not None:
            return [dict(step) for step in self.steps]
        out = []
        for name in self.walk or []:
            step: dict[str, Any] = {"name": name}
            if name in self.targets:
                step["changes_records"] = True
                if self.targets[name]:
                    step["applies_to"] = self.targets[name]
            out.append(step)
        return out

    def prompt_body(self) -> dict[str, Any]:
        """The named keys of the drafter's context block (absent parts are left out).

        What many slots share comes first (the policy sections, the current time), so a
        provider's prefix cache serves it; what is this slot's own follows."""
        body: dict[str, Any] = {}
        if self.policy:
            body["policy"] = self.policy
        if self.now:
            body["now"] = self.now
        body["user_id"] = self.user_id
        if self.user_data is not None:
            body["user_records"] = self.user_data
        body.update(self.excerpts)
        if self.walk:
            body["suggested_tools"] = self.suggested_tools()
        if self.persona:
            body["persona"] = self.persona
        if self.examples:
            body["examples"] = self.examples
        return body


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
    """Drop related records (largest collections first, each one's last record) until
    the view fits ~tokens.

    Sizes are those of the view's JSON text, kept up to date as records go rather than
    serialised again after each one: a customer with many orders lost one record per
    full ``json.dumps`` of their whole view, on every drafting slot."""
    limit = tokens * 4  # about four characters a token
    view = json.loads(json.dumps(view))
    total = len(json.dumps(view))
    if total <= limit:
        return view
    sizes = {k: len(json.dumps(v)) for k, v in view.items()
             if isinstance(v, dict) and k != "user"}
    while total > limit:
        live = [k for k in view if k in sizes and view[k]]
        if not live:
            break
        name = max(live, key=sizes.__getitem__)  # the first of the largest, as view orders
        records = view[name]
        last = next(reversed(records))
        # '"key": value' and, unless it was the only one, the ', ' joining it
        cut = len(json.dumps(last)) + 2 + len(json.dumps(records.pop(last))) \
            + (2 if records else 0)
        sizes[name] -= cut
        total -= cut
    return view


class ContextSampler:
    """Samples contexts for one environment; every draw depends only on (seed, slot)."""

    def __init__(self, env: Environment, settings: BlueprintSettings, seed: int):
        self.env = env
        self.settings = settings
        self.seed = seed
        domain = env.domain
        self.hints = domain.hints or DraftingHints()
        self.graph = ApiGraph.build(domain.tools, domain.graph_add, domain.graph_remove)
        self.users = sorted(env.state[domain.user_table])
        self.personas = load_personas(settings.personas_file)
        self.examples = domain.examples()
        # Pure functions of (seed, slot) and the environment's initial state, asked again
        # for neighbouring slots (a sibling's claims re-sample the slot before): kept
        # once computed. The sampler's environment is never changed (every check and
        # replay works on a fresh copy), so nothing here goes stale.
        self._users: dict[int, str | None] = {}
        self._rooms: dict[str, int] = {}
        self._claims: dict[tuple[int, str], frozenset[Any]] = {}

    def rng(self, slot: int, purpose: str = "context") -> random.Random:
        """A generator private to one slot and purpose."""
        return random.Random(f"{self.seed}:{slot}:{purpose}")

    def user_for(self, slot: int) -> str | None:
        """The slot's user: at ``sibling_rate`` the previous slot's (up to three slots in a
        row share one), so a run holds users with several tasks to recombine. A user is
        drawn among a few at random, preferring one whose records allow the most writes
        (a long task needs a customer with several orders or trips)."""
        if slot in self._users:
            return self._users[slot]
        user = self._draw_user(slot)
        self._users[slot] = user
        return user

    def _draw_user(self, slot: int) -> str | None:
        if not self.users:
            return None
        first, back = slot, 0
        while first > 0 and back < 2 and \
                self.rng(first, "sibling").random() < self.settings.sibling_rate:
            first, back = first - 1, back + 1
        rng = self.rng(first, "user")
        picks = [rng.choice(self.users) for _ in range(4)]
        return max(picks, key=lambda u: (self._room(u), -picks.index(u)))

    def _room(self, user_id: str) -> int:
        """How many writes the user's records allow (one per record a write may target)."""
        room = self._rooms.get(user_id)
        if room is None:
            room = self._rooms[user_id] = self._count_room(user_id)
        return room

    def _count_room(self, user_id: str) -> int:
        records: set[Any] = set()
        free = 0
        for targets in self.possible(user_id).values():
            if targets:
                records.update(next(iter(targets.values())))
            else:
                free += 1
        return len(records) + free

    def _sibling_claims(self, slot: int, user_id: str | None) -> set[Any]:
        """Records the slot before claimed for the same user: a sibling task leaves them
        alone, so the two can later be recombined into one conversation."""
        if slot == 0 or user_id is None or self.user_for(slot - 1) != user_id:
            return set()
        known = self._claims.get((slot, user_id))
        if known is None:
            known = self._claims[(slot, user_id)] = frozenset(self._claimed(slot, user_id))
        return set(known)

    def _claimed(self, slot: int, user_id: str) -> set[Any]:
        prev = self.sample(slot - 1, [], user_id=user_id)
        taken = set()
        for name, targets in prev.targets.items():
            exclusive = self.hints.exclusive
            if targets and (exclusive is None or name in exclusive):
                taken.update(next(iter(targets.values())))
        return taken

    def possible(self, user_id: str | None,
                 taken: set[Any] = frozenset()) -> dict[str, dict[str, list[Any]]]:
        """Write tools whose preconditions can hold for the user, with their targets
        (minus the records in ``taken``)."""
        out: dict[str, dict[str, list[Any]]] = {}
        for name in self.graph.writes():
            check = self.hints.preconditions.get(name)
            if check is None or user_id is None:
                out[name] = {}
                continue
            found = check(self.env.state, user_id)
            if found and taken:
                key = next(iter(found))
                found = {**found, key: [v for v in found[key] if v not in taken]}
                if not found[key]:
                    continue
            if found is not None:
                out[name] = found
        return out

    def sample(self, slot: int, accepted: list[dict[str, Any]] | None = None,
               user_id: str | None = None) -> Context:
        """The context of one slot; ``accepted`` are blueprints this slot may learn from."""
        rng = self.rng(slot)
        rates = self.settings.context
        accepted = accepted or []
        ctx = Context(env=self.env.name, now=self.hints.now)
        reusable = sorted({b["user_id"] for b in accepted if b.get("user_id") in self.users})
        if user_id is not None:
            ctx.user_id = user_id
        elif reusable and rng.random() < self.settings.reuse_user_rate:
            ctx.user_id = rng.choice(reusable)
        else:
            ctx.user_id = self.user_for(slot)
        writes = self.settings.draw_writes(rng)
        if ctx.user_id is not None and rng.random() < rates.user:
            ctx.user_data = trim_to_budget(user_view(self.env, ctx.user_id),
                                           self.settings.user_token_budget)
        if rng.random() < rates.walk:
            possible = self.possible(ctx.user_id, self._sibling_claims(slot, ctx.user_id))
            core, targets = claim_targets(possible, writes, rng, self.hints.exclusive)
            ctx.walk = self.graph.walk(rng, allowed=set(possible), core=core or None)
            ctx.targets = {t: targets.get(t, possible.get(t, {})) for t in ctx.walk
                           if t in possible}
            if self.env.domain.hints is None:
                checked = checked_steps(self.env, ctx.walk, user_view(self.env, ctx.user_id)
                                        if ctx.user_id is not None else {},
                                        self.graph, self.rng(slot, "checked walk"))
                # the walk drafter fills (and repairs) the sampled walk itself; the prompt
                # shows the checked one
                ctx.steps = checked
            if ctx.user_id is not None and self.hints.excerpts is not None:
                walk = {t: ctx.targets.get(t, {}) for t in ctx.walk}
                ctx.excerpts = self.hints.excerpts(self.env.state, ctx.user_id, walk,
                                                   self.rng(slot, "excerpts"))
        if rng.random() < rates.rules:
            ctx.policy = self._policy_for(ctx.walk)
        if rng.random() < rates.persona:
            ctx.persona = rng.choice(self.personas)
        if rng.random() < rates.examples:
            pool = [*self.examples, *accepted[-50:]]
            if pool:
                picks = rng.sample(range(len(pool)), k=min(self.settings.examples, len(pool)))
                ctx.examples = [_example(pool[i]) for i in sorted(picks)]
        return ctx

    def _policy_for(self, walk: list[str] | None) -> str | None:
        text = self.env.policy or None
        if text and walk and self.hints.policy_for is not None:
            return self.hints.policy_for(text, set(walk))
        return text


def claim_targets(possible: dict[str, dict[str, list[Any]]], count: int,
                  rng: random.Random, exclusive: frozenset[str] | None = None
                  ) -> tuple[list[str], dict[str, dict[str, list[Any]]]]:
    """Up to ``count`` writes that can all hold at once. An exclusive write claims a record
    of its own (its first target argument) that no other write of the task may use; the
    others may share records among themselves but not with an exclusive one.

    Writes are added one at a time in a random order and kept only when the task stays
    satisfiable with them, so a user whose records allow ``count`` writes gets ``count``
    (a second cancellation does not crowd out an address change of another order)."""
    names = sorted(possible)
    rng.shuffle(names)

    def is_exclusive(name: str) -> bool:
        return bool(possible[name]) and (exclusive is None or name in exclusive)

    chosen: list[str] = []
    targets: dict[str, dict[str, list[Any]]] = {}
    for name in names * 2:  # a tool may come twice when it has records to spare
        if len(chosen) >= count:
            break
        if name in chosen and not possible[name]:
            continue
        trial = _allocate([*chosen, name], possible, is_exclusive, rng)
        if trial is not None:
            chosen.append(name)
            targets = trial
    core = list(chosen)
    rng.shuffle(core)
    # an exclusive write ends what can happen to its record: it comes after the others
    core.sort(key=is_exclusive)
    return core, targets


def _allocate(chosen: list[str], possible: dict[str, dict[str, list[Any]]],
              is_exclusive, rng: random.Random) -> dict[str, dict[str, list[Any]]] | None:
    """Targets for ``chosen`` writes, or None when they cannot all hold: each exclusive
    write gets a record no other write needs if it can (else one no exclusive write has
    taken), and the others share what the exclusive ones left."""
    shared = [n for n in chosen if possible[n] and not is_exclusive(n)]

    def key(name: str) -> str:
        return next(iter(possible[name]))

    wanted = {v for n in shared for v in possible[n][key(n)]}
    claimed: set[Any] = set()
    targets: dict[str, dict[str, list[Any]]] = {}
    for name in [n for n in chosen if is_exclusive(n)]:
        free = [v for v in possible[name][key(name)] if v not in claimed]
        if not free:
            return None
        spare = [v for v in free if v not in wanted]
        pick = rng.choice(spare or free)
        claimed.add(pick)
        previous = targets.get(name, {}).get(key(name), [])
        targets[name] = {**possible[name], key(name): [*previous, pick]}
    for name in shared:
        free = [v for v in possible[name][key(name)] if v not in claimed]
        if not free:
            return None
        targets[name] = {**possible[name], key(name): free}
    return targets


def _example(bp: dict[str, Any]) -> dict[str, Any]:
    return {k: bp[k] for k in ("user_id", "instruction", "actions", "outputs") if k in bp}
