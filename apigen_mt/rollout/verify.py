"""Judge conversations made elsewhere against their tasks, with the phase-2 judge.

Three inputs are read (the format is told from the content):

- OpenAI chat JSONL, one conversation a line: ``{"messages": [...], "blueprint_id": …}``
  or ``{"messages": [...], "task_index": i}`` referring into the tasks file;
- τ-bench results JSON: a list of ``{"task_id", "reward", "info": {"task": …}, "traj"}``,
  the task taken from ``info.task`` when present;
- the project's own trajectories files (``trajectories*.jsonl``, ``episodes.jsonl``).

Each output line's ``index`` is the conversation's place in the input (0-based; lines
that hold no conversation keep their place), ``task`` what it named (blueprint id, task
index or τ-bench ``task_id``). Every tool call is replayed on a fresh copy of the
environment; the observations the conversation recorded are not trusted. A problem in
the input (a line that is not JSON, an unknown task, a call to a tool that does not
exist) is one :class:`Problem`, and the other conversations are still judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigen_mt.env.conversation import called_tools, parsed_arguments
from apigen_mt.env.environment import Environment
from apigen_mt.env.tasks import TaskFileError, normalise_task
from apigen_mt.env.tools import ArgumentError
from apigen_mt.records import Blueprint
from apigen_mt.rollout.judge import judge, target_for
from apigen_mt.rollout.settings import RolloutSettings


@dataclass
class Problem:
    """One defect of the input, named by file and place."""

    where: str
    message: str

    def render(self) -> str:
        """``FILE:LINE: message``."""
        return f"{self.where}: {self.message}"


@dataclass
class Conversation:
    """One conversation of the input and the task it claims to play."""

    index: int
    where: str
    messages: list[dict[str, Any]]
    task_ref: Any
    task: dict[str, Any] | None = None
    recorded_reward: float | None = None


@dataclass
class Outcome:
    """The judgement of one conversation, as written to the output."""

    index: int
    task: Any
    passed: bool
    reasons: list[str]
    recorded_reward: float | None = None

    def row(self) -> dict[str, Any]:
        """The output line."""
        out = {"index": self.index, "task": self.task, "passed": self.passed,
               "reasons": self.reasons}
        if self.recorded_reward is not None:
            out["recorded_reward"] = self.recorded_reward
        return out


@dataclass
class Summary:
    """Counts over a whole input."""

    judged: int = 0
    passed: int = 0
    with_reward: int = 0
    agree: int = 0
    problems: list[Problem] = field(default_factory=list)

    def line(self) -> str:
        """``K of N passed; agreement with recorded reward A/B; P problems``."""
        parts = [f"{self.passed} of {self.judged} passed"]
        if self.with_reward:
            parts.append(f"agreement with recorded reward {self.agree}/{self.with_reward}")
        if self.problems:
            parts.append(f"{len(self.problems)} problem(s) in the input")
        return "; ".join(parts)


class TaskIndex:
    """The tasks a conversation may refer to: by blueprint id or by task index."""

    def __init__(self, rows: list[dict[str, Any]], env_name: str):
        self.env_name = env_name
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_index: dict[Any, dict[str, Any]] = {}
        for position, row in enumerate(rows):
            self.by_id[Blueprint.from_task(row, env_name).id] = row
            self.by_index[row.get("index", position)] = row

    def find(self, ref: Any, kind: str) -> dict[str, Any] | None:
        """The task a ``blueprint_id`` or ``task_index`` names, or None."""
        if kind == "blueprint_id":
            return self.by_id.get(ref) if isinstance(ref, str) else None
        if isinstance(ref, bool) or not isinstance(ref, int):
            return None
        return self.by_index.get(ref)


def _shape_problem(messages: list[Any]) -> str | None:
    """Why a message list cannot be read as OpenAI chat messages, or None."""
    for m, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return f"message {m} is not an object with a 'role'"
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance(c.get("function"), dict) for c in calls):
            return f"message {m} has tool_calls that are not {{'function': {{…}}}} objects"
    return None


def _from_tau_results(data: list[Any], path: Path, tasks: TaskIndex
                      ) -> Iterator[Conversation | Problem]:
    for i, item in enumerate(data):
        where = f"{path}: result {i}"
        if not isinstance(item, dict) or not isinstance(item.get("traj"), list):
            yield Problem(where, "a τ-bench result needs a 'traj' list of messages")
            continue
        shape = _shape_problem(item["traj"])
        if shape:
            yield Problem(where, shape)
            continue
        ref = item.get("task_id")
        task = (item.get("info") or {}).get("task") if isinstance(item.get("info"), dict) \
            else None
        if isinstance(task, dict):
            try:
                task = normalise_task(task, where)
            except TaskFileError as exc:
                yield Problem(where, f"info.task: {exc}".replace(f"{where}: ", ""))
                continue
        else:
            task = tasks.find(ref, "task_index")
            if task is None:
                yield Problem(where, f"task_id {ref!r} is not a task of the tasks file")
                continue
        reward = item.get("reward")
        yield Conversation(i, where, item["traj"], ref, task,
                           float(reward) if isinstance(reward, (int, float)) else None)


def _from_line(row: Any, i: int, where: str, tasks: TaskIndex) -> Conversation | Problem:
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
        return Problem(where, "expected an object with a 'messages' list")
    shape = _shape_problem(row["messages"])
    if shape:
        return Problem(where, shape)
    recorded = None
    verdict = row.get("verdict")
    if isinstance(verdict, dict) and "passed" in verdict:  # the project's trajectories
        recorded = 1.0 if verdict["passed"] else 0.0
    elif isinstance(row.get("reward"), (int, float)):
        recorded = float(row["reward"])
    for kind in ("blueprint_id", "task_index"):
        if kind in row:
            ref = row[kind]
            task = tasks.find(ref, kind)
            if task is None:
                return Problem(where, f"{kind} {ref!r} is not a task of the tasks file")
            return Conversation(i, where, row["messages"], ref, task, recorded)
    return Problem(where, "names no task: give 'blueprint_id' or 'task_index'")


def read_conversations(path: Path, tasks: TaskIndex) -> Iterator[Conversation | Problem]:
    """Every conversation of the file, or the problem that stands in its place."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Problem(f"{path}:{exc.lineno}", f"not valid JSON ({exc.msg})")
            return
        yield from _from_tau_results(data, path, tasks)
        return
    index = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Problem(where, f"not valid JSON ({exc.msg})")
            index += 1
            continue
        yield _from_line(row, index, where, tasks)
        index += 1


