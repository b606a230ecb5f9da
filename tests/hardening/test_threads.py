"""Threads: start/stop storms under allocation load, estimates with many threads, threads that
start and end around a profile. The risky runs are subprocesses with a timeout, so a crash or a
deadlock fails the test instead of the runner (faulthandler prints every thread's stack first).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import heapprof_nb
from engine.estimates import live_at_end, live_bytes_by_line, sampling_sigma
from engine.known import BYTES_OVERHEAD, MAKE_SITE, make_blocks
from reference_decoder import read_log

from conftest import run_python


# The workload of the allocating threads: small and large objects, lists that grow (realloc),
# dicts, and lzma/bz2 compression, whose libraries allocate through PyMem_RawMalloc with the
# GIL released (RAW hooks called by a thread that does not hold the GIL).
CHURN = """
import bz2, lzma, threading, time
def churn(stop, counter, k):
    keep = []
    payload = bytes(range(256)) * 64
    n = 0
    while not stop.is_set():
        keep.append(bytes(100 + (n % 7) * 300))
        keep.append([n] * (n % 50))
        keep.append({"a": n, "b": str(n)})
        if n % 20 == 0:
            keep.append(bytearray(64 * 1024))
        if n % 50 == k % 50:
            keep.append(lzma.compress(payload, preset=0) if k % 2 else bz2.compress(payload, 1))
        if len(keep) > 400:
            del keep[:300]
        n += 1
    counter[k] = n
"""


@pytest.mark.timeout(300)
def test_200_start_stop_cycles_with_8_threads_churning(tmp_path: Path) -> None:
    code = CHURN + f"""
import faulthandler, json, os, sys, threading, time
import heapprof_nb
from reference_decoder import read_log
faulthandler.dump_traceback_later(200, exit=True)   # a deadlock prints every stack, then exits
stop = threading.Event()
counter = [0] * 8
threads = [threading.Thread(target=churn, args=(stop, counter, k)) for k in range(8)]
for t in threads:
    t.start()
paths, short_lived = [], []
modes = [dict(rate=1), dict(rate=4096), dict(sampling={{128: 0.01, 4096: 0.5}}), dict(rate=65536)]
t0 = time.monotonic()
for i in range(200):
    paths.append(heapprof_nb.start({str(tmp_path)!r} + f"/c{{i:03d}}.hpnb", seed=i, **modes[i % 4]))
    if i % 10 == 0:   # a thread that starts while profiling and outlives the stop
        s = threading.Thread(target=churn, args=(stop, [0] * 100, 60 + i // 10))
        s.start()
        short_lived.append(s)
    time.sleep(0.001 * (i % 3))
    heapprof_nb.stop()
elapsed = time.monotonic() - t0
stop.set()
for t in threads + short_lived:
    t.join(timeout=60)
alive = sum(t.is_alive() for t in threads + short_lived)
complete = 0
events = 0
for p in paths:
    log = read_log(p)
    complete += (not log.truncated) and log.trailer is not None
    events += len(log.kind)
faulthandler.cancel_dump_traceback_later()
print(json.dumps(dict(alive=alive, complete=complete, files=len(paths), events=events,
                      elapsed=elapsed, iterations=counter)))
"""
    result = run_python(code, timeout=280)
    assert result.returncode == 0, result.stderr[-5000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    print(out)
    assert out["alive"] == 0
    assert out["files"] == 200 and out["complete"] == 200
    assert out["events"] > 0
    assert all(n > 0 for n in out["iterations"]), out  # every thread made progress


@pytest.mark.timeout(120)
def test_estimate_with_8_threads_within_4_sigma(tmp_path: Path) -> None:
    """8 threads each keep 2,500 blocks of 1,000 bytes (20 MB in all) under one long profile
    with a fixed seed, while they also churn other sizes; the estimate at the allocating line
    is within 4 sigma of the truth."""
    rate, n, size, n_threads = 16 * 1024, 2500, 1000, 8
    kept: list[list[bytes]] = [[] for _ in range(n_threads)]
    barrier = threading.Barrier(n_threads)

    def worker(k: int) -> None:
        barrier.wait()
        noise = []
        for j in range(5):
            kept[k].extend(make_blocks(n // 5, size))
            noise.append([bytes(50 + j) for _ in range(2000)])  # freed at return
        del noise

    path = heapprof_nb.start(tmp_path / "est.hpnb", rate=rate, seed=2024)
    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        heapprof_nb.stop()
    assert not any(t.is_alive() for t in threads)
    log = read_log(path)
    assert not log.truncated
    block = size + BYTES_OVERHEAD
    truth = n_threads * n * block
    sigma = sampling_sigma(rate, [(block, n_threads * n)])
    estimate = live_bytes_by_line(log).get(MAKE_SITE, 0.0)
    assert abs(estimate - truth) < 4 * sigma, (estimate, truth, sigma)
    # the samples came from all eight threads
    threads_seen = {log.thread[i] for i in live_at_end(log) if log.size[i] == block}
    assert len(threads_seen) == n_threads
    del kept


@pytest.mark.timeout(60)
def test_thread_ending_during_profile_and_thread_outliving_it(tmp_path: Path) -> None:
    """A thread started before the profile ends while it runs; another starts during it and is
    still allocating after stop(). Both are recorded while the profile runs and nothing
    breaks after: the ended thread's state is gone, the surviving one allocates unprofiled."""
    go_on = threading.Event()
    finish_early = threading.Event()
    early_blocks: list[bytes] = []
    late_blocks: list[bytes] = []

    def early() -> None:  # started before the profile, ends during it
        finish_early.wait(10)
        early_blocks.extend(make_blocks(50, 3000))

    def late() -> None:  # started during the profile, ends after it
        late_blocks.extend(make_blocks(50, 4000))
        go_on.wait(10)
        late_blocks.extend(make_blocks(50, 5000))  # after stop(): not profiled

    t_early = threading.Thread(target=early)
    t_early.start()
    path = heapprof_nb.start(tmp_path / "te.hpnb", rate=1)
    t_late = threading.Thread(target=late)
    t_late.start()
    finish_early.set()
    t_early.join(10)
    mine = make_blocks(10, 6000)
    heapprof_nb.stop()
    go_on.set()
    t_late.join(10)
    assert not t_early.is_alive() and not t_late.is_alive()
    log = read_log(path)
    live = live_at_end(log)
    by_size: dict[int, set[int]] = {}
    for i in live:
        by_size.setdefault(log.size[i] - BYTES_OVERHEAD, set()).add(log.thread[i])
    counts = {s: sum(1 for i in live if log.size[i] == s + BYTES_OVERHEAD)
              for s in (3000, 4000, 5000, 6000)}
    assert counts == {3000: 50, 4000: 50, 5000: 0, 6000: 10}
    assert len(by_size[3000] | by_size[4000] | by_size[6000]) == 3  # three threads, three indices
    # and the profiler starts again cleanly with a new set of threads
    path2 = heapprof_nb.start(tmp_path / "te2.hpnb", rate=1)
    t = threading.Thread(target=lambda: late_blocks.extend(make_blocks(5, 7000)))
    t.start()
    t.join(10)
    heapprof_nb.stop()
    log2 = read_log(path2)
    assert sum(1 for i in live_at_end(log2) if log2.size[i] == 7000 + BYTES_OVERHEAD) == 5
    del early_blocks, late_blocks, mine
