"""Pipeline commands: ``blueprint`` (and ``blueprint check``), ``rollout``, ``run``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from apigen_mt import bounds
from apigen_mt.errors import Interrupted, UsageError

console = Console()
blueprint_app = typer.Typer(help="Phase 1: draft and verify task blueprints.")

CONFIG_OPT = typer.Option(None, "--config", help="Run config YAML (default: offline sim).")
EXECUTOR_OPT = typer.Option("local", "--executor",
                            help="local (asyncio, this process) or ray (Ray actors).")
FORCE_CONFIG_OPT = typer.Option(False, "--force-config",
                                help="Resume a run made with another configuration (the "
                                     "change is recorded in its manifest).")
LOG_REQUESTS_OPT = typer.Option(False, "--log-requests",
                                help="Write every model request and reply (secrets removed) "
                                     "to requests.jsonl in the run directory.")
RAY_ADDRESS_OPT = typer.Option(None, "--ray-address",
                               help="Ray cluster to join (auto, ray://host:10001); "
                                    "default: start a local Ray. Implies --executor ray.")


def load_config(path: Path | None, overrides: dict[str, Any]):
    """The run config: file < environment < these flags."""
    from apigen_mt.config import RunConfig

    return RunConfig.load(path, {k: v for k, v in overrides.items() if v is not None})


ENV_CLASS_OPT = typer.Option(None, "--env-class",
                             help="A Python class as the environment: package.module:Class.")
ENV_CONFIG_OPT = typer.Option(None, "--env-config",
                              help="JSON with the class's initial state (with --env-class).")
ENV_INIT_OPT = typer.Option(None, "--env-init",
                            help="How --env-config is applied: constructor, attributes, or "
                                 "a loader method's name (default: the one that fits).")


def resolve_env(env: str | None, data_dir: Path | None, env_class: str | None,
                env_config: Path | None, env_init: str | None) -> tuple[str, Path | None]:
    """The environment spec and data location from --env or the --env-class trio."""
    if env_class is None:
        if env_config is not None or env_init is not None:
            raise UsageError("--env-config and --env-init go with --env-class")
        if env is None:
            raise UsageError("--env is required (see `apigen-mt env list`), or --env-class")
        return env, data_dir
    if env is not None or data_dir is not None:
        raise UsageError("use either --env (with --data-dir) or --env-class (with "
                         "--env-config), not both")
    if ":" not in env_class:
        raise UsageError(f"--env-class must look like package.module:ClassName, not {env_class!r}")
    spec = f"class:{env_class}" + (f"@{env_init}" if env_init else "")
    return spec, env_config


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
    from apigen_mt.errors import RunFailure
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


def open_run(out: Path | None, env_ref, config, command: str, env=None,
             force_config: bool = False):
    """Open (and lock) the run directory; refuse one that belongs to another environment
    or, on resume, another configuration (``force_config`` accepts and records it)."""
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
                force_config, command)
        run.update_manifest(env=env_ref.as_dict(), seed=config.seed,
                            commands=[*manifest.get("commands", []), command][-20:])
        run.write_json("config.json", config.redacted_dump())
    except BaseException:
        run.close()
        raise
    remember_latest(path)
    return run


RETRY_LABELS = {"rate_limit": "rate limits", "server": "server errors", "timeout": "timeouts",
                "connection": "dropped connections", "bad_response": "unusable responses"}


def retries_by_kind(models) -> dict[str, int]:
    """Transport failures the adapter retried this invocation, by kind, over all endpoints."""
    from collections import Counter

    total: Counter[str] = Counter()
    for runtime in getattr(models, "runtimes", {}).values():
        total.update(getattr(runtime, "retries", {}))
    return dict(total)


def survived_line(retries: dict[str, int]) -> str | None:
    """``survived: 12 rate limits, 9 server errors …`` (None when nothing was retried)."""
    parts = [f"{count} {RETRY_LABELS.get(kind, kind)}"
             for kind, count in sorted(retries.items(), key=lambda kv: (-kv[1], kv[0]))
             if count]
    return f"survived: {', '.join(parts)} (retried)" if parts else None


def add_usage(run, phase: str, snapshot=None, retries: dict[str, int] | None = None) -> float:
    """Compact the run's usage journal and write its totals (per phase, per role) and
    this invocation's retries into the manifest; returns the phase's total cost."""
    from apigen_mt.llm.usage_log import USAGE_FILE, compact, summary

    journal = run.path / USAGE_FILE
    compact(journal)
    folded = summary(journal)
    old = run.manifest().get("usage", {})
    usage = {}
    for name, figures in folded.items():
        if name == "total":  # phases only: readers sum them
            continue
        kept = dict(old.get(name, {}).get("retries", {}))
        if name == phase:
            for kind, count in (retries or {}).items():
                kept[kind] = kept.get(kind, 0) + count
        usage[name] = {**figures, **({"retries": kept} if kept else {})}
    run.update_manifest(usage=usage)
    return usage.get(phase, {}).get("cost", 0.0)


def attach_usage(models, run, phase: str, budget=None) -> None:
    """Journal every count of ``models``' tracker into the run as ``phase`` from now on,
    and hold it to ``budget`` counting what earlier invocations spent."""
    from apigen_mt.llm.usage_log import USAGE_FILE, UsageJournal, spent

    tracker = models.usage
    tracker.prior = spent(run.path / USAGE_FILE)
    tracker.phase = phase
    tracker.budget = budget
    tracker.journal = UsageJournal(run.path / USAGE_FILE)


MAX_COST_OPT = typer.Option(None, "--max-cost",
                            help="Stop cleanly once the run has spent this many USD "
                                 "(all invocations of the run count).")
MAX_CALLS_OPT = typer.Option(None, "--max-calls",
                             help="Stop cleanly after this many paid model calls in the run.")


class StoppedAtBudget(Exception):
    """A phase stopped at the budget; the summary line is already printed."""


def make_budget(max_cost: float | None, max_calls: int | None):
    """The Budget of --max-cost / --max-calls (None when neither is given)."""
    from apigen_mt.llm.usage import Budget

    if max_cost is not None and not (max_cost >= 0 and max_cost < float("inf")):
        raise UsageError(f"--max-cost must be a non-negative number of USD, got {max_cost}")
    if max_calls is not None and max_calls <= 0:
        raise UsageError(f"--max-calls must be a positive number, got {max_calls}")
    if max_cost is None and max_calls is None:
        return None
    return Budget(max_cost=max_cost, max_calls=max_calls)


def budget_line(why: str, saved: str) -> str:
    """The one line printed when a run stops at its budget."""
    return (f"stopped at the budget ({why}); {saved} saved; rerun the same command with a "
            "higher --max-cost / --max-calls to continue")


SAVED_FILES = {"blueprint": ("blueprints.jsonl", "blueprints", "blueprints.rejected.jsonl"),
               "rollout": ("trajectories.jsonl", "trajectories",
                           "trajectories.failed.jsonl")}


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def saved_line(run, phase: str) -> str:
    """``12 blueprints (3 rejected) are saved in R; rerun `apigen-mt …` to resume``."""
    import shlex
    import sys

    kept, label, other = SAVED_FILES[phase]
    again = "apigen-mt " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return (f"{_count_lines(run.path / kept)} {label} ({_count_lines(run.path / other)} "
            f"{'rejected' if phase == 'blueprint' else 'failed'}) and the usage so far are "
            f"saved in {run.path}; rerun `{again}` to resume")


def run_batch(batch, run, phase: str, models, progress):
    """Run one phase's batch; its usage and retries are recorded even when it fails.

    Returns (outcome, cost of the phase so far, retries by kind). The models are closed
    either way. The tracker must have been attached to the run (:func:`attach_usage`).
    """

    async def go():
        try:
            with progress:
                return await batch
        finally:
            await models.aclose()

    try:
        outcome = asyncio.run(go())
    except KeyboardInterrupt:  # Ctrl-C: keep what was spent, say what is saved and how on
        _close_journal(models)
        add_usage(run, phase, None, retries_by_kind(models))
        raise Interrupted(saved_line(run, phase)) from None
    except Exception:  # e.g. the circuit breaker: still record and say what was retried
        retries = retries_by_kind(models)
        _close_journal(models)
        add_usage(run, phase, None, retries)
        if line := survived_line(retries):
            console.print(line)
        raise
    retries = retries_by_kind(models)
    _close_journal(models)
    cache = getattr(models, "cache", None)
    if cache is not None and cache.invalid:
        console.print(f"response cache {cache.path}: {cache.invalid} invalid entr"
                      f"{'y' if cache.invalid == 1 else 'ies'} ignored and asked again")
    return outcome, add_usage(run, phase, None, retries), retries


def _close_journal(models) -> None:
    journal = getattr(models.usage, "journal", None)
    if journal is not None:
        journal.close()
        models.usage.journal = None


@blueprint_app.callback(invoke_without_command=True)
def blueprint(
    ctx: typer.Context,
    env: str | None = typer.Option(None, "--env", help="Environment name or folder."),
    n: int = typer.Option(200, "--n", help="Accepted blueprints wanted."),
    config: Path | None = CONFIG_OPT,
    out: Path | None = typer.Option(None, "--out", help="Run directory."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="τ-bench-format data."),
    seed: int | None = typer.Option(None, "--seed"),
    concurrency: int | None = typer.Option(None, "--concurrency"),
    drafter: str | None = typer.Option(None, "--drafter", help="llm or walk."),
    quiet: bool = typer.Option(False, "--quiet", help="No live progress."),
    executor: str = EXECUTOR_OPT,
    ray_address: str | None = RAY_ADDRESS_OPT,
    env_class: str | None = ENV_CLASS_OPT,
    env_config: Path | None = ENV_CONFIG_OPT,
    env_init: str | None = ENV_INIT_OPT,
    force_config: bool = FORCE_CONFIG_OPT,
    max_cost: float | None = MAX_COST_OPT,
    max_calls: int | None = MAX_CALLS_OPT,
    log_requests: bool = LOG_REQUESTS_OPT,
    max_slots: int | None = typer.Option(
        None, "--max-slots", help="Stop after this many drafting slots (e.g. 1, to try a "
                                  "model), accepted or not."),
):
    """Draft blueprints and keep those that pass every check."""
    if ctx.invoked_subcommand is not None:
        return
    env, data_dir = resolve_env(env, data_dir, env_class, env_config, env_init)
    bounds.check(n=n, concurrency=concurrency, seed=seed, max_slots=max_slots)
    budget = make_budget(max_cost, max_calls)
    executor = executor_choice(executor, ray_address)
    cfg = load_config(config, {"seed": seed, "blueprint.drafter": drafter,
                               "request_log": log_requests or None})
    try:
        run_blueprint_phase(cfg, env, data_dir, n, out, concurrency, quiet, executor,
                            ray_address, force_config, max_slots, budget)
    except StoppedAtBudget:
        return


def run_blueprint_phase(cfg, env: str, data_dir: Path | None, n: int, out: Path | None,
                        concurrency: int | None, quiet: bool, executor: str = "local",
                        ray_address: str | None = None, force_config: bool = False,
                        max_slots: int | None = None, budget=None):
    """Phase 1 end to end, with progress and the closing funnel; returns the run dir."""
    from apigen_mt.runner.build import EnvRef, blueprint_settings, build_phase1
    from apigen_mt.runner.funnel import Funnel
    from apigen_mt.runner.phase1 import ACCEPTED, REJECTED, run_phase1
    from apigen_mt.runner.progress import Progress

    # loading decides tau_compat, and fails on a bad name or data dir before touching the disk
    env_ref = EnvRef(env, str(data_dir) if data_dir else None, 0, cfg.tau_compat).resolved()
    environment = env_ref.load()
    check_models(cfg)  # … and on a missing API key or an unknown provider
    blueprint_settings(cfg)  # … and on a bad `blueprint:` block
    run = open_run(out, env_ref, cfg, f"blueprint --n {n}", environment, force_config)
    try:
        phase, models = build_phase1(cfg, env_ref, run.path)
        conc = concurrency or phase.settings.concurrency
        spec = pool = None
        if executor == "ray":
            from apigen_mt.runner.ray_executor import make_executor
            from apigen_mt.runner.remote import SlotSpec

            pool = make_executor(executor, ray_address, models, cfg)
            spec = SlotSpec.of(cfg, env_ref)
        progress = Progress("blueprints", n, models.usage.snapshot,
                            enabled=False if quiet else None)
        attach_usage(models, run, "blueprint", budget)
        outcome, cost, retries = run_batch(
            run_phase1(phase, run, n, conc, progress, executor=pool, spec=spec,
                       max_slots=max_slots,
                       budget=models.usage.budget_reached if budget else None),
            run, "blueprint", models, progress)
        if not quiet:  # read one record at a time: a long run's files stay on disk
            Funnel.from_records(run.log(ACCEPTED).rows(), run.log(REJECTED).rows()).print(
                console, cost)
        accepted = sum(1 for _ in run.log(ACCEPTED).rows())
        rejected = sum(1 for _ in run.log(REJECTED).rows())
        snap = models.usage.snapshot().total
        console.print(f"{run.path}: {outcome.accepted_total} accepted "
                      f"(+{outcome.added} this run, {outcome.rejected} rejected, "
                      f"{outcome.errored} errored, {outcome.cancelled} cancelled at the stop "
                      f"of {outcome.scheduled} slots scheduled; {snap.calls} model calls, "
                      f"{snap.cache_hits} from cache)")
        if line := survived_line(retries):
            console.print(line)
        run.update_manifest(blueprints={"accepted": accepted, "rejected": rejected})
        if outcome.budget:
            console.print(budget_line(outcome.budget, f"{accepted} blueprints"))
            raise StoppedAtBudget(outcome.budget)
        return run.path
    finally:
        run.close()


@blueprint_app.command("check")
def blueprint_check(
    env: str = typer.Option(..., "--env", help="Environment name or folder."),
    tasks: Path = typer.Option(..., "--tasks", help="Tasks file (same shapes as env replay)."),
    split: str | None = typer.Option(None, "--split"),
    data_dir: Path | None = typer.Option(None, "--data-dir"),
    review: bool = typer.Option(False, "--review", help="Also run the review committee."),
    config: Path | None = CONFIG_OPT,
):
    """Lint hand-written tasks: format, execution, policy (and committee with --review)."""
    from apigen_mt.blueprint.produce import run_checks
    from apigen_mt.env.tasks import load_tasks
    from apigen_mt.runner.build import EnvRef, build_phase1

    task_list = load_tasks(tasks, split)
    cfg = load_config(config, {})
    env_ref = EnvRef(env, str(data_dir) if data_dir else None, 0, cfg.tau_compat)
    phase, models = build_phase1(cfg, env_ref, None)
    stages: dict[str, int] = {}

    async def go():
        accepted = 0
        try:
            for i, task in enumerate(task_list):
                draft = {k: task[k] for k in ("user_id", "instruction", "actions", "outputs")
                         if k in task}
                draft.setdefault("instruction", "(no instruction)")
                verdicts, _, _ = await run_checks(phase, draft, review=review,
                                                  require_change=False)
                last = verdicts[-1]
                accepted += last.passed
                if not last.passed:
                    stages[last.stage] = stages.get(last.stage, 0) + 1
                print(json.dumps({"index": task.get("index", i), "accepted": last.passed,
                                  "stage": last.stage, "reasons": last.reasons}))
        finally:
            await models.aclose()
        return accepted

    accepted = asyncio.run(go())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(stages.items()))
    console.print(f"{accepted}/{len(task_list)} accepted" + (f"; rejected at {detail}"
                                                              if detail else ""))


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the main app."""
    app.add_typer(blueprint_app, name="blueprint")
    from apigen_mt.commands_rollout import register as register_rollout

    register_rollout(app)
