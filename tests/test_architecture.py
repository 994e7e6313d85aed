"""The layers of docs/ARCHITECTURE.md, read from the imports: a module imports only from its
own layer or the layers below (function-level and type-checking imports included), and the
import graph has no cycle at all."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "ssamt"

# Top-level package or module -> layer, bottom up (docs/ARCHITECTURE.md).
LAYERS = {
    "errors": 0, "fileio": 0, "crash": 0, "progress": 0, "bounds": 0, "text": 0,
    "labels": 1,
    "data": 2,
    "model": 3,
    "losses": 4,
    "retrieval": 5,
    "train": 6,
    "pipelines": 7, "search": 7, "render": 7, "features": 7,
    "serve": 8,
    "commands": 9, "cli": 9, "__main__": 9, "": 9,
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """Modules `path` imports (anywhere: top level, in a function, under TYPE_CHECKING);
    `from pkg import sub` counts as pkg.sub when sub is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ssamt"):
            subs = {f"{node.module}.{a.name}" for a in node.names}
            out |= {s for s in subs if _is_module(s)} or {node.module}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("ssamt")}
    return out


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


GRAPH = {_module(p): _imports(p) for p in ROOT.rglob("*.py")}


def test_every_package_has_a_layer():
    assert {_top(m) for m in GRAPH} <= set(LAYERS), "add new packages to LAYERS and the doc"


def test_imports_only_go_down():
    upward = sorted(f"{m} -> {dep}" for m, deps in GRAPH.items() for dep in deps
                    if LAYERS[_top(dep)] > LAYERS[_top(m)])
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph.get(node, ()):
            if dep not in graph:
                continue
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
