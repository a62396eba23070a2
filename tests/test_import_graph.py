"""The project's modules import each other one way: no cycle between top-level modules and packages.

The graph is read from the source with ``ast``, so an import inside a function counts as much as one at the top:
a cycle hidden in a function still means two modules that cannot be understood (or loaded) one without the other.
Nodes are the repository's top-level units (``main``, ``sandbox``, ``bot_runner``, ``handlers``, ``keyboards``,
``services``, ``jobs``, ``ml_models``, ...); imports within one package are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIPPED = {"tests", ".venv"}


def top_level_units(root: Path) -> set[str]:
    """Module names importable from the repository root: ``x.py`` files and packages with ``__init__.py``."""
    return {p.stem for p in root.glob("*.py")} | {p.parent.name for p in root.glob("*/__init__.py")}


def imported_names(tree: ast.AST) -> list[str]:
    """Absolute module names one file imports, wherever the import statement sits (function bodies included)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Top-level unit -> the other top-level units its files import."""
    units = top_level_units(root)
    graph: dict[str, set[str]] = {unit: set() for unit in units}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        if parts[0] in SKIPPED or parts[0].startswith("."):
            continue
        source = parts[0].removesuffix(".py")
        if source not in units:
            continue  # a script folder without __init__.py is not importable, but may import
        for name in imported_names(ast.parse(path.read_text(), filename=str(path))):
            target = name.split(".")[0]
            if target in units and target != source:
                graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None when the graph has none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_bot_units_exist_in_the_graph() -> None:
    graph = import_graph(REPO)
    for unit in ("main", "sandbox", "bot_runner", "bot_init", "handlers", "keyboards", "services", "jobs",
                 "ml_models"):
        assert unit in graph, f"{unit} is not a top-level module or package any more"
    assert "bot_runner" in graph["main"] and "bot_runner" in graph["sandbox"]


def test_no_import_cycle_between_top_level_units() -> None:
    cycle = find_cycle(import_graph(REPO))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_keyboards_never_import_handlers() -> None:
    assert "handlers" not in import_graph(REPO)["keyboards"]


def test_the_graph_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The checker itself: a cycle closed only by a function-level import (main <-> sandbox, as it once was)."""
    (tmp_path / "main.py").write_text("def run():\n    import sandbox\n    sandbox.go()\n")
    (tmp_path / "sandbox.py").write_text("async def go():\n    from main import helper\n")
    (tmp_path / "keyboards").mkdir()
    (tmp_path / "keyboards" / "__init__.py").write_text("")
    (tmp_path / "keyboards" / "menu.py").write_text("from . import x\nfrom keyboards.y import z\nimport json\n")
    graph = import_graph(tmp_path)
    assert graph == {"main": {"sandbox"}, "sandbox": {"main"}, "keyboards": set()}
    assert find_cycle(graph) == ["main", "sandbox", "main"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
