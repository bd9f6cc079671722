"""The ``apigen-mt`` command line: one thin module per command group over the Python API
(:mod:`apigen_mt.api`): parse the options, call, print.

``app`` and ``main`` (in :mod:`apigen_mt.cli.root`) load on first use, so running one
group's module on its own (``python -m apigen_mt.cli.model``) does not load it twice.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("apigen_mt.cli.root"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
