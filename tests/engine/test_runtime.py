"""The engine in a real process: other allocator hooks, NumPy, threads, exits, forks, readers."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

import heapprof_nb
from heapprof_nb.errors import ProfileFormatError
from conftest import run_python_profiling
from reference_decoder import LogFollower, read_log

from .estimates import live_at_end, live_bytes_by_line
from .known import BYTES_OVERHEAD, MAKE_LINE, MAKE_SITE, make_blocks

def test_tracemalloc_underneath_keeps_working(tmp_path: Path) -> None:
    tracemalloc.start(5)
    try:
        path = heapprof_nb.start(tmp_path / "t.hpnb", rate=1)
        kept = make_blocks(100, 10000)
        heapprof_nb.stop()
        assert tracemalloc.is_tracing()
        snap = tracemalloc.take_snapshot()
        traced = sum(s.size for s in snap.statistics("lineno")
                     if s.traceback[0].lineno == MAKE_LINE)
        assert traced >= 100 * 10000
        after = make_blocks(10, 10000)  # tracemalloc still sees new allocations after our stop
        snap2 = tracemalloc.take_snapshot()
        assert sum(s.count for s in snap2.statistics("filename")) > 0
        del after
    finally:
        tracemalloc.stop()
    totals = live_bytes_by_line(read_log(path))
    assert totals[MAKE_SITE] >= 100 * (10000 + BYTES_OVERHEAD)
    del kept


def test_tracemalloc_on_top_then_stopped(tmp_path: Path) -> None:
    heapprof_nb.start(tmp_path / "t.hpnb", rate=1)
    tracemalloc.start()
    kept = make_blocks(10, 1000)
    # heapprof stops while tracemalloc sits on top of it: ours stay in place as forwarders
    heapprof_nb.stop()
    assert tracemalloc.is_tracing()
    assert tracemalloc.get_traced_memory()[0] > 10 * 1000
    tracemalloc.stop()
    more = make_blocks(10, 1000)  # and the chain still reaches the real allocator
    assert len(more) == 10 and len(kept) == 10
    path2 = heapprof_nb.start(tmp_path / "t2.hpnb", rate=1)
    again = make_blocks(5, 3000)
    heapprof_nb.stop()
    assert live_bytes_by_line(read_log(path2))[MAKE_SITE] == 5 * (3000 + BYTES_OVERHEAD)
    del again


def test_numpy_arrays_are_sampled(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = heapprof_nb.start(tmp_path / "np.hpnb", rate=1)
    arrays = []
    for _ in range(3):
        arrays.append(np.ones(100_000))
    heapprof_nb.stop()
    log = read_log(path)
    numpy_live = [i for i in live_at_end(log) if log.domain[i] == 3]
    assert sum(log.size[i] for i in numpy_live) == 3 * 800_000
    assert log.meta.get("numpy_hooked") == "1"
    for i in numpy_live:  # np.ones is Python code: the test's frame is its caller
        functions = [frame[1] for frame in log.resolve_stack(log.stack_id[i])]
        assert functions[:2] == ["ones", "test_numpy_arrays_are_sampled"]
    del arrays


def test_numpy_realloc_that_fails_leaves_the_block_live(tmp_path: Path) -> None:
    """ndarray.resize reallocates through NumPy's handler; when the realloc fails the old data is
    still allocated, so the profile must still count it (and count it once)."""
    np = pytest.importorskip("numpy")
    path = heapprof_nb.start(tmp_path / "np-realloc.hpnb", rate=1)
    kept = np.ones(100_000)
    grown = np.ones(50_000)
    grown.resize(200_000, refcheck=False)  # a realloc that works: the new size is live
    with pytest.raises(MemoryError):
        kept.resize(1 << 57, refcheck=False)  # 1 EiB of float64: the realloc fails
    heapprof_nb.stop()
    log = read_log(path)
    numpy_live = sorted(log.size[i] for i in live_at_end(log) if log.domain[i] == 3)
    assert numpy_live == [800_000, 1_600_000]
    assert kept.nbytes == 800_000 and grown.nbytes == 1_600_000
    prof = heapprof_nb.read(path)  # the C digest sees the same live NumPy data
    assert prof.snapshot_at(prof.duration).total >= 2_400_000


def test_numpy_imported_during_profiling(python_subprocess, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("numpy")
    path = tmp_path / "late.hpnb"
    result = python_subprocess(f"""
        import sys, heapprof_nb
        assert "numpy" not in sys.modules
        heapprof_nb.start({str(path)!r}, rate=1)
        import numpy as np
        a = np.zeros(250_000)
        heapprof_nb.stop()
        from reference_decoder import read_log
        log = read_log({str(path)!r})
        print(sum(log.size[i] for i in range(len(log.kind)) if log.kind[i] == 0 and log.domain[i] == 3 and log.ref[i] == -1))
    """)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) >= 2_000_000


def test_without_numpy(python_subprocess, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nonp.hpnb"
    result = python_subprocess(f"""
        import sys
        sys.modules["numpy"] = None  # import numpy now fails, as on a machine without it
        import heapprof_nb
        heapprof_nb.start({str(path)!r}, rate=1)
        try:
            import numpy
        except ImportError:
            pass
        x = [bytes(100) for _ in range(100)]
        heapprof_nb.stop()
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def churn(stop: threading.Event) -> None:
    keep: list[bytes] = []
    while not stop.is_set():
        keep.append(bytes(300))
        if len(keep) > 500:
            del keep[:250]


