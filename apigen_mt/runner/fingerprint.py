"""A run's configuration fingerprint: everything that changes what a phase produces.

A run directory is owned by one configuration. Each phase records, the first time it
runs, the values that decide its records — the environment and a hash of its data and
policy, the seeds, the models of its roles and the endpoints serving them, the sim's
flaws, the phase's settings — and a resume with different values is refused with a
one-line diff of what changed (``--force-config`` accepts the change and records it).

Left out on purpose: what only changes speed or spend (concurrency, timeouts, retries,
rate limits, prices, the cache), the number of trials (raising it extends a run with
more of the same episodes) and secrets (API key variables; header values are hashed).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

import orjson

from apigen_mt.errors import UsageError
from apigen_mt.redact import redact_url

PHASE_ROLES = {"blueprint": ("drafter", "reviewers", "feedback"),
               "rollout": ("human", "critic", "agent")}
_SPEED_ONLY = {"concurrency", "trials"}


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    elif isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flatten(f"{prefix}.{i}", item, out)
    else:
        out[prefix] = value


def _short_hash(data: Any) -> str:
    blob = data if isinstance(data, bytes) else orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


def phase_values(phase: str, config: Any, env_ref: Any, env: Any, seed: int,
                 settings: Any = None) -> dict[str, Any]:
    """The flat ``dotted.key → value`` map a phase's records depend on.

    ``settings`` is the phase's effective settings (after command-line flags); default:
    the config's block for that phase.
    """
    values: dict[str, Any] = {}
    _flatten("env", env_ref.as_dict(), values)
    values["env.data"] = env.state.canonical_hash()[:16]
    values["env.policy"] = _short_hash(env.policy.encode("utf-8"))
    values["seed"] = seed
    sim = config.sim.model_dump(mode="json")
    sim.pop("latency_ms", None)
    _flatten("sim", sim, values)
    roles = config.roles.model_dump(mode="json")
    providers: set[str] = set()
    for role in PHASE_ROLES[phase]:
        _flatten(f"roles.{role}", roles[role], values)
        specs = roles[role] if isinstance(roles[role], list) else [roles[role]]
        providers |= {s["model"].split(":", 1)[0] for s in specs}
    for name in sorted(providers & set(config.endpoints)):
        ep = config.endpoints[name]
        values[f"endpoints.{name}.base_url"] = redact_url(ep.base_url)
        values[f"endpoints.{name}.max_tokens_param"] = ep.max_tokens_param
        if ep.extra_headers:  # names in clear, values only as a hash: they may be secrets
            values[f"endpoints.{name}.extra_headers"] = _short_hash(ep.extra_headers)
    block = settings if settings is not None else getattr(config, phase)
    block = block.model_dump(mode="json") if hasattr(block, "model_dump") else dict(block)
    for key in _SPEED_ONLY:
        block.pop(key, None)
    _flatten(phase, block, values)
    return values


def digest(values: dict[str, Any]) -> str:
    """One hash of a phase's values."""
    return _short_hash(values)


def describe_diff(old: dict[str, Any], new: dict[str, Any], limit: int = 4) -> str:
    """``roles.agent.model 'a' → 'b'; sim.seed 0 → 3 (+2 more)``."""
    keys = sorted(set(old) | set(new))
    changed = [k for k in keys if old.get(k, "(unset)") != new.get(k, "(unset)")]
    parts = [f"{k} {old.get(k, '(unset)')!r} → {new.get(k, '(unset)')!r}"
             for k in changed[:limit]]
    more = f" (+{len(changed) - limit} more)" if len(changed) > limit else ""
    return "; ".join(parts) + more


def enforce(run: Any, phase: str, values: dict[str, Any], force: bool, command: str) -> None:
    """Record the phase's fingerprint, or refuse a resume whose values differ.

    ``run`` is an open :class:`~apigen_mt.runner.store.RunDir`. With ``force`` a change
    is accepted and recorded in the manifest's ``config_changes``.
    """
    manifest = run.manifest()
    prints = dict(manifest.get("fingerprint", {}))
    old = prints.get(phase)
    new = {"sha": digest(values), "values": values}
    if old is not None and old.get("sha") != new["sha"]:
        diff = describe_diff(old.get("values", {}), values)
        if not force:
            raise UsageError(f"{run.path} was made with another {phase} configuration "
                             f"({diff}); use another run directory, or --force-config to "
                             "continue with this one")
        changes = [*manifest.get("config_changes", []),
                   {"phase": phase, "command": command, "changed": diff,
                    "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}]
        prints[phase] = new
        run.update_manifest(fingerprint=prints, config_changes=changes[-50:])
        return
    if old is None:
        prints[phase] = new
        run.update_manifest(fingerprint=prints)
