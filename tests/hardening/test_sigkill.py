"""SIGKILL at random moments of a profiled run: what reached the file reads back.

20 trials, each a subprocess that profiles a busy workload (allocations, frees, markers, a second
thread) and is killed with SIGKILL after a delay drawn from a fixed seed. The file must then
read back cleanly up to the last complete record with both readers (``reader.read_log`` and
``heapprof_nb.read``, the C digest), say it was truncated, and the history, snapshot and window
views (and ``heapprof_nb.notebook.view.ProfileView`` where ipywidgets is installed) must work on it.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import heapprof_nb
from reference_decoder import KIND_ALLOC, KIND_FREE, KIND_MARKER, read_log

TRIALS = 20
SEED = 20261122

WORKLOAD = """
import sys, threading, time, heapprof_nb
path, rate = sys.argv[1], int(sys.argv[2])
heapprof_nb.start(path, rate=rate, seed=7, max_frames=32)
print("started", flush=True)
def side():
    keep = []
    while True:
        keep.append(bytearray(3000))
        if len(keep) > 200:
            del keep[:150]
        time.sleep(0.0005)
threading.Thread(target=side, daemon=True).start()
keep, i = [], 0
while True:
    keep.append([bytes(500 + i % 900) for _ in range(20)])
    if len(keep) > 500:
        del keep[:400]
    if i % 100 == 0:
        heapprof_nb.mark(f"step {i}")
    i += 1
    time.sleep(0.0005)   # about 20 MB/s: a busy run, and logs the test reads in seconds
"""


def _view_works(profile: Any) -> str:
    try:
        from heapprof_nb.notebook import view
    except ImportError:
        return "no view module"
    if not view.available():
        return "view unavailable"
    v = view.ProfileView(profile)
    v.select_all()
    flame = v.flame_html
    assert "<" in (flame() if callable(flame) else flame)
    return "view"


def _check_killed_log(path: Path, with_view: bool) -> dict[str, object]:
    data = path.read_bytes()
    log = read_log(path)
    assert log.truncated and log.trailer is None
    # decoded up to the last complete record: at most one record is cut at the end
    assert log.bytes_read <= len(data)
    assert len(data) - log.bytes_read < 1 << 20
    assert read_log(data[: log.bytes_read]).records == log.records
    assert list(log.time_ns) == sorted(log.time_ns)
    for i in range(len(log.kind)):  # every FREE event frees an ALLOC before it
        if log.kind[i] == KIND_FREE:
            j = log.ref[i]
            assert 0 <= j < i and log.kind[j] == KIND_ALLOC and log.ref[j] == i
    prof = heapprof_nb.read(path, cache=False)
    assert prof.truncated and not prof.complete and prof.counters is None
    assert prof.digest_counters["records"] == log.records
    hist = prof.history(points=100)
    assert len(hist) >= 1 and all(math.isfinite(x) for x in hist.total)
    t, peak = prof.peak()
    assert 0 <= t <= prof.duration and peak >= 0
    snap = prof.snapshot_at(t)
    snap.statistics("lineno")
    prof.window(0.0, prof.duration).measures()
    view = _view_works(prof) if with_view else "skipped"
    n_alloc = sum(1 for k in log.kind if k == KIND_ALLOC)
    markers = sum(1 for k in log.kind if k == KIND_MARKER)
    return {"bytes": len(data), "records": log.records, "allocs": n_alloc, "markers": markers,
            "view": view}


@pytest.mark.timeout(420)
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    moments = [rng.uniform(0.0, 1.5) for _ in range(TRIALS)]
    here = str(Path(heapprof_nb.__file__).resolve().parents[1])  # the build under test
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in [here, os.environ.get("PYTHONPATH")] if p))
    results = []
    for k, delay in enumerate(moments):
        path = tmp_path / f"killed{k:02d}.hpnb"
        rate = 1 if k % 4 == 0 else 4096
        proc = subprocess.Popen([sys.executable, "-c", WORKLOAD, str(path), str(rate)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == b"started", proc.stderr.read() if proc.stderr else b""
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        results.append((round(delay, 3), rate, _check_killed_log(path, with_view=k % 5 == 0)))
    for r in results:
        print(r)
    # the later kills found more than the header: the flush thread wrote while the run went on
    assert sum(1 for _, _, r in results if r["allocs"]) >= TRIALS // 2  # type: ignore[index]
