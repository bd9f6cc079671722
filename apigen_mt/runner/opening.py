"""Before a phase runs: the config, the environment, the models and the run directory.

Everything here refuses bad input before a file is touched, so a refused command leaves
the run directory as it was.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from apigen_mt.errors import RunFailure, UsageError


def load_config(path: Path | None, overrides: dict[str, Any]):
    """The run config: file < environment < these overrides (None values are skipped)."""
    from apigen_mt.config import RunConfig

    return RunConfig.load(path, {k: v for k, v in overrides.items() if v is not None})


def rollout_settings(config):
    """The ``rollout:`` block as a typed model."""
    from pydantic import ValidationError

    from apigen_mt.rollout.settings import RolloutSettings

    try:
        return RolloutSettings.model_validate(config.rollout)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"config rollout.{'.'.join(map(str, err['loc']))}: {err['msg']}") \
            from None


def resolve_env(env: str | None, data_dir: Path | None, env_class: str | None,
                env_config: Path | None, env_init: str | None,
                run: Path | None = None) -> tuple[str, Path | None]:
    """The environment spec and data location from --env or the --env-class trio; with
    neither, the environment of an existing run directory ``run``."""
    if env_class is None:
        if env_config is not None or env_init is not None:
            raise UsageError("--env-config and --env-init go with --env-class")
        if env is None:
            recorded = _recorded_env(run)
            if recorded is None:
                raise UsageError("--env is required (see `apigen-mt env list`), or "
                                 "--env-class, or --run with an existing run")
            return recorded
        return env, data_dir
    if env is not None or data_dir is not None:
        raise UsageError("use either --env (with --data-dir) or --env-class (with "
                         "--env-config), not both")
    if ":" not in env_class:
        raise UsageError(f"--env-class must look like package.module:ClassName, not {env_class!r}")
    spec = f"class:{env_class}" + (f"@{env_init}" if env_init else "")
    return spec, env_config


def _recorded_env(run: Path | None) -> tuple[str, Path | None] | None:
    if run is None or not (run / "manifest.json").is_file():
        return None
    from apigen_mt.fileio import read_json

    env = (read_json(run / "manifest.json", "manifest") or {}).get("env") or {}
    if not env.get("spec"):
        return None
    return env["spec"], Path(env["data_dir"]) if env.get("data_dir") else None


def executor_choice(executor: str, ray_address: str | None) -> str:
    """Validate --executor / --ray-address early (before any file is touched)."""
    if executor not in ("local", "ray"):
        raise UsageError(f"--executor must be local or ray, got {executor!r}")
    if ray_address:
        executor = "ray"
    if executor == "ray":
        from apigen_mt.runner.ray_executor import require_ray

        require_ray()
    return executor


def check_models(config) -> None:
    """Build every role's backend once (no request is made): a missing API key variable or
    an unknown provider fails here, before a run directory is created or its manifest and
    config.json are rewritten."""
    from apigen_mt.llm.registry import build_model

    runtimes: dict[str, Any] = {}
    for _, spec in config.roles.items():
        build_model(spec.model, config, runtimes)
    probe_endpoints(config)


def probe_endpoints(config) -> None:
    """Look at each endpoint the roles use once (GET /models, no retries) before a run
    starts: an unreachable one fails the command in seconds, with `check`'s words,
    instead of after every request's retries."""
    providers = sorted({spec.provider for _, spec in config.roles.items()} - {"sim"})
    if not providers:
        return
    from apigen_mt.llm.openai_adapter import probe_reachable

    async def look():
        return await asyncio.gather(*(probe_reachable(p, config.endpoints[p])
                                      for p in providers if p in config.endpoints))

    failures = [r for r in asyncio.run(look()) if r is not None]
    if failures:
        lines = "; ".join(r.message for r in failures)
        raise RunFailure(f"{lines} — nothing was run (see `apigen-mt check`)")


# what only a run directory holds (``.lock``: a run is being opened there right now)
RUN_RECORDS = ("blueprints.jsonl", "blueprints.rejected.jsonl", "trajectories.jsonl",
               "trajectories.failed.jsonl", ".lock")


