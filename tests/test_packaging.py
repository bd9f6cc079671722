"""Every package folder is listed in pyproject.toml, so a plain `pip install .` ships it."""

from __future__ import annotations

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = set()
    for init in (REPO / "apigen_mt").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(REPO).parts))
    for init in (REPO / "envs").rglob("__init__.py"):
        found.add(".".join(("apigen_mt_envs", *init.parent.relative_to(REPO / "envs").parts)))
    assert found - listed == set(), "add these to [tool.setuptools] packages"
