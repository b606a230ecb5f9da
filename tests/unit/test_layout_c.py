"""The engine's C files depend on each other in one direction only (no two files call each other,
directly or round a circle), and only the files that must meet CPython include Python.h.

Calls are found by name: every function of the engine is named `hp_...`; a call (or a use as a
function pointer) of a function defined in another file is an edge from this file to that one.
Inline functions in a header belong to the file that implements the header."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"
# Files that include Python.h: the two bindings (the only users of the object API; hp_module.c
# also finds NumPy's handler), the frame walk (reads the interpreter's frame structs) and the hooks
# (the allocator API: PyMemAllocatorEx, PyMem_SetAllocator). The session, the sampled-event path,
# interning, the writer and the NumPy wrapper are plain C.
PYTHON_ALLOWED = {"hp_module.c", "hp_frames.c", "hp_hooks.c", "digest/hp_digest_module.c"}

# A function definition starts at column 0 (code inside functions is indented).
_DEFINITION = re.compile(r"^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\([^;{]*\)\s*\{", re.M)
_NAME = re.compile(r"\b(hp_\w+)\b")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def _engine_sources() -> list[Path]:
    return sorted(p for p in NATIVE.rglob("*.[ch]") if "tests" not in p.relative_to(NATIVE).parts)


def _code(path: Path) -> str:
    return _STRING.sub('""', _COMMENT.sub(" ", path.read_text(encoding="utf-8")))


def _bodies(code: str) -> list[tuple[str, str]]:
    """(name, body) of every function defined in `code`, declarations left out."""
    out = []
    for match in _DEFINITION.finditer(code):
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, len(code)):
            depth += {"{": 1, "}": -1}.get(code[end], 0)
            if depth == 0:
                break
        out.append((match.group(1), code[match.end():end]))
    return out


def _owner(path: Path) -> str:
    """The .c file a source belongs to (a header to its implementation, if there is one)."""
    c_file = path.with_suffix(".c")
    return str((c_file if c_file.exists() else path).relative_to(NATIVE))


def _graph() -> dict[str, set[str]]:
    sources = _engine_sources()
    defined_in: dict[str, str] = {}
    for path in sources:
        for name, _ in _bodies(_code(path)):
            if name.startswith("hp_"):
                defined_in.setdefault(name, _owner(path))
    edges: dict[str, set[str]] = {_owner(p): set() for p in sources}
    for path in sources:
        me = _owner(path)
        for name in (n for _, body in _bodies(_code(path)) for n in _NAME.findall(body)):
            other = defined_in.get(name)
            if other is not None and other != me:
                edges[me].add(other)
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_two_c_files_call_each_other() -> None:
    edges = _graph()
    assert "hp_hooks.c" in edges and edges["hp_module.c"], "the parser found no engine"
    cycle = _cycle(edges)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a.c": {"b.c"}, "b.c": {"c.c"}, "c.c": {"a.c"}}) == ["a.c", "b.c", "c.c", "a.c"]
    assert _cycle({"a.c": {"b.c"}, "b.c": set()}) is None


def test_only_the_bindings_frames_and_hooks_include_python() -> None:
    including = {str(p.relative_to(NATIVE)) for p in _engine_sources()
                 if re.search(r'#include\s*[<"]Python\.h[>"]', p.read_text(encoding="utf-8"))}
    assert including == PYTHON_ALLOWED
