"""Estimates computed straight from a log with the reference reader: the oracle the engine's
tests compare against known totals."""

from __future__ import annotations

import math
from collections import defaultdict

from reference_decoder import RawLog, read_log, weight


def live_at_end(log: RawLog) -> list[int]:
    """Indices of ALLOC events never freed."""
    return [i for i in range(len(log.kind)) if log.kind[i] == 0 and log.ref[i] == -1]


def leaf(log: RawLog, i: int) -> tuple[str, str, int] | None:
    stack = log.resolve_stack(log.stack_id[i])
    return stack[0] if stack else None


def live_bytes_by_line(log: RawLog) -> dict[tuple[str, int], float]:
    """Estimated live bytes at the end of the run per (function, line) of the allocating frame."""
    out: dict[tuple[str, int], float] = defaultdict(float)
    for i in live_at_end(log):
        frame = leaf(log, i)
        key = (frame[1], frame[2]) if frame else ("", 0)
        out[key] += weight(log.header, log.size[i])[0]
    return dict(out)


def sampling_sigma(rate: float, sizes_and_counts: list[tuple[int, int]]) -> float:
    """One-sigma error of a byte-sampled estimate of n blocks of size s: sqrt(n s^2 (1-p)/p)."""
    var = 0.0
    for size, count in sizes_and_counts:
        p = -math.expm1(-size / rate)
        var += count * size * size * (1 - p) / p
    return math.sqrt(var)


def read(path: str) -> RawLog:
    return read_log(path)
