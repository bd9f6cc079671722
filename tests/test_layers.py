"""The package's import graph: no circles, and every layer imports only downward.

The graph is read statically (``ast``) from every module of ``apigen_mt``, so it sees
what a reader sees, not only what one run happened to import. Every import statement
counts wherever it stands: at module level, inside a function (a lazy import still ties
the two modules together: a circle through it is still a circle to untangle when reading
or moving either), and under ``if TYPE_CHECKING:``. Importing ``a.b.c`` also counts as
importing the packages ``a.b`` and ``a`` (Python runs their ``__init__`` first), except
the packages the importing module itself belongs to. Imports by computed name
(``importlib.import_module``) are not seen.

Layers, lowest first: the shared basis (records, errors, file reading, prompts) <- env <-
llm (with the offline sim behind it) <- blueprint <- rollout <- config (composes each
layer's settings) <- runner, export, stats <- the public Python API <- cli. A rule below forbids
a path of any length, so a lower layer cannot reach an upper one through a third module
either.
"""

from __future__ import annotations

import ast
import itertools
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import apigen_mt

PACKAGE = Path(apigen_mt.__file__).parent

# Circles known when this test was written, each with the area that removes it. The list
# may only shrink: a new circle fails the test, and so does an entry whose circle is gone
# (delete the entry). An entry matches a circle made of some of its modules.
KNOWN_CIRCLES: dict[frozenset[str], str] = {}

BASIS = {"records", "errors", "fileio", "atomic", "bounds", "outputs", "redact", "prompts"}
# the layers, lowest first
_ORDER = ["basis", "env", "llm", "sim", "blueprint", "rollout", "config", "runner", "export",
          "stats", "api", "cli"]


def _above(layer: str) -> set[str]:
    return set(_ORDER[_ORDER.index(layer) + 1:])


# area -> the areas it must not reach, directly or through any other module. The offline
# sim is a backend behind the model port: the model registry builds it (and the runner
# may hand it things), but the phases never import it, nor it them.
FORBIDDEN: dict[str, set[str]] = {
    "basis": _above("basis"),
    "env": _above("env"),
    "llm": _above("sim"),
    "sim": _above("sim"),
    "blueprint": _above("blueprint") | {"sim"},
    "rollout": _above("rollout") | {"sim"},
    "config": _above("config"),
    # the runner, the exports and the statistics use one another's pieces (export reads
    # the runner's file names; the pipeline may export): only circles are ruled out there
    "runner": {"api", "cli"},
    "export": {"api", "cli"},
    "stats": {"api", "cli"},
    "api": {"cli"},
}


