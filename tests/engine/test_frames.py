"""The frame walk on every supported CPython: generators, coroutines, and Python called back
from C each give the stack a user expects, innermost first, with the right lines.

These are the frames whose layout changed between 3.11 and 3.15 (generator-owned frames, the
C-stack shim frames of 3.12+, the interpreter-owned frames of 3.14+, the tagged code reference
of 3.14+), so each case checks function names and line numbers exactly (rate=1)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from pathlib import Path

import heapprof_nb
from heapprof_nb import Frame

N = 40


def _line_of(function: Callable[..., object], marker: str) -> int:
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, text in enumerate(lines) if marker in text)


def _stacks_of(path: Path, function: str) -> list[tuple[Frame, ...]]:
    prof = heapprof_nb.read(path)
    entries = prof.snapshot_at(prof.duration).entries
    return [e.stack for e in entries if e.stack and e.stack[0].function == function]


def _chain(stack: tuple[Frame, ...], depth: int) -> list[tuple[str, int]]:
    return [(f.function.rsplit(".", 1)[-1], f.line) for f in stack[:depth]]


def blocks_from_generator() -> Generator[bytes, None, None]:
    for _ in range(N):
        yield bytes(7001)  # generator allocates


def consume_generator() -> list[bytes]:
    return list(blocks_from_generator())  # consumer


def test_generator_frames(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "g.hpnb", rate=1)
    kept = consume_generator()
    heapprof_nb.stop()
    stacks = _stacks_of(path, "blocks_from_generator")
    assert stacks, "no allocation attributed to the generator"
    assert _chain(stacks[0], 3) == [
        ("blocks_from_generator", _line_of(blocks_from_generator, "generator allocates")),
        ("consume_generator", _line_of(consume_generator, "# consumer")),
        ("test_generator_frames", _line_of(test_generator_frames, "kept = consume_generator()")),
    ]
    assert len(kept) == N


async def coroutine_leaf() -> list[bytes]:
    out = []
    for _ in range(N):
        out.append(bytes(7002))  # coroutine allocates
    return out


async def coroutine_outer() -> list[bytes]:
    return await coroutine_leaf()  # awaits


def drive(coroutine: object) -> list[bytes]:
    try:
        coroutine.send(None)  # type: ignore[attr-defined]  # drives the coroutine
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the coroutine should finish without suspending")


def test_coroutine_frames(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "c.hpnb", rate=1)
    kept = drive(coroutine_outer())
    heapprof_nb.stop()
    stacks = _stacks_of(path, "coroutine_leaf")
    assert stacks, "no allocation attributed to the coroutine"
    assert _chain(stacks[0], 3) == [
        ("coroutine_leaf", _line_of(coroutine_leaf, "coroutine allocates")),
        ("coroutine_outer", _line_of(coroutine_outer, "# awaits")),
        ("drive", _line_of(drive, "drives the coroutine")),
    ]
    assert len(kept) == N


def allocating_key(i: int) -> bytes:
    return bytes(7003)  # key allocates (equal keys: the stable sort keeps the order)


def sort_through_c() -> list[int]:
    return sorted(range(N), key=allocating_key)  # sorted() calls back into Python


def test_python_called_from_c(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "s.hpnb", rate=1)
    result = sort_through_c()
    heapprof_nb.stop()
    prof = heapprof_nb.read(path)
    window = prof.window(0.0, prof.duration).allocated_freed
    stacks = [e.stack for e in window.entries if e.stack and e.stack[0].function == "allocating_key"]
    assert stacks, "no allocation attributed to the key function"
    # The C call in between (and 3.12+'s shim frame for it) leaves no frame of its own.
    assert _chain(stacks[0], 3) == [
        ("allocating_key", _line_of(allocating_key, "key allocates")),
        ("sort_through_c", _line_of(sort_through_c, "calls back into Python")),
        ("test_python_called_from_c", _line_of(test_python_called_from_c, "result = sort_through_c()")),
    ]
    assert result == list(range(N))
