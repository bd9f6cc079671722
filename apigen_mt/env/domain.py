"""Domains: what a folder in ``envs/`` (or a user's own folder) declares, and how it loads.

A domain folder is a Python package whose ``__init__.py`` defines ``DOMAIN``, a
:class:`Domain` (declared in :mod:`apigen_mt.env.declarations`, re-exported here). It
sits next to ``policy.md`` (the agent policy in the project's words) and optionally
``examples.json`` (blueprints shown to drafters).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from apigen_mt.env.class_adapter import CLASS_PREFIX, load_class_spec
from apigen_mt.env.declarations import (
    Domain,
    DraftingHints,
    EnvironmentNotFound,
    Executed,
    PolicyRule,
    Precondition,
    RuleInput,
)
from apigen_mt.env.environment import Environment
from apigen_mt.env.state import BaseState, State
from apigen_mt.fileio import read_json

__all__ = ["CLASS_PREFIX", "DEFAULT_SEED", "ENTRY_POINT_GROUP", "TAU_COMPAT", "Domain",
           "DraftingHints", "EnvironmentNotFound", "Executed", "PolicyRule", "Precondition",
           "RuleInput", "available", "builtin_names", "builtin_root", "is_tau_data",
           "load_domain", "load_environment", "read_data_dir"]

ENTRY_POINT_GROUP = "apigen_mt.envs"


def builtin_root() -> Path:
    """Folder holding the built-in domains (``envs/`` in the repo, installed as a package)."""
    return Path(str(resources.files("apigen_mt_envs")))


def builtin_names() -> list[str]:
    """Names of the built-in domains."""
    root = builtin_root()
    return sorted(p.name for p in root.iterdir()
                  if (p / "__init__.py").exists() and not p.name.startswith("_"))


def available() -> list[str]:
    """Built-in domains plus those installed packages register as entry points."""
    names = set(builtin_names())
    names.update(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def _import_path(folder: Path) -> Any:
    init = folder / "__init__.py"
    if not init.exists():
        raise EnvironmentNotFound(f"{folder} is not an environment folder (no __init__.py)")
    mod_name = f"apigen_mt_user_env_{abs(hash(str(folder.resolve())))}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(
        mod_name, init, submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def load_domain(spec: str) -> Domain:
    """Resolve a domain by built-in name, entry point name, folder path, or ``class:`` spec."""
    if spec.startswith(CLASS_PREFIX):
        return load_class_spec(spec).domain
    path = Path(spec).expanduser()
    if ("/" in spec or spec.startswith(".")) or (path.is_dir() and spec not in builtin_names()):
        if not path.is_dir():
            raise EnvironmentNotFound(f"no environment folder at {spec}")
        module = _import_path(path)
    elif spec in builtin_names():
        module = importlib.import_module(f"apigen_mt_envs.{spec}")
    else:
        eps = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
        if spec not in eps:
            raise EnvironmentNotFound(
                f"unknown environment '{spec}' (available: {', '.join(available())})"
            )
        loaded = eps[spec].load()
        return loaded if isinstance(loaded, Domain) else loaded.DOMAIN
    domain = getattr(module, "DOMAIN", None)
    if not isinstance(domain, Domain):
        raise EnvironmentNotFound(f"environment '{spec}' does not define DOMAIN")
    return domain


def read_data_dir(domain: Domain, data_dir: Path) -> dict[str, dict[str, Any]]:
    """Load τ-bench-format data: one ``<table>.json`` object per table."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory not found: {data_dir}")
    tables = {}
    for name in domain.tables:
        file = data_dir / f"{name}.json"
        if not file.exists():
            raise FileNotFoundError(f"{file} is missing (domain '{domain.name}' needs "
                                    f"{', '.join(t + '.json' for t in domain.tables)})")
        tables[name] = read_json(file, f"'{name}' data file", EnvironmentNotFound)
        if not isinstance(tables[name], dict):
            raise EnvironmentNotFound(f"{file}: the '{name}' data file must hold a JSON object "
                                      "of records by id")
    return tables


@functools.lru_cache(maxsize=16)
def _tables(domain_spec: str, data_dir: str | None, seed: int) -> tuple[BaseState, str]:
    domain = load_domain(domain_spec)
    if data_dir:
        tables = read_data_dir(domain, Path(data_dir))
        wiki = Path(data_dir) / "policy_wiki.md"
        policy = wiki.read_text() if wiki.exists() else domain.policy_path.read_text()
    else:
        tables = domain.generate(seed=seed)
        policy = domain.policy_path.read_text() if domain.policy_path.exists() else ""
    return BaseState(tables), policy


@functools.lru_cache(maxsize=16)
def _base(domain_spec: str, data_dir: str | None, seed: int,
          tau_compat: bool | None) -> tuple[BaseState, str]:
    plain, policy = _tables(domain_spec, data_dir, seed)
    if tau_compat is None:
        tau_compat = is_tau_data(load_domain(domain_spec), plain) if data_dir else False
    # the tables are shared (a base is never mutated); only the options differ
    return plain.with_options({TAU_COMPAT: tau_compat}), policy


def is_tau_data(domain: Domain, base: BaseState) -> bool:
    """Whether loaded data is a reference database the domain declares (by τ-bench hash)."""
    if not domain.tau_fingerprints:
        return False
    return State(base).tau_hash() in domain.tau_fingerprints


DEFAULT_SEED = 0
# The option that asks a domain for its reference benchmark's exact behaviour, quirks and
# all, instead of its corrected tools. The engine only carries it; domains give it meaning.
TAU_COMPAT = "tau_compat"


def load_environment(spec: str, data_dir: str | Path | None = None,
                     seed: int = DEFAULT_SEED, tau_compat: bool | None = None) -> Environment:
    """A fresh environment for a domain; the loaded data is shared by all its copies.

    ``tau_compat`` (the state option :data:`TAU_COMPAT`) asks for τ-bench's exact tool
    behaviour; ``None`` turns it on only for data loaded from ``data_dir`` that is one of
    the domain's reference databases (:attr:`Domain.tau_fingerprints`), so generated data
    gets the domain's corrected tools. For a ``class:`` spec, ``data_dir`` is the JSON file
    of the initial state (and the option does not apply).
    """
    if spec.startswith(CLASS_PREFIX):
        return load_class_spec(spec, data_dir)
    domain = load_domain(spec)
    base, policy = _base(spec, str(data_dir) if data_dir else None, seed, tau_compat)
    return Environment(domain, base, policy)
