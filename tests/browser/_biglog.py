"""A large synthetic heapprof_nb log for the latency measurement: ~1 million events, 50,000 stacks.

The generator is the digest benchmark's (``benchmarks/bench_digest.py``, its window profile:
mode 2, every allocation with its exact weight, uniform stacks of 16 frames under 50 shared
roots, 40 % of the blocks never freed, so a span's snapshot holds nearly every stack and the
flame graph has structure). Loaded by path: the benchmarks are not a package. Takes a few seconds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCH_DIGEST = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_digest.py"


def _bench_digest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("heapprof_nb_bench_digest", BENCH_DIGEST)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the log generator from {BENCH_DIGEST}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_log(path: Path, *, n_events: int = 1_000_000, n_stacks: int = 50_000,
              depth: int = 16, seed: int = 2) -> dict[str, int]:
    """Write the log; returns its facts (events, allocations, frees, stacks, bytes)."""
    facts: dict[str, int] = _bench_digest().generate_events(
        path, n_events, n_stacks, depth, seed, never_p=0.4, zipf=False)
    return facts
