"""The layers of docs/ARCHITECTURE.md, read from the imports: a module imports only from its
own layer or the layers below (function-level imports included), and no two modules import
each other."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "ssamt"

# Top-level package or module -> layer, bottom up (docs/ARCHITECTURE.md).
LAYERS = {
    "errors": 0, "fileio": 0, "crash": 0, "progress": 0,
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


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of import nodes under `if TYPE_CHECKING:` (never run, so never a cycle)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    return skip


def _imports(path: Path) -> set[str]:
    """Modules `path` imports; `from pkg import sub` counts as pkg.sub when sub is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip, out = _type_checking_only(tree), set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
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


def test_no_two_modules_import_each_other():
    pairs = sorted(f"{a} <-> {b}" for a, deps in GRAPH.items() for b in deps
                   if a < b and a in GRAPH.get(b, ()))
    assert not pairs, "import cycles:\n" + "\n".join(pairs)