def check_run_folder(path: Path, env_name: str) -> None:
    """Refuse a folder the run does not own, before anything is written into it.

    A new run goes into a missing or empty folder; an existing one has a manifest. A
    folder with run files but no manifest (it was deleted) is accepted only when its
    records are of the same environment, so two domains never mix in one run.
    """
    if not path.exists():
        return
    if not path.is_dir():
        raise UsageError(f"--out {path} is a file, not a folder")
    if (path / "manifest.json").exists():
        return
    entries = [e.name for e in path.iterdir()]
    if not entries:
        return
    if not any(name in RUN_RECORDS for name in entries):
        raise UsageError(f"--out {path} is not empty and is not a run directory; choose an "
                         "empty or new folder")
    from apigen_mt.fileio import scan_jsonl

    for name in ("blueprints.jsonl", "trajectories.jsonl", "trajectories.failed.jsonl"):
        file = path / name
        if not file.exists():
            continue
        for lineno, row in scan_jsonl(file, torn_ok=True):
            other = row.get("env") if isinstance(row, dict) else None
            if other is not None and other != env_name:
                raise UsageError(f"{file}:{lineno}: this run (its manifest.json is missing) "
                                 f"holds env {other!r}, not {env_name!r}; use another --out")
            break


def record_command(run, command: str | None) -> None:
    """Append the command as typed to the manifest's ``commands`` (the last 20)."""
    if command:
        commands = run.manifest().get("commands", [])
        run.update_manifest(commands=[*commands, command][-20:])


def open_run(out: Path | None, env_ref, config, command: str | None, env=None,
             force_config: bool = False):
    """Open (and lock) the run directory; refuse one that belongs to another environment
    or, on resume, another configuration (``force_config`` accepts and records it).
    ``command`` (as typed) is recorded in the manifest; None records nothing."""
    from apigen_mt.runner.fingerprint import enforce, phase_values
    from apigen_mt.runner.store import RunDir, default_run_dir, remember_latest

    env = env if env is not None else env_ref.load()
    path = out or default_run_dir(env_ref.spec, config.seed)
    check_run_folder(path, env.name)
    run = RunDir(path).open()
    try:
        manifest = run.manifest()
        recorded = dict(manifest.get("env") or {})
        wanted = env_ref.as_dict()
        if "tau_compat" not in recorded:  # a run made before the option existed: adopt it
            recorded["tau_compat"] = wanted["tau_compat"]
        if manifest and (recorded != wanted or manifest.get("seed") != config.seed):
            if {**recorded, "tau_compat": None} == {**wanted, "tau_compat": None} and \
                    manifest.get("seed") == config.seed:
                raise UsageError(f"{path} was made with tau_compat: "
                                 f"{str(recorded['tau_compat']).lower()}; its blueprints need "
                                 "the same tools, so use another --out or the same setting")
            raise UsageError(f"{path} holds a run of env "
                             f"{manifest.get('env', {}).get('spec')} with seed "
                             f"{manifest.get('seed')}; use another --out")
        enforce(run, "blueprint", phase_values("blueprint", config, env_ref, env, config.seed),
                force_config, command or "")
        run.update_manifest(env=env_ref.as_dict(), seed=config.seed)
        record_command(run, command)
        run.write_json("config.json", config.redacted_dump())
    except BaseException:
        run.close()
        raise
    remember_latest(path)
    return run


def open_blueprint_run(cfg, env: str, data_dir: Path | None, out: Path | None,
                       command: str | None, record: bool, force_config: bool):
    """The environment reference and the opened run directory for phase 1, after every
    check that can fail before anything touches the disk (a bad name or data dir, a
    missing API key or an unknown provider, a bad `blueprint:` block)."""
    from apigen_mt.runner.build import EnvRef, blueprint_settings

    # loading decides tau_compat
    env_ref = EnvRef(env, str(data_dir) if data_dir else None, 0, cfg.tau_compat).resolved()
    environment = env_ref.load()
    check_models(cfg)
    blueprint_settings(cfg)
    run = open_run(out, env_ref, cfg, command if record else None, environment, force_config)
    return env_ref, run


def played_blueprints(run, limit: int | None):
    """The run's first ``limit`` accepted blueprints (all: None), held by their place in
    the file (:mod:`apigen_mt.runner.shelf`): phase 2 holds every blueprint of its round
    for the whole phase, and reads one whole only to play it."""
    from apigen_mt.runner.phase1 import ACCEPTED
    from apigen_mt.runner.shelf import shelve

    return shelve(run.log(ACCEPTED), limit)


def ceiling_note(blueprints: int, trials: int, n: int, run_path: Path) -> str | None:
    """What to say before phase 2 when its blueprints cannot give ``n`` trajectories."""
    ceiling = blueprints * trials
    if n <= ceiling:
        return None
    return (f"note: {blueprints} blueprints × {trials} trials can give at most {ceiling} "
            f"trajectories, short of {n}; `apigen-mt run --run {run_path} --n {n}` drafts "
            "more blueprints as needed")

