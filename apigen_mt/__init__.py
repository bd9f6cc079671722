"""apigen-mt: manufacture verified multi-turn tool-use training data.

The pipeline from Python is ``apigen_mt.blueprint(...)``, ``rollout(...)``, ``run(...)``,
``export(...)``, ``verify(...)`` and ``evaluate(...)`` (documented in
:mod:`apigen_mt.api`). They are imported on first use, so ``import apigen_mt`` stays
cheap.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "blueprint", "evaluate", "export", "rollout", "run", "verify"]

_RESULTS = {"BlueprintResult", "RolloutResult", "RunResult", "VerifyResult"}


class _CallablePackage(types.ModuleType):
    """A layer package that is also the API call of the same name.

    ``apigen_mt.blueprint`` is both the phase-1 package and :func:`apigen_mt.api.blueprint`:
    the import system binds a subpackage to its parent's attribute of that name, so a
    plain function there would be replaced by the package on its first import.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from apigen_mt import api

        return getattr(api, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


for _name in ("blueprint", "rollout", "export"):  # empty package files: cheap to import
    importlib.import_module(f"{__name__}.{_name}").__class__ = _CallablePackage
del _name


def __getattr__(name: str) -> Any:
    if name in ("run", "verify", "evaluate"):
        from apigen_mt import api

        return getattr(api, name)
    if name in _RESULTS:
        from apigen_mt.runner import results

        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


