"""No function of the runner is over ~60 lines: orchestration reads as named steps.

Measured statically (``ast``) from the first line of the ``def`` (its decorators aside)
to its last line, docstring and comments included, nested functions counted on their own
as well as inside their parent.
"""

from __future__ import annotations

import ast
from pathlib import Path

import apigen_mt

RUNNER = Path(apigen_mt.__file__).parent / "runner"
LIMIT = 60


def long_functions(folder: Path, limit: int) -> list[str]:
    """``path::name (lines)`` for every function in ``folder/*.py`` over ``limit`` lines."""
    found = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.name}::{node.name} ({lines} lines)")
    return found


def test_no_runner_function_over_the_limit():
    assert RUNNER.is_dir() and any(RUNNER.glob("*.py"))
    too_long = long_functions(RUNNER, LIMIT)
    assert not too_long, f"runner functions over {LIMIT} lines: " + ", ".join(too_long)


def test_the_measure_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "m.py").write_text(f"def short():\n    return 1\n\n\nasync def big():\n{body}\n")
    assert long_functions(tmp_path, LIMIT) == [f"m.py::big ({LIMIT + 1} lines)"]
