"""Shared fixtures: every test starts and ends with no profiler hooked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # for `import logbuilder` and `import helpers`
    sys.path.insert(0, str(TESTS_DIR))


def _native_state() -> tuple[bool, bool, int]:
    try:
        from heapprof_nb import _native
    except ImportError:
        return (False, False, 0)
    return (bool(_native.is_running()), bool(_native.stats_running()), _native.quiet_depth())


@pytest.fixture(autouse=True)
def no_profiler_left_running() -> Iterator[None]:
    """Fail a test that leaves the sampler hooked, or this thread inside a quiet section (its
    allocations would go unsampled in every later test), and clean up so later tests run clean."""
    assert _native_state() == (False, False, 0), "a profiler was running before the test"
    yield
    running, stats, quiet = _native_state()
    if running or stats or quiet:
        from heapprof_nb import _native

        if running:
            _native.stop()
        if stats:
            _native.stats_stop()
        for _ in range(quiet):
            _native.set_quiet(False)
        pytest.fail(f"the test left a profiler running ({running}), stats mode on ({stats}) "
                    f"or {quiet} quiet sections open")


def run_python(code: str, *, timeout: float = 120, env: dict[str, str] | None = None,
               cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (a crash there is a failed test, not a dead runner)."""
    full_env = dict(os.environ)
    # The child imports the tests' own modules too (reference_decoder, logbuilder).
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd,
    )


def run_python_profiling(path: str | Path, code: str, *,
                         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``run_python(code)`` after the child has started profiling every allocation into ``path``
    (``os``, ``sys``, ``time`` and ``heapprof_nb`` imported). ``code`` decides how it ends."""
    prologue = f"import os, sys, time, heapprof_nb\nheapprof_nb.start({str(path)!r}, rate=1)\n"
    return run_python(prologue + textwrap.dedent(code), timeout=timeout)


@pytest.fixture
def python_subprocess():  # type: ignore[no-untyped-def]
    return run_python
