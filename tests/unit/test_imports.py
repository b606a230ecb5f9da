"""How the package's modules depend on each other: each imports alone, ``import heapprof_nb``
stays light, no two modules import each other when they load, and no module takes another's
private names (what two modules share has a public name in a module of its own)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import heapprof_nb

PACKAGE = Path(heapprof_nb.__file__).parent
HEAVY = ("IPython", "ipywidgets", "matplotlib", "graphviz", "ipympl")


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every Python module of the package (packages by __init__)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_the_package_is_grouped() -> None:
    assert {"heapprof_nb.digest", "heapprof_nb.views", "heapprof_nb.notebook",
            "heapprof_nb.views.frames"} <= set(MODULES)


#: Modules that need an optional dependency when they load (the [notebook] extra).
NEEDS = {"heapprof_nb.notebook.magics": "IPython"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_each_module_imports_alone(module: str) -> None:
    if module in NEEDS:
        pytest.importorskip(NEEDS[module])
    result = _run(f"import {module}")
    assert result.returncode == 0, result.stderr


def test_import_heapprof_nb_loads_nothing_heavy() -> None:
    result = _run("import sys, heapprof_nb\n"
                  f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_view_module_loads_its_library_only_when_it_draws() -> None:
    result = _run("import sys\n"
                  "import heapprof_nb.views.flame, heapprof_nb.views.graph, heapprof_nb.views.plot\n"
                  "import heapprof_nb.views.exports, heapprof_nb.views.pprof\n"
                  f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the import graph, from the source --------------------------------------------------------


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _package_of(module).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _load_time_statements(tree: ast.Module) -> list[ast.stmt]:
    """The statements that run when the module is imported: its body, and the bodies of
    module-level ``if``/``try``/``with`` blocks, but not ``if TYPE_CHECKING:``, functions or
    classes' methods."""
    out: list[ast.stmt] = []
    todo = list(tree.body)
    while todo:
        stmt = todo.pop(0)
        out.append(stmt)
        if isinstance(stmt, ast.If):
            test = stmt.test
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                continue
            todo[:0] = [*stmt.body, *stmt.orelse]
        elif isinstance(stmt, ast.Try):
            todo[:0] = [*stmt.body, *[s for h in stmt.handlers for s in h.body], *stmt.orelse,
                        *stmt.finalbody]
        elif isinstance(stmt, (ast.With, ast.For)):
            todo[:0] = list(stmt.body)
    return out


class _Imports:
    """Per module: the package modules it imports when it loads, and the private names it takes
    from other package modules (anywhere in its code)."""

    def __init__(self) -> None:
        self.graph: dict[str, set[str]] = {m: set() for m in MODULES}
        self.private: list[str] = []
        for module, path in MODULES.items():
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            load_time = {id(s) for s in _load_time_statements(tree)}
            aliases: dict[str, str] = {}  # local name -> package module it stands for
            for node in ast.walk(tree):
                targets: list[str] = []
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name.split(".")[0] == "heapprof_nb":
                            targets.append(a.name)
                            if a.asname:
                                aliases[a.asname] = a.name
                elif isinstance(node, ast.ImportFrom):
                    source = _resolve(module, node)
                    if source.split(".")[0] != "heapprof_nb":
                        continue
                    for a in node.names:
                        sub = f"{source}.{a.name}"
                        if sub in MODULES or _is_extension(sub):
                            targets.append(sub)
                            aliases[a.asname or a.name] = sub
                        else:
                            targets.append(source)
                            if a.name.startswith("_") and source != module:
                                self.private.append(f"{module}: from {source} import {a.name}")
                if id(node) in load_time:
                    self.graph[module].update(t for t in targets if t in MODULES and t != module)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in aliases and node.attr.startswith("_")
                        and not node.attr.startswith("__")
                        and f"{aliases[node.value.id]}.{node.attr}" not in MODULES):
                    self.private.append(f"{module}: {node.value.id}.{node.attr}")


def _is_extension(module: str) -> bool:
    name = module.rpartition(".")[2]
    folder = PACKAGE.parent.joinpath(*module.split(".")[:-1])
    return any(folder.glob(f"{name}.*.so")) or (folder / f"{name}.pyi").exists()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module, and modules importing themselves
    (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_when_modules_load() -> None:
    graph = _Imports().graph
    # a package's __init__ is loaded before any of its modules: an edge back to it is no cycle
    for module, targets in graph.items():
        targets -= {p for p in targets if module.startswith(p + ".")}
    assert _cycles(graph) == []
    assert graph["heapprof_nb.views.flame"] >= {"heapprof_nb.views.frames"}  # the graph is real


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_takes_another_modules_private_names() -> None:
    assert _Imports().private == []