def test_start_stop_cycles_with_threads_allocating(tmp_path: Path) -> None:
    stop = threading.Event()
    threads = [threading.Thread(target=churn, args=(stop,)) for _ in range(4)]
    for t in threads:
        t.start()
    paths = []
    try:
        for k in range(40):
            paths.append(heapprof_nb.start(tmp_path / f"c{k}.hpnb", rate=4096 if k % 2 else 1))
            time.sleep(0.002)
            heapprof_nb.stop()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    for path in paths[::5] + paths[-2:]:  # reading is the slow part; a sample of both modes
        log = read_log(path)
        assert not log.truncated and log.trailer is not None


def test_thread_started_and_ended_during_profile(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "te.hpnb", rate=1)
    box: list[object] = []
    t = threading.Thread(target=lambda: box.append(make_blocks(20, 2000)))
    t.start()
    t.join()
    more = make_blocks(5, 2000)
    heapprof_nb.stop()
    log = read_log(path)
    threads_with_blocks = {log.thread[i] for i in live_at_end(log) if log.size[i] == 2000 + BYTES_OVERHEAD}
    assert len(threads_with_blocks) == 2
    del box, more


def test_log_cut_at_every_byte(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "cut.hpnb", rate=1, max_frames=8)
    kept = make_blocks(3, 100)
    heapprof_nb.mark("m")
    del kept
    heapprof_nb.stop()
    data = Path(path).read_bytes()
    full = read_log(data)
    assert not full.truncated
    header_end = full.header.header_end
    previous = 0
    for cut in range(len(data)):
        if cut < header_end:
            with pytest.raises(ProfileFormatError):
                read_log(data[:cut])
            continue
        log = read_log(data[:cut])
        assert log.truncated
        assert len(log.kind) >= previous and list(log.kind) == list(full.kind[: len(log.kind)])
        previous = len(log.kind)


def test_reading_while_writing(tmp_path: Path) -> None:
    # The default rate: at a very fine rate the follower's own allocations would be most of what
    # it reads back.
    path = heapprof_nb.start(tmp_path / "live.hpnb")
    follower = LogFollower(path)
    seen = []
    keep: list[bytes] = []
    try:
        for _ in range(6):
            keep.extend(make_blocks(3000, 2000))
            time.sleep(0.15)  # longer than the 100 ms flush interval
            follower.poll()
            seen.append(len(follower.log.kind))
    finally:
        heapprof_nb.stop()
    follower.poll()
    final = follower.log
    assert seen == sorted(seen) and seen[0] > 0
    assert not final.truncated
    assert any(k == 2 for k in final.kind), "the flush thread writes RSS ticks"
    assert len(final.kind) == len(read_log(path).kind)


def test_profiled_code_raising_keeps_the_profile(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        with heapprof_nb.profile(tmp_path / "e.hpnb", rate=1) as p:
            kept = make_blocks(10, 1000)
            1 / 0
    assert not heapprof_nb.is_running()
    log = read_log(p.path)  # type: ignore[arg-type]
    assert not log.truncated and len(live_at_end(log)) > 0
    del kept


def test_exit_without_stop_flushes(tmp_path: Path) -> None:
    path = tmp_path / "exit.hpnb"
    result = run_python_profiling(path, """
        keep = [bytes(1000) for _ in range(1000)]
        sys.exit(3)
    """)
    assert result.returncode == 3, result.stderr
    log = read_log(path)
    assert not log.truncated and log.trailer is not None


def test_hard_exit_keeps_what_was_flushed(tmp_path: Path) -> None:
    path = tmp_path / "hard.hpnb"
    result = run_python_profiling(path, """
        keep = [bytes(1000) for _ in range(1000)]
        time.sleep(0.4)
        os._exit(0)
    """)
    assert result.returncode == 0, result.stderr
    log = read_log(path)
    assert log.truncated and log.trailer is None
    assert sum(1 for i in live_at_end(log) if log.size[i] == 1000 + BYTES_OVERHEAD) == 1000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_stops_parent_continues(python_subprocess, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "fork.hpnb"
    child_path = tmp_path / "child.hpnb"
    result = python_subprocess(f"""
        import os, sys, heapprof_nb
        from reference_decoder import read_log
        heapprof_nb.start({str(path)!r}, rate=1)
        before = [bytes(1111) for _ in range(100)]
        pid = os.fork()
        if pid == 0:
            ok = not heapprof_nb.is_running()
            junk = [bytes(2222) for _ in range(100)]
            heapprof_nb.start({str(child_path)!r}, rate=1)   # the child may profile itself anew
            mine = [bytes(3333) for _ in range(10)]
            heapprof_nb.stop()
            os._exit(0 if ok else 7)
        _, status = os.waitpid(pid, 0)
        after = [bytes(4444) for _ in range(100)]
        heapprof_nb.stop()
        log = read_log({str(path)!r})
        sizes = {{log.size[i] for i in range(len(log.kind)) if log.kind[i] == 0}}
        child = read_log({str(child_path)!r})
        child_sizes = {{child.size[i] for i in range(len(child.kind)) if child.kind[i] == 0}}
        print(os.waitstatus_to_exitcode(status), log.truncated,
              1111 + 33 in sizes, 4444 + 33 in sizes, 2222 + 33 in sizes, 3333 + 33 in child_sizes)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False", "True", "True", "False", "True"]


def test_profile_stays_the_context_manager_after_reading() -> None:
    # Reading a profile imports the reader module; heapprof_nb.profile stays the API's name.
    from heapprof_nb.digest.profile import read  # noqa: F401

    assert heapprof_nb.profile is heapprof_nb._api.profile
    assert heapprof_nb.Profile is heapprof_nb.digest.profile.Profile
