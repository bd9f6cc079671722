"""What a domain declares: its tools, tables, rules and drafting hints (no loading here).

:class:`Domain` is the engine's whole knowledge of one domain; :class:`PolicyRule` a rule
as code over the :class:`Executed` calls of a task. Loading domains by name, folder or
``class:`` spec lives in :mod:`apigen_mt.env.domain`, which builds on this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigen_mt.env.state import State
from apigen_mt.env.tools import Tool
from apigen_mt.errors import UsageError


@dataclass
class Executed:
    """One executed call, as policy rules and judges see it."""

    name: str
    arguments: dict[str, Any]
    observation: str
    ok: bool
    kind: str  # "read", "write" or "unknown"


class EnvironmentNotFound(UsageError, LookupError):
    """No environment of that name or path (a usage error: exit code 2)."""


@dataclass
class RuleInput:
    """What a policy rule sees: the executed calls and the state before each one."""

    actions: list[Executed]
    before: list[State]
    messages: list[dict[str, Any]] | None = None  # the conversation, when there is one
    # the customer the task is for, when the calls come from a task (a blueprint's user):
    # rules that tie every change to one customer then check it is this one
    user_id: str | None = None


@dataclass
class PolicyRule:
    """A domain rule as code. ``check`` returns one reason per violation (empty: holds)."""

    name: str
    description: str
    check: Callable[[RuleInput], list[str]]
    conversation_only: bool = False
    tools: frozenset[str] = frozenset()
    # what the rollout judge knows the rule for: "identification" (the user is identified
    # before any write) or "confirmation" (the user agreed to each write); "" otherwise
    purpose: str = ""


Precondition = Callable[[State, str], "dict[str, list[Any]] | None"]


@dataclass
class DraftingHints:
    """What a domain tells drafters, declared next to its tools.

    - ``preconditions``: tool name → a function of (state, user id) that says whether the
      tool can succeed for that user: ``None`` when it cannot (no pending order to
      cancel), else the argument values it applies to (``{"order_id": ["#W1"]}``), or
      ``{}`` when anything goes. Tools without an entry are always possible.
    - ``excerpts``: (state, user id, the walk's tools → their targets, rng) → extra
      context keys such as ``catalogue`` (products the user's items can change to) or
      ``flights`` (search results for the trips in play).
    - ``policy_for``: (policy text, tools in the walk) → the sections that bear on them.
    - ``now``: the domain's current time, for time-dependent policies.
    - ``exclusive``: writes that use up the record they act on (a cancelled order cannot
      be changed again), so no other write of a task may target it; other writes may
      share a record. ``None``: every write with a precondition is exclusive.
    """

    preconditions: dict[str, Precondition] = field(default_factory=dict)
    exclusive: frozenset[str] | None = None
    excerpts: Callable[[State, str, dict[str, dict[str, list[Any]]], Any],
                       dict[str, Any]] | None = None
    policy_for: Callable[[str, set[str]], str] | None = None
    now: str | None = None


@dataclass
class Domain:
    """Everything the engine needs to know about one domain."""

    name: str
    tools: list[Tool]
    tables: list[str]
    generate: Callable[..., dict[str, dict[str, Any]]]
    root: Path
    rules: list[PolicyRule] = field(default_factory=list)
    description: str = ""
    user_table: str = "users"
    # user id -> the records about them (their record, orders, reservations …)
    user_view: Callable[[State, str], dict[str, Any]] | None = None
    graph_add: list[tuple[str, str]] = field(default_factory=list)
    graph_remove: list[tuple[str, str]] = field(default_factory=list)
    generator_options: dict[str, int] = field(default_factory=dict)
    quirks: list[str] = field(default_factory=list)
    # What drafters are shown beyond the user's records (see :class:`DraftingHints`).
    hints: DraftingHints | None = None
    # τ-bench hashes (sha256 of ``str(to_hashable(data))``) of reference databases whose
    # tasks this domain must replay exactly: such data loaded from a data directory turns
    # the ``tau_compat`` option on (see :func:`load_environment`).
    tau_fingerprints: frozenset[str] = frozenset()
    # τ-bench's domains run a call whose nested objects carry keys the schema does not
    # name (the tool reads what it knows); elsewhere such a call is an argument error
    nested_extra_keys: bool = False

    @property
    def policy_path(self) -> Path:
        """The domain's own policy text."""
        return self.root / "policy.md"

    def tool(self, name: str) -> Tool:
        """A tool by name (KeyError if unknown)."""
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(name)

    def examples(self) -> list[dict[str, Any]]:
        """Shipped example blueprints, if any."""
        path = self.root / "examples.json"
        return json.loads(path.read_text()) if path.exists() else []
