"""The engine subset tests/hardening/memcheck.sh runs under valgrind memcheck.

Small but covering every path of the engine and both readers: the three sampling modes,
start/stop cycles, threads (one of them ending while profiled, RAW allocations without the GIL
through lzma), realloc (growing bytearrays and lists), markers and META, NumPy's allocator if
NumPy is there, stats mode, a fork whose child profiles itself, a disk-full-like write failure
(/dev/full), then the reference reader, the C digest (history, snapshot, window, dump/load)
and a corrupt log. Prints "memcheck workload ok" at the end.
"""

from __future__ import annotations

import lzma
import os
import sys
import tempfile
import threading

import heapprof_nb
from heapprof_nb import _api, _digest
from heapprof_nb.errors import ProfileFormatError
from reference_decoder import read_log


def churn(n: int) -> list[object]:
    keep: list[object] = []
    grow = bytearray()
    for i in range(n):
        keep.append(bytes(50 + i % 3000))
        keep.append([i] * (i % 40))
        grow += b"x" * 97  # realloc
        if i % 100 == 0:
            keep.append(lzma.compress(bytes(2000), preset=0))  # RAW allocations, GIL released
        if len(keep) > 300:
            del keep[:200]
    keep.append(grow)
    return keep


def profile_once(path: str, **options: object) -> str:
    heapprof_nb.start(path, **options)  # type: ignore[arg-type]
    threads = [threading.Thread(target=churn, args=(2000,)) for _ in range(3)]
    for t in threads:
        t.start()
    heapprof_nb.mark("threads running")
    _api._add_meta("cell_source:<x>", "churn(2000)\n")
    kept = churn(2000)
    for t in threads:
        t.join()
    try:
        import numpy as np

        arrays = [np.ones(10_000 + i) for i in range(20)]
        del arrays[::2]
    except ImportError:
        pass
    heapprof_nb.stop()
    del kept
    return path


def read_everything(path: str) -> None:
    log = read_log(path)
    assert not log.truncated and len(log.kind) > 0
    prof = heapprof_nb.read(path)
    prof.history(points=50)
    t, _ = prof.peak()
    prof.snapshot_at(t).statistics("lineno")
    prof.window(0.0, prof.duration).measures()
    data = open(path, "rb").read()
    d = _digest.Digester(max_buckets=4, index_limit=0)
    d.feed(data[: len(data) // 2])
    d.feed(data[len(data) // 2 :])
    d.history(10, 3)
    fd = os.open(path, os.O_RDONLY)
    try:
        d.window(0, d.info()["end_ns"], False, fd)
    finally:
        os.close(fd)
    _digest.Digester.load(d.dump()).history(5, 2)
    broken = bytearray(data)
    for k in range(40, len(broken), max(1, len(broken) // 50)):
        broken[k] ^= 0x5A
    for reader in (lambda b: read_log(bytes(b)), lambda b: _digest.Digester().feed(bytes(b))):
        try:
            reader(broken)
        except ProfileFormatError:
            pass


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="hpnb-memcheck-")
    paths = [
        profile_once(os.path.join(tmp, "exact.hpnb"), rate=1, max_frames=16),
        profile_once(os.path.join(tmp, "bytes.hpnb"), rate=4096, seed=3),
        profile_once(os.path.join(tmp, "sizes.hpnb"), sampling={128: 0.05, 4096: 0.5}),
    ]
    for k in range(5):  # start/stop cycles
        heapprof_nb.start(os.path.join(tmp, f"cycle{k}.hpnb"), rate=1024)
        churn(200)
        heapprof_nb.stop()
    heapprof_nb.gather_stats()
    churn(1000)
    heapprof_nb.stop_stats()
    heapprof_nb.start(os.path.join(tmp, "fork.hpnb"), rate=1)
    pid = os.fork()
    if pid == 0:
        churn(100)
        heapprof_nb.start(os.path.join(tmp, "child.hpnb"), rate=1)
        churn(100)
        heapprof_nb.stop()
        os._exit(0)
    os.waitpid(pid, 0)
    churn(100)
    heapprof_nb.stop()
    paths += [os.path.join(tmp, "fork.hpnb"), os.path.join(tmp, "child.hpnb")]
    try:
        heapprof_nb.start("/dev/full")
    except OSError:
        pass
    for p in paths:
        read_everything(p)
    print("memcheck workload ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
