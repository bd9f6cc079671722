"""Task files (τ-bench's or a blueprints file) and replaying their ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apigen_mt.env.environment import Environment, HashMethod
from apigen_mt.errors import UsageError
from apigen_mt.fileio import parse_json, read_text


class TaskFileError(UsageError):
    """A tasks file that cannot be read; the message names the file and the place."""


def normalise_task(task: Any, where: str) -> dict[str, Any]:
    """A task with its actions as ``{name, arguments}`` (τ-bench's ``kwargs`` renamed);
    :class:`TaskFileError` naming ``where`` when it is not one."""
    if not isinstance(task, dict):
        raise TaskFileError(f"{where}: a task must be a JSON object")
    actions = task.get("actions")
    if not isinstance(actions, list):
        raise TaskFileError(f"{where}: a task needs an 'actions' list")
    norm = []
    for j, action in enumerate(actions):
        if not isinstance(action, dict) or not isinstance(action.get("name"), str):
            raise TaskFileError(f"{where}: action {j} needs a 'name'")
        args = action.get("arguments", action.get("kwargs", {}))
        if not isinstance(args, dict):
            raise TaskFileError(f"{where}: action {j} arguments must be an object")
        norm.append({"name": action["name"], "arguments": args})
    return {**task, "actions": norm}


def load_tasks(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Read a JSON list of tasks, a ``{"splits": {...}}`` object, or a JSONL file."""
    path = Path(path)
    if not path.exists():
        raise TaskFileError(f"tasks file not found: {path}")
    text = read_text(path, "tasks file", TaskFileError)
    if path.suffix == ".jsonl":
        tasks = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                tasks.append(normalise_task(json.loads(line), f"{path}:{lineno}"))
            except json.JSONDecodeError as exc:
                raise TaskFileError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise TaskFileError(f"{path}:{lineno}: nested too deeply to read") from None
        return tasks
    data = parse_json(text, path, "tasks file", TaskFileError)
    if isinstance(data, dict) and "splits" in data:
        splits = data["splits"]
        if split is None:
            raise TaskFileError(f"{path} holds splits; choose one with --split "
                                f"({', '.join(splits)})")
        if split not in splits:
            raise TaskFileError(f"{path} has no split '{split}' ({', '.join(splits)})")
        data = splits[split]
    if not isinstance(data, list):
        raise TaskFileError(f"{path}: expected a JSON list of tasks")
    return [normalise_task(t, f"{path}: task {i}") for i, t in enumerate(data)]


def replay_task(env: Environment, task: dict[str, Any],
                method: HashMethod = "canonical") -> dict[str, Any]:
    """Run a task's actions on a fresh copy; report the hash and every failing call."""
    fresh = env.fresh()
    errors = []
    index = 0
    for action in task["actions"]:
        tool = fresh.tools.get(action["name"])
        if tool is not None and tool.ends_conversation:
            index += 1
            continue
        obs = fresh.execute(action["name"], action["arguments"])
        if obs.startswith("Error:"):
            errors.append({"action_index": index, "observation": obs})
        index += 1
    return {"hash": fresh.hash(method), "errors": errors, "env": fresh}
