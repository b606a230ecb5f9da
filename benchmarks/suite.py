"""The pyperformance benchmarks used for the overhead measurements, loaded without pyperf's runner.

pyperformance (PyPI) ships each benchmark as ``data-files/benchmarks/bm_*/run_benchmark.py``, a
script that builds a ``pyperf.Runner`` and registers one or more timed functions with it. We do
not let pyperf drive them (it spawns its own worker processes, which we need to control: every
worker here runs under one profiler, started in-process after the benchmark's setup). Instead
``load()`` replaces ``pyperf.Runner`` with a recorder, runs the script as ``__main__`` and returns
the registered function as ``time_func(loops) -> seconds``, exactly the contract of pyperf's
``bench_time_func``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import runpy
import sys
import time
from typing import Any, Callable

#: name -> (benchmark folder, script arguments, name of the registered benchmark)
BENCHMARKS: dict[str, tuple[str, list[str], str]] = {
    "json_dumps": ("bm_json_dumps", [], "json_dumps"),
    "json_loads": ("bm_json_loads", [], "json_loads"),
    "deepcopy": ("bm_deepcopy", [], "deepcopy"),
    "pickle_pure_python": ("bm_pickle", ["--pure-python", "pickle"], "pickle_pure_python"),
    "unpickle_pure_python": ("bm_pickle", ["--pure-python", "unpickle"], "unpickle_pure_python"),
    "deltablue": ("bm_deltablue", [], "deltablue"),
    "richards": ("bm_richards", [], "richards"),
    "raytrace": ("bm_raytrace", [], "raytrace"),
    "go": ("bm_go", [], "go"),
    "hexiom": ("bm_hexiom", [], "hexiom"),
    "nbody": ("bm_nbody", [], "nbody"),
    "float": ("bm_float", [], "float"),
    "regex_compile": ("bm_regex_compile", [], "regex_compile"),
    "logging": ("bm_logging", ["simple"], "logging_simple"),
    "tornado_http": ("bm_tornado_http", [], "tornado_http"),
}

ALL = list(BENCHMARKS)
#: the short subset measured under callgrind (a mix of allocation-heavy and compute-bound ones)
CALLGRIND_SUBSET = [
    "json_dumps", "json_loads", "deepcopy", "pickle_pure_python", "unpickle_pure_python",
    "deltablue", "hexiom", "logging", "richards", "go", "nbody", "float",
]
#: benchmarks whose one iteration is long (0.1 s or more): under callgrind they get fewer runs
CALLGRIND_HEAVY = {"richards", "go", "nbody", "float"}
QUICK = ["json_dumps", "deepcopy", "pickle_pure_python", "unpickle_pure_python", "logging"]
QUICK_CALLGRIND = ["deepcopy", "logging", "unpickle_pure_python"]


def data_dir() -> str:
    import pyperformance

    return os.path.join(os.path.dirname(pyperformance.__file__), "data-files", "benchmarks")


class _Recorder:
    """Stands in for ``pyperf.Runner``: parses the script's options, records its benchmarks."""

    def __init__(self, *args: Any, add_cmdline_args: Any = None, **kwargs: Any) -> None:
        self.argparser = argparse.ArgumentParser()
        self.metadata: dict[str, Any] = {}
        self.args: argparse.Namespace | None = None
        self.recorded: dict[str, Callable[[int], float]] = {}
        _Recorder.last = self

    last: "_Recorder | None" = None
    script_args: list[str] = []

    def parse_args(self, args: list[str] | None = None) -> argparse.Namespace:
        self.args = self.argparser.parse_args(_Recorder.script_args if args is None else args)
        return self.args

    def bench_time_func(self, name: str, time_func: Callable[..., float], *args: Any,
                        inner_loops: Any = None, metadata: Any = None) -> None:
        self.recorded[name] = lambda loops: time_func(loops, *args)

    def bench_func(self, name: str, func: Callable[..., Any], *args: Any,
                   inner_loops: Any = None, metadata: Any = None) -> None:
        def timed(loops: int) -> float:
            t0 = time.perf_counter()
            for _ in range(loops):
                func(*args)
            return time.perf_counter() - t0

        self.recorded[name] = timed

    def bench_async_func(self, name: str, func: Callable[..., Any], *args: Any,
                         inner_loops: Any = None, metadata: Any = None) -> None:
        def timed(loops: int) -> float:
            async def main() -> float:
                t0 = time.perf_counter()
                for _ in range(loops):
                    await func(*args)
                return time.perf_counter() - t0

            return asyncio.run(main())

        self.recorded[name] = timed

    def bench_command(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("command benchmarks are not used here")


def load(name: str) -> Callable[[int], float]:
    """Run benchmark ``name``'s script (its setup) and return its ``time_func(loops)``."""
    import pyperf

    folder, script_args, registered = BENCHMARKS[name]
    path = os.path.join(data_dir(), folder)
    sys.path.insert(0, path)
    pyperf.Runner = _Recorder  # type: ignore[misc,assignment]
    _Recorder.script_args = list(script_args)
    saved_argv = sys.argv
    sys.argv = [os.path.join(path, "run_benchmark.py"), *script_args]
    try:
        runpy.run_path(os.path.join(path, "run_benchmark.py"), run_name="__main__")
    finally:
        sys.argv = saved_argv
    runner = _Recorder.last
    if runner is None or registered not in runner.recorded:
        found = sorted(runner.recorded) if runner else []
        raise RuntimeError(f"{name}: the script registered {found}, not {registered!r}")
    return runner.recorded[registered]
