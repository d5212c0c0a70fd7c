"""The package's structure, read from the source with ``ast``: no import cycle among tfjsconv modules
(function-level imports count; ``importlib`` loading by name does not, it is how routes and ONNX op
families load lazily), no reader importing a writer, and no module over 600 lines (generated
protobuf modules aside)."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tfjsconv"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST) -> list[ast.AST]:
    """Every import statement that runs, at any depth (functions included), except TYPE_CHECKING ones."""
    found: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_block(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


@lru_cache(maxsize=1)
def import_graph() -> dict[str, frozenset[str]]:
    """tfjsconv module -> the tfjsconv modules it imports (``from pkg import sub`` names the submodule
    when ``sub`` is one, else the package)."""
    modules = _sources()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                assert isinstance(node, ast.ImportFrom)
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:  # `import tfjsconv.a.b` names a module or package
                    target = target.rpartition(".")[0]
                if target.startswith("tfjsconv") and target != name:
                    graph[name].add(target)
    return {name: frozenset(deps) for name, deps in graph.items()}


def find_cycle(graph: dict[str, frozenset[str]]) -> list[str]:
    """One import cycle (as a path that returns to its start), or [] when there is none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        path.pop()
        state[module] = 2
        return []

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return []


def test_the_import_graph_is_read_correctly() -> None:
    graph = import_graph()
    assert "tfjsconv.ir.graph" in graph["tfjsconv.passes.base"]  # `from ..ir.graph import ...`
    assert "tfjsconv.passes.fold_constants" in graph["tfjsconv.passes.pipeline"]  # `from . import ...`
    assert "tfjsconv.readers.onnx.ops" in graph["tfjsconv.readers.onnx.ops.math"]  # `from . import Handler`
    # The ONNX op families and the route modules are loaded by name (importlib), lazily: no edge.
    assert "tfjsconv.readers.onnx.ops.math" not in graph["tfjsconv.readers.onnx.ops"]
    assert not {m for m in graph["tfjsconv.routes.base"] if m.startswith("tfjsconv.routes.")}
    ring = {"a": frozenset("b"), "b": frozenset("c"), "c": frozenset("a"), "d": frozenset("a")}
    assert find_cycle(ring) == ["a", "b", "c", "a"]
    assert find_cycle({"a": frozenset("b"), "b": frozenset()}) == []


def test_no_import_cycle_inside_the_package() -> None:
    cycle = find_cycle(import_graph())
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def test_no_reader_imports_a_writer() -> None:
    offending = sorted(f"{module} imports {dep}" for module, deps in import_graph().items()
                       if module.startswith("tfjsconv.readers.") for dep in deps
                       if dep == "tfjsconv.writers" or dep.startswith("tfjsconv.writers."))
    assert offending == []


def test_no_module_over_600_lines() -> None:
    long = sorted(f"{path.relative_to(PACKAGE.parent)}: {n} lines" for path in PACKAGE.rglob("*.py")
                  if not path.name.endswith("_pb2.py")
                  and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES)
    assert long == []
