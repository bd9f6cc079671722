"""A run directory, read-only: everything export and stats need, streamed from disk.

Reading never modifies the run (unlike :class:`~apigen_mt.runner.store.JsonlLog`, which
repairs a torn tail in place): a torn last line is skipped, so exporting while a run is
still appending is safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from apigen_mt.errors import UsageError
from apigen_mt.fileio import read_json, scan_jsonl
from apigen_mt.records import Blueprint, Trajectory
from apigen_mt.runner import phase1, phase2


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a JSONL file ([] when it does not exist): see
    :func:`iter_jsonl`."""
    return list(iter_jsonl(path))


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The complete records of a JSONL file, one at a time (none if it does not exist).

    A corrupt complete line is an error naming the file and line; a duplicate line or
    an incomplete last line is reported on stderr and skipped."""
    if not path.exists():
        return
    for _, row in scan_jsonl(path, torn_ok=True):
        yield row


class Records:
    """One run file's records, streamed from disk each time they are iterated.

    Memory stays flat in the number of records: nothing is kept but the count (``len``
    reads the file once). Iterating yields ``model`` instances (dicts when None);
    ``rows()`` the raw dicts.
    """

    def __init__(self, path: Path, model: type[BaseModel] | None = None):
        self.path = path
        self.model = model
        self._count: int | None = None

    def rows(self) -> Iterator[dict[str, Any]]:
        """The raw records."""
        return iter_jsonl(self.path)

    def __iter__(self) -> Iterator[Any]:
        if self.model is None:
            yield from self.rows()
            return
        for row in self.rows():
            yield self.model.model_validate(row)

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self.rows())
        return self._count

    def __bool__(self) -> bool:
        return next(iter(self.rows()), None) is not None


def slim_blueprint(row: dict[str, Any], task: bool = True) -> Blueprint:
    """A blueprint without its state diff and the verdicts, reviews and context of its
    provenance (most of its size); ``recombined_from`` is kept, and the task fields
    (instruction, actions, outputs) when ``task``."""
    prov = row.get("provenance")
    slim: dict[str, Any] = {k: row[k] for k in ("id", "env", "user_id") if k in row}
    slim.update({k: row[k] for k in ("instruction", "actions", "outputs") if k in row}
                if task else {"instruction": "", "actions": []})
    if isinstance(prov, dict):
        slim["provenance"] = {k: prov[k] for k in
                              ("slot", "seed", "drafter", "rounds", "recombined_from")
                              if k in prov}
    return Blueprint.model_validate(slim)


@dataclass
class RunData:
    """One run directory: its settings and tool definitions, and its record files
    (streamed: a run of any size is read in flat memory)."""

    path: Path
    manifest: dict[str, Any]
    config: dict[str, Any]
    blueprints: Records
    rejected: Records
    trajectories: Records
    failed: Records
    ledger: Records
    blueprint_errors: list[dict[str, Any]] = field(default_factory=list)
    episode_errors: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)  # OpenAI ``tools`` entries
    tool_kinds: dict[str, str] = field(default_factory=dict)  # name → read / write
    env_name: str = ""

    @classmethod
    def load(cls, path: Path, with_env: bool = True) -> RunData:
        """Open a run directory (and load its environment for the tool definitions)."""
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
            blueprints=Records(path / phase1.ACCEPTED, Blueprint),
            rejected=Records(path / phase1.REJECTED),
            trajectories=Records(path / phase2.ACCEPTED, Trajectory),
            failed=Records(path / phase2.FAILED, Trajectory),
            ledger=Records(path / phase2.LEDGER),
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

    def blueprint_map(self, task: bool = True) -> dict[str, Blueprint]:
        """Blueprint id → blueprint (slim: see :func:`slim_blueprint`)."""
        return {row["id"]: slim_blueprint(row, task) for row in self.blueprints.rows()}

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
        """Phase → usage totals (calls, tokens, cost, ``roles``: per role).

        From the run's usage journal, written as the run goes (so a killed run's spend is
        there too), else from the manifest (runs made before the journal existed)."""
        from apigen_mt.llm.usage_log import USAGE_FILE, summary

        manifest = dict(self.manifest.get("usage") or {})
        if not (self.path / USAGE_FILE).exists():
            return manifest
        out = {phase: u for phase, u in summary(self.path / USAGE_FILE).items()
               if phase != "total"}
        for phase, u in out.items():
            if manifest.get(phase, {}).get("retries"):
                u["retries"] = manifest[phase]["retries"]
        return out


def system_text(traj: Trajectory) -> str:
    """The system prompt (the policy) a trajectory was played under."""
    for m in traj.messages:
        if m.get("role") == "system":
            return m.get("content") or ""
    return ""
