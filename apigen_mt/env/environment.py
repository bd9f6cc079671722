"""An environment: a domain's tools bound to one copy of its database."""

from __future__ import annotations

import copy
import json
from typing import Any, Literal

from apigen_mt.env.declarations import Domain, Executed
from apigen_mt.env.diff import Change, diff_values
from apigen_mt.env.state import BaseState, State
from apigen_mt.env.tools import ArgumentError, Tool, ToolError

__all__ = ["Environment", "Executed", "HashMethod", "is_error", "render_observation"]

HashMethod = Literal["canonical", "tau"]


def is_error(observation: str) -> bool:
    """τ-bench's convention: a failed call's observation starts with ``Error:``."""
    return observation.startswith("Error:")


def render_observation(result: Any) -> str:
    """Tool results become observation strings; non-strings as JSON like τ-bench's."""
    if isinstance(result, str):
        return result
    return json.dumps(result)


class Environment:
    """Tools plus one state copy. ``execute`` never raises and never half-applies a call."""

    def __init__(self, domain: Domain, base: BaseState, policy: str, state: State | None = None):
        self.domain = domain
        self.base = base
        self.policy = policy
        self.state = state if state is not None else State(base)
        self.tools: dict[str, Tool] = {t.name: t for t in domain.tools}
        #: the names of the tools that change state (the consent rule and reviewers ask)
        self.write_tools: frozenset[str] = frozenset(
            t.name for t in domain.tools if t.kind == "write")
        self.trace: list[Executed] = []

    @property
    def name(self) -> str:
        """The domain name."""
        return self.domain.name

    def fresh(self) -> Environment:
        """A new copy at the initial state (cheap: shares the loaded base)."""
        return Environment(self.domain, self.base, self.policy)

    def fork(self) -> Environment:
        """A new copy at this copy's current state; the trace is not carried over."""
        return Environment(self.domain, self.base, self.policy, self.state.fork())

    def tool_schemas(self) -> list[dict[str, Any]]:
        """OpenAI ``tools`` definitions, in declaration order."""
        return [t.schema for t in self.domain.tools]

    def execute(self, name: str, arguments: Any) -> str:
        """Run one tool call and return its observation; failures are ``Error: …``."""
        tool = self.tools.get(name)
        if tool is None:
            obs = f"Error: unknown tool '{name}'"
            self.trace.append(Executed(name, _as_dict(arguments), obs, False, "unknown"))
            return obs
        self.state.begin()
        try:
            tool.validate(arguments, self.domain.nested_extra_keys)
            # The tool may store argument objects in the state; give it its own copy.
            obs = render_observation(tool.func(self.state, **copy.deepcopy(arguments)))
        except ArgumentError as exc:
            obs = f"Error: {exc}"
        except ToolError as exc:
            obs = f"Error: {exc}"
        except Exception as exc:  # a tool bug must not escape into the pipeline
            obs = f"Error: {exc}"
        ok = not is_error(obs)
        if ok:
            self.state.commit()
        else:
            self.state.rollback()
        self.trace.append(Executed(name, _as_dict(arguments), obs, ok, tool.kind))
        return obs

    def replay(self, actions: list[dict[str, Any]], skip_ending: bool = True) -> list[Executed]:
        """Execute ``[{name, arguments}]`` in order; returns what ran (ending tools skipped)."""
        ran = []
        for action in actions:
            name = action["name"]
            tool = self.tools.get(name)
            if skip_ending and tool is not None and tool.ends_conversation:
                continue
            self.execute(name, action.get("arguments", action.get("kwargs", {})))
            ran.append(self.trace[-1])
        return ran

    def hash(self, method: HashMethod = "canonical") -> str:
        """State hash: the project's fast canonical one, or τ-bench's."""
        return self.state.tau_hash() if method == "tau" else self.state.canonical_hash()

    def diff(self, other: Environment | None = None) -> list[Change]:
        """Changes from ``other``'s state (default: the initial state) to this one."""
        mine = self.state.changes()
        theirs = other.state.changes() if other is not None else {}
        out: list[Change] = []
        for table in sorted(set(mine) | set(theirs)):
            keys = list(dict.fromkeys([*theirs.get(table, {}), *mine.get(table, {})]))
            for key in keys:
                old = _lookup(other.state if other else None, self.base, table, key)
                new = _lookup(self.state, self.base, table, key)
                if old is _ABSENT and new is _ABSENT:
                    continue
                if old is _ABSENT:
                    out.append(Change(path=[table, key], new=new, old_present=False))
                elif new is _ABSENT:
                    out.append(Change(path=[table, key], old=old, new_present=False))
                else:
                    diff_values(old, new, [table, key], out)
        return out


_ABSENT = object()


def _lookup(state: State | None, base: BaseState, table: str, key: str) -> Any:
    if state is None:
        return base.tables[table].get(key, _ABSENT)
    try:
        return state[table][key]
    except KeyError:
        return _ABSENT


def _as_dict(arguments: Any) -> dict[str, Any]:
    return arguments if isinstance(arguments, dict) else {"_raw": arguments}
