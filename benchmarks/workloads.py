"""Allocation workloads with a known shape, for the accuracy measurements (accuracy.py).

Each workload is ``fn(scale, mark)``: it allocates about ``scale`` times its nominal heap and
calls ``mark(label)`` at the moments the analysis needs (``peak``: everything the workload keeps
is live; ``leak_start``/``leak_end``; ``spike_start``/``spike_end``). Every allocation site that
matters is its own source line, so the per-line statistics of tracemalloc (the second truth)
and the leaf frames of heapprof_nb name the same sites. ``SITES`` tells which function holds
the line a workload's leak or spike comes from.

Nominal peaks at scale 1 are 60 MB or more, so the "peak within 5 % for heaps of 50 MB or more"
target applies to every workload.
"""

from __future__ import annotations

import threading
from typing import Callable

MB = 1 << 20
Mark = Callable[[str], None]


def _n(total: float, size: int) -> int:
    """How many objects of payload ``size`` make ``total`` bytes (bytes header + list slot)."""
    return max(1, int(total / (size + 33 + 8)))


def small_objects(scale: float, mark: Mark) -> None:
    """80 MB of bytes objects from 12 lines with shares 20 %, 15 %, ... 1 %, sizes 40 B - 20 KB."""
    t = 80 * MB * scale
    keep = []
    keep.append([bytes(40) for _ in range(_n(0.20 * t, 40))])
    keep.append([bytes(64) for _ in range(_n(0.15 * t, 64))])
    keep.append([bytes(100) for _ in range(_n(0.12 * t, 100))])
    keep.append([bytes(150) for _ in range(_n(0.10 * t, 150))])
    keep.append([bytes(250) for _ in range(_n(0.09 * t, 250))])
    keep.append([bytes(400) for _ in range(_n(0.08 * t, 400))])
    keep.append([bytes(700) for _ in range(_n(0.07 * t, 700))])
    keep.append([bytes(1000) for _ in range(_n(0.06 * t, 1000))])
    keep.append([bytes(1500) for _ in range(_n(0.05 * t, 1500))])
    keep.append([bytes(3000) for _ in range(_n(0.04 * t, 3000))])
    keep.append([bytes(5000) for _ in range(_n(0.03 * t, 5000))])
    keep.append([bytes(20000) for _ in range(_n(0.01 * t, 20000))])
    mark("peak")
    del keep


def large_few(scale: float, mark: Mark) -> None:
    """A few large buffers (1-30 MB) from 3 lines, next to 8 MB of small objects: 90 MB."""
    s = scale
    small = [bytes(120) for _ in range(_n(8 * MB * s, 120))]
    big = [bytearray(int(30 * MB * s)), bytearray(int(20 * MB * s))]
    mid = [bytearray(int(5 * MB * s)) for _ in range(4)]
    odd = [bytearray(int(1 * MB * s) + 12345 * i) for i in range(12)]
    mark("peak")
    del small, big, mid, odd


def numpy_arrays(scale: float, mark: Mark) -> None:
    """NumPy data buffers (through NumPy's allocator, not PyMem): 100 MB in 4 shapes."""
    import numpy as np

    s = scale
    many_small = [np.ones(100) for _ in range(int(20000 * s))]          # 800 B each, 16 MB
    medium = [np.ones(10_000) for _ in range(int(400 * s))]             # 80 KB each, 32 MB
    large = [np.zeros(1_000_000) for _ in range(int(3 * s) or 1)]       # 8 MB each, 24 MB
    grids = [np.empty((512, 512)) for _ in range(int(14 * s) or 1)]     # 2 MB each, 28 MB
    mark("peak")
    del many_small, medium, large, grids


def _leak_churn() -> int:
    tmp = [bytes(300) for _ in range(3000)]
    return len(tmp)


def _leak_step(store: list) -> None:
    store.append([bytes(90) for _ in range(1000)])


def leak(scale: float, mark: Mark) -> None:
    """A 30 MB working set, 400 iterations of 1 MB churn and a 130 KB/iteration leak (52 MB)."""
    working = [bytes(200) for _ in range(_n(30 * MB * scale, 200))]
    store: list = []
    mark("leak_start")
    for _ in range(int(400 * scale)):
        _leak_churn()
        _leak_step(store)
    mark("leak_end")
    mark("peak")
    del working, store


def _spike_burst(scale: float, mark: Mark) -> None:
    mark("spike_start")
    burst = [bytes(1000) for _ in range(int(70_000 * scale))]   # 73 MB for a moment
    mark("peak")
    del burst
    mark("spike_end")


def _spike_background(n: int) -> list:
    return [bytes(60) for _ in range(n)]


def spike(scale: float, mark: Mark) -> None:
    """A 30 MB steady heap with churn before and after a short 73 MB spike of 1 KB objects."""
    steady = _spike_background(_n(30 * MB * scale, 60))
    for _ in range(50):
        _ = [bytes(300) for _ in range(2000)]
    _spike_burst(scale, mark)
    for _ in range(50):
        _ = [bytes(300) for _ in range(2000)]
    del steady


def _thread_a(n: int, hold: threading.Barrier, out: list) -> None:
    out.append([bytes(80) for _ in range(n)])
    hold.wait()
    hold.wait()


def _thread_b(n: int, hold: threading.Barrier, out: list) -> None:
    out.append([bytearray(600) for _ in range(n)])
    hold.wait()
    hold.wait()


def _thread_c(n: int, hold: threading.Barrier, out: list) -> None:
    out.append([str(i) * 50 for i in range(n)])
    hold.wait()
    hold.wait()


def threads(scale: float, mark: Mark) -> None:
    """Four threads building 20 + 25 + 15 + 20 MB at once from their own lines; peak while all hold."""
    hold = threading.Barrier(5)
    out: list = []
    ts = [
        threading.Thread(target=_thread_a, args=(_n(20 * MB * scale, 80), hold, out)),
        threading.Thread(target=_thread_b, args=(int(25 * MB * scale / 700), hold, out)),
        threading.Thread(target=_thread_c, args=(int(15 * MB * scale / 330), hold, out)),
        threading.Thread(target=_thread_a, args=(_n(20 * MB * scale, 80), hold, out)),
    ]
    for t in ts:
        t.start()
    hold.wait()
    mark("peak")
    hold.wait()
    for t in ts:
        t.join()
    del out


WORKLOADS: dict[str, Callable[[float, Mark], None]] = {
    "small_objects": small_objects,
    "large_few": large_few,
    "numpy_arrays": numpy_arrays,
    "leak": leak,
    "spike": spike,
    "threads": threads,
}

#: workload -> (function whose line is the site to find, what finding means)
SITES = {
    "leak": ("_leak_step", "top growth site between leak_start and leak_end"),
    "spike": ("_spike_burst", "estimated peak inside the spike, and the spike's line its top site"),
}
