"""The import graph of src/flagkit, read with ast: no runtime cycles, no core module upstairs.

Every ``import`` and ``from ... import`` counts, at module level or inside a function (a lazy
import is still a dependency at run time), except those under ``if TYPE_CHECKING:``. Importing
``flagkit.a.b`` also runs ``flagkit/a/__init__``; that edge counts, except to the top-level
``flagkit/__init__``, which every ``flagkit.*`` import runs and which is public by design.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PUBLIC = frozenset(
    {
        "flagkit",
        "flagkit.powertools",
        "flagkit.openfeature",
        "flagkit.aws_lambda",
        "flagkit.testing",
    }
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted((SRC / "flagkit").rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements anywhere in the module, skipping ``if TYPE_CHECKING:`` bodies."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _ancestors(name: str) -> set[str]:
    """The packages importing ``name`` runs first (all but the top-level ``flagkit``)."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts))}


def imports_of(name: str) -> set[str]:
    """The flagkit modules ``name`` imports at run time."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if _is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import sub`` imports the submodule pkg.sub when there is one
            targets = [
                f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names
            ]
        for written in targets:
            target = written
            while target and target not in MODULES:  # ``import flagkit.x.y`` as attribute access
                target = target.rpartition(".")[0]
            if target.startswith("flagkit"):
                found.add(target)
                # a package's __init__ runs first, unless it is one this module sits in (which
                # is already running when this module is imported)
                found |= _ancestors(target) - _ancestors(name)
    found.discard(name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root, edges in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(edges)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                    out.append(sorted(component))
    return out


def _is_core(name: str) -> bool:
    """An underscore module (``flagkit._x``, ``flagkit._x.y``, ``flagkit.testing._z``), the CLI
    (which serves the local AppConfig from ``flagkit.testing``) excepted."""
    parts = name.split(".")[1:]
    private = any(p.startswith("_") and not p.startswith("__") for p in parts)
    return private and parts[0] != "_cli"


def test_the_graph_is_read() -> None:
    """The reader sees lazy and relative imports (a reader that sees none proves nothing)."""
    assert "flagkit._rules.compile" in GRAPH["flagkit._snapshot"]  # from ._rules.compile import
    assert "flagkit._rules" in GRAPH["flagkit._snapshot"]  # the package __init__ runs too
    assert "flagkit._document.read" in GRAPH["flagkit._snapshot"]  # inside a function
    assert "flagkit._snapshot" in GRAPH["flagkit.powertools"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _is_core("flagkit._document.read") and _is_core("flagkit.testing._agent")
    assert not _is_core("flagkit._cli.main") and not _is_core("flagkit.__main__")


def test_no_runtime_import_cycles() -> None:
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _is_core(n)))
def test_a_core_module_never_imports_a_public_one(name: str) -> None:
    assert sorted(GRAPH[name] & PUBLIC) == []
