"""A run directory, read-only: everything export and stats need, loaded once.

Reading never modifies the run (unlike :class:`~apigen_mt.runner.store.JsonlLog`, which
repairs a torn tail in place): a torn last line is skipped, so exporting while a run is
still appending is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigen_mt.errors import UsageError
from apigen_mt.fileio import read_json, scan_jsonl
from apigen_mt.records import Blueprint, Trajectory
from apigen_mt.runner import phase1, phase2


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a JSONL file ([] when it does not exist).

    A corrupt complete line is an error naming the file and line; a duplicate line or
    an incomplete last line is reported on stderr and skipped.
    """
    if not path.exists():
        return []
    return [row for _, row in scan_jsonl(path, torn_ok=True)]


@dataclass
class RunData:
    """One run directory's records, tool definitions and settings."""

    path: Path
    manifest: dict[str, Any]
    config: dict[str, Any]
    blueprints: list[Blueprint]
    rejected: list[dict[str, Any]]
    trajectories: list[Trajectory]
    failed: list[Trajectory]
    ledger: list[dict[str, Any]] = field(default_factory=list)
    blueprint_errors: list[dict[str, Any]] = field(default_factory=list)
    episode_errors: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)  # OpenAI ``tools`` entries
    tool_kinds: dict[str, str] = field(default_factory=dict)  # name → read / write
    env_name: str = ""

    @classmethod
    def load(cls, path: Path, with_env: bool = True) -> RunData:
        """Read a run directory (and load its environment for the tool definitions)."""
        manifest_file = path / "manifest.json"
        if not manifest_file.exists():
            raise UsageError(f"{path} is not a run directory (no manifest.json)")
        manifest = read_json(manifest_file, "run manifest")
        if not isinstance(manifest, dict):
            raise UsageError(f"{manifest_file}: the run manifest is not a JSON object")
        config_file = path / "config.json"
        config = read_json(config_file, "run config") if config_file.exists() else {}
        run = cls(
            path=path, manifest=manifest, config=config,
            blueprints=[Blueprint.model_validate(r) for r in read_jsonl(path / phase1.ACCEPTED)],
            rejected=read_jsonl(path / phase1.REJECTED),
            trajectories=[Trajectory.model_validate(r)
                          for r in read_jsonl(path / phase2.ACCEPTED)],
            failed=[Trajectory.model_validate(r) for r in read_jsonl(path / phase2.FAILED)],
            ledger=read_jsonl(path / phase2.LEDGER),
            blueprint_errors=read_jsonl(path / phase1.ERRORS),
            episode_errors=read_jsonl(path / phase2.ERRORS),
        )
        env_spec = manifest.get("env") or {}
        run.env_name = Path(str(env_spec.get("spec", ""))).name or "unknown"
        if with_env and env_spec:
            from apigen_mt.runner.build import EnvRef

            env = EnvRef(**env_spec).load()
            run.tools = env.tool_schemas()
            run.tool_kinds = {name: tool.kind for name, tool in env.tools.items()}
        return run

    def blueprint_map(self) -> dict[str, Blueprint]:
        """Blueprint id → blueprint."""
        return {b.id: b for b in self.blueprints}

    def functions(self) -> list[dict[str, Any]]:
        """The tool definitions as bare function objects (name, description, parameters)."""
        return [t.get("function", t) for t in self.tools]

    def models(self) -> dict[str, Any]:
        """Role → model name(s), from the run's redacted config."""
        roles = self.config.get("roles") or {}
        out: dict[str, Any] = {}
        for role, spec in roles.items():
            if isinstance(spec, list):
                out[role] = [s.get("model") if isinstance(s, dict) else s for s in spec]
            elif isinstance(spec, dict):
                out[role] = spec.get("model")
            else:
                out[role] = spec
        return out

    def usage(self) -> dict[str, dict[str, Any]]:
        """Phase → usage totals (calls, tokens, cost) from the manifest."""
        return dict(self.manifest.get("usage") or {})


def system_text(traj: Trajectory) -> str:
    """The system prompt (the policy) a trajectory was played under."""
    for m in traj.messages:
        if m.get("role") == "system":
            return m.get("content") or ""
    return ""