@dataclass
class Replay:
    """A conversation's tool calls run again on a fresh copy."""

    env: Environment
    invalid: int = 0
    problems: list[str] = field(default_factory=list)


def replay_calls(env: Environment, messages: list[dict[str, Any]]) -> Replay:
    """Execute every tool call of the assistant messages, in order, on a fresh copy."""
    world = env.fresh()
    out = Replay(world)
    for m, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        for name, raw in called_tools(message):
            tool = world.tools.get(name)
            if tool is None:
                out.invalid += 1
                out.problems.append(f"message {m} calls a tool that does not exist: {name!r}")
                world.execute(name, parsed_arguments(raw))  # recorded as a failed call
                continue
            arguments: Any = raw
            if isinstance(raw, str):
                try:
                    arguments = json.loads(raw) if raw.strip() else {}
                except json.JSONDecodeError:
                    out.invalid += 1  # never ran live either: nothing to replay
                    continue
            try:
                tool.validate(arguments, world.domain.nested_extra_keys)
            except ArgumentError:
                out.invalid += 1  # it fails again below, as it did (or should have) live
            world.execute(name, arguments)
    return out


def verify_one(conv: Conversation, env: Environment, settings: RolloutSettings,
               env_name: str) -> tuple[Outcome, list[str]]:
    """Judge one conversation; returns its outcome and the input problems it showed."""
    bp = Blueprint.from_task(conv.task or {"actions": []}, env_name)
    target = target_for(env, bp)
    replay = replay_calls(env, conv.messages)
    verdict = judge(bp, target, replay.env, conv.messages, settings.judge_rules())
    reasons = list(verdict.reasons)
    if replay.invalid and settings.reject_invalid_tool_calls:
        reasons.append(f"the agent made {replay.invalid} invalid tool call(s)")
    return (Outcome(conv.index, conv.task_ref, not reasons, reasons, conv.recorded_reward),
            replay.problems)


def verify_file(path: Path, tasks: TaskIndex, env: Environment,
                settings: RolloutSettings) -> Iterator[Outcome | Problem]:
    """Judge every conversation of ``path``; problems come in the order they are met."""
    for item in read_conversations(path, tasks):
        if isinstance(item, Problem):
            yield item
            continue
        try:
            outcome, problems = verify_one(item, env, settings, tasks.env_name)
        except Exception as exc:  # a conversation we cannot judge must not stop the rest
            yield Problem(item.where, f"could not be judged: {type(exc).__name__}: {exc}")
            continue
        for message in problems:
            yield Problem(item.where, message)
        yield outcome


def tally(summary: Summary, item: Outcome | Problem) -> None:
    """Count one item into the summary."""
    if isinstance(item, Problem):
        summary.problems.append(item)
        return
    summary.judged += 1
    summary.passed += item.passed
    if item.recorded_reward is not None:
        summary.with_reward += 1
        summary.agree += item.passed == (item.recorded_reward >= 1.0)