@dataclass
class Graph:
    """Module -> {imported module: line of the first import statement}."""

    edges: dict[str, dict[str, int]] = field(default_factory=dict)

    def circles(self) -> list[list[str]]:
        """The strongly connected components of more than one module (Tarjan), sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []

        def visit(start: str) -> None:  # iterative: no recursion limit on deep chains
            work = [(start, iter(sorted(self.edges[start])))]
            index[start] = low[start] = len(index)
            stack.append(start)
            on_stack.add(start)
            while work:
                node, successors = work[-1]
                for nxt in successors:
                    if nxt not in index:
                        index[nxt] = low[nxt] = len(index)
                        stack.append(nxt)
                        on_stack.add(nxt)
                        work.append((nxt, iter(sorted(self.edges[nxt]))))
                        break
                    if nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                else:
                    work.pop()
                    if work:
                        low[work[-1][0]] = min(low[work[-1][0]], low[node])
                    if low[node] == index[node]:
                        component = []
                        while True:
                            member = stack.pop()
                            on_stack.discard(member)
                            component.append(member)
                            if member == node:
                                break
                        if len(component) > 1:
                            found.append(sorted(component))

        for module in sorted(self.edges):
            if module not in index:
                visit(module)
        return sorted(found)

    def reach(self, source: str, within: set[str] | None = None) -> dict[str, list[str]]:
        """Every module ``source`` reaches -> a shortest import chain to it (breadth
        first; ``source`` itself only if a chain leads back to it)."""
        chains: dict[str, list[str]] = {}
        queue = deque([[source]])
        while queue:
            chain = queue.popleft()
            for nxt in sorted(self.edges.get(chain[-1], {})):
                if nxt in chains or (within is not None and nxt not in within):
                    continue
                chains[nxt] = [*chain, nxt]
                if nxt != source:
                    queue.append(chains[nxt])
        return chains

    def describe(self, chain: list[str]) -> str:
        """``a -> b (line 12 of a) -> c (line 3 of b)``: each step with its import line."""
        steps = [chain[0]]
        for a, b in itertools.pairwise(chain):
            steps.append(f"{b} (line {self.edges[a][b]} of {a})")
        return " -> ".join(steps)


def module_names(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``) for every module."""
    out = {}
    for file in sorted(root.rglob("*.py")):
        parts = [package, *file.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (file, is_package)
    return out


def build_graph(root: Path, package: str) -> Graph:
    """The import graph of the package in folder ``root`` named ``package``."""
    modules = module_names(root, package)

    def known(name: str) -> str | None:  # the module a dotted name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = Graph()
    for name, (file, is_package) in modules.items():
        here = name if is_package else name.rpartition(".")[0]
        out: dict[str, int] = {}
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                # `from a import b` imports module a.b if there is one, else a (for its
                # name b); `from a import *` imports a
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                found = known(target)
                if found is None or found == name:
                    continue
                out.setdefault(found, node.lineno)
                parts = found.split(".")
                for depth in range(1, len(parts)):  # the packages Python runs first
                    parent = ".".join(parts[:depth])
                    if not (name == parent or name.startswith(parent + ".")):
                        out.setdefault(parent, node.lineno)
        graph.edges[name] = out
    return graph


def area(module: str) -> str:
    """The layer a module belongs to (``apigen_mt.llm.cache`` -> ``llm``); the package's own
    ``__init__`` is the public Python API's place."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "api":
        return "api"
    top = parts[1]
    if top == "cli" or top.startswith("commands_"):
        return "cli"
    return "basis" if top in BASIS else top


GRAPH = build_graph(PACKAGE, "apigen_mt")


def _known_owner(circle: list[str]) -> str | None:
    for members, owner in KNOWN_CIRCLES.items():
        if set(circle) <= members:
            return owner
    return None


def _cycle_text(graph: Graph, circle: list[str]) -> str:
    """One loop of the circle, from its first module back to it, with import lines."""
    return graph.describe(graph.reach(circle[0], set(circle))[circle[0]])


def test_no_new_import_circle():
    new = [c for c in GRAPH.circles() if _known_owner(c) is None]
    assert not new, "import circles:\n" + "\n".join(_cycle_text(GRAPH, c) for c in new)


def test_known_circles_are_still_there():
    """An entry of KNOWN_CIRCLES whose circle is gone must be deleted (the list shrinks)."""
    circles = GRAPH.circles()
    gone = [owner for members, owner in KNOWN_CIRCLES.items()
            if not any(set(c) <= members for c in circles)]
    assert not gone, ("these circles are fixed: delete their KNOWN_CIRCLES entries: "
                      + "; ".join(gone))


def test_layers_import_only_downward():
    problems = []
    for module in sorted(GRAPH.edges):
        banned = FORBIDDEN.get(area(module), set())
        for goal, chain in sorted(GRAPH.reach(module).items()):
            # name each violation once: at the first module of a banned area on the chain
            if area(goal) in banned and all(area(m) not in banned for m in chain[1:-1]):
                problems.append(f"{area(module)} must not import {area(goal)}: "
                                + GRAPH.describe(chain))
    assert not problems, "\n".join(problems)


def test_every_module_is_read():
    """The walk sees the whole package, including lazy imports inside functions."""
    assert {"apigen_mt.config", "apigen_mt.llm.registry", "apigen_mt.runner.remote",
            "apigen_mt.export.card"} <= set(GRAPH.edges)
    # runner/remote.py imports phase 1's code inside a function
    assert "apigen_mt.runner.phase1" in GRAPH.edges["apigen_mt.runner.remote"]


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_finds_a_circle_through_a_lazy_import_and_names_it(tmp_path: Path):
    root = _write(tmp_path, {
        "__init__.py": "",
        "low/__init__.py": "",
        "low/a.py": "from pkg.low import b\n",
        "low/b.py": "def f():\n    from ..high.c import g\n    return g\n",
        "high/__init__.py": "",
        "high/c.py": "import pkg.low.a\n\ndef g():\n    pass\n",
    })
    graph = build_graph(root, "pkg")
    assert graph.circles() == [["pkg.high.c", "pkg.low.a", "pkg.low.b"]]
    text = _cycle_text(graph, graph.circles()[0])
    assert text == ("pkg.high.c -> pkg.low.a (line 1 of pkg.high.c) -> pkg.low.b (line 1 of "
                    "pkg.low.a) -> pkg.high.c (line 2 of pkg.low.b)")


def test_a_package_init_that_imports_back_is_a_circle(tmp_path: Path):
    """``from pkg.m import x`` runs ``pkg/m``'s package ``__init__``: a circle if it
    imports the importer."""
    root = _write(tmp_path, {
        "__init__.py": "",
        "m/__init__.py": "from pkg.m.inner import x\n",
        "m/inner.py": "from pkg.user import y\nx = 1\n",
        "user.py": "y = 2\n\ndef f():\n    from pkg.m.inner import x\n    return x\n",
    })
    graph = build_graph(root, "pkg")
    assert graph.circles() == [["pkg.m", "pkg.m.inner", "pkg.user"]]
    # a package's own modules importing each other through it is not a circle
    assert "pkg.m" not in graph.edges["pkg.m.inner"]
