"""The frame walk on every supported CPython: generators, coroutines, and Python called back
from C each give the stack a user expects, innermost first, with the right lines.

These are the frames whose layout changed between 3.11 and 3.15 (generator-owned frames, the
C-stack shim frames of 3.12+, the interpreter-owned frames of 3.14+, the tagged code reference
of 3.14+), so each case checks function names and line numbers exactly (rate=1)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

import heapprof_nb
from heapprof_nb import Frame

N = 40


def _line_of(function: Callable[..., object], marker: str) -> int:
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, text in enumerate(lines) if marker in text)


def _stack_of(path: Path, function: str) -> tuple[Frame, ...]:
    """The stack of the first block allocated by `function`, whether it is still live or not."""
    prof = heapprof_nb.read(path)
    everything = prof.window(0.0, prof.duration)
    for snapshot in (everything.allocated_kept, everything.allocated_freed):
        for entry in snapshot.entries:
            if entry.stack and entry.stack[0].function == function:
                return entry.stack
    raise AssertionError(f"no allocation attributed to {function}")


def blocks_from_generator() -> Generator[bytes, None, None]:
    for _ in range(N):
        yield bytes(7001)  # generator allocates


def consume_generator() -> list[bytes]:
    return list(blocks_from_generator())  # consumer


async def coroutine_leaf() -> list[bytes]:
    out = []
    for _ in range(N):
        out.append(bytes(7002))  # coroutine allocates
    return out


async def coroutine_outer() -> list[bytes]:
    return await coroutine_leaf()  # awaits


def drive_coroutine() -> list[bytes]:
    coroutine = coroutine_outer()
    try:
        coroutine.send(None)  # drives the coroutine
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the coroutine should finish without suspending")


def allocating_key(i: int) -> bytes:
    return bytes(7003)  # key allocates (equal keys: the stable sort keeps the order)


def sort_through_c() -> list[int]:
    return sorted(range(N), key=allocating_key)  # sorted() calls back into Python


# Each case: what to run, then the innermost frames expected, as (function, marker on its line).
CASES = {
    "generator": (consume_generator, [(blocks_from_generator, "generator allocates"),
                                      (consume_generator, "# consumer")]),
    "coroutine": (drive_coroutine, [(coroutine_leaf, "coroutine allocates"),
                                    (coroutine_outer, "# awaits"),
                                    (drive_coroutine, "drives the coroutine")]),
    # The C call in between (and 3.12+'s shim frame for it) leaves no frame of its own.
    "called from C": (sort_through_c, [(allocating_key, "key allocates"),
                                       (sort_through_c, "calls back into Python")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stack_names_every_frame_at_its_line(case: str, tmp_path: Path) -> None:
    run, expected = CASES[case]
    path = heapprof_nb.start(tmp_path / "f.hpnb", rate=1)
    result = run()
    heapprof_nb.stop()
    stack = _stack_of(path, expected[0][0].__name__)
    assert [(f.function.rsplit(".", 1)[-1], f.line) for f in stack[:len(expected)]] == [
        (function.__name__, _line_of(function, marker)) for function, marker in expected]
    assert len(result) == N
