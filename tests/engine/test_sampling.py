"""Known totals: allocate exactly what we then estimate, exactly (rate=1) and by sampling."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

import heapprof_nb
from reference_decoder import read_log, weight

from .estimates import live_at_end, live_bytes_by_line, sampling_sigma
from .known import BYTES_OVERHEAD, MAKE_LINE, MAKE_SITE, make_blocks

def block_site(log_line_totals: dict[tuple[str, int], float]) -> float:
    return log_line_totals.get(MAKE_SITE, 0.0)


def test_exact_mode_counts_every_byte(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "exact.hpnb", rate=1)
    kept = make_blocks(3000, 1000)
    freed = make_blocks(2000, 500)
    del freed
    heapprof_nb.stop()
    log = read_log(path)
    assert log.header.mode == 2 and not log.truncated
    assert block_site(live_bytes_by_line(log)) == 3000 * (1000 + BYTES_OVERHEAD)
    # every block of the freed list was allocated and freed, each once
    frees = sum(1 for k in log.kind if k == 1)
    assert frees >= 2000
    assert log.trailer is not None and log.trailer["samples"] == sum(1 for k in log.kind if k == 0)
    assert len(kept) == 3000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_byte_sampling_estimate_within_error(tmp_path: Path, seed: int) -> None:
    rate, n, size = 16 * 1024, 20000, 1000
    path = heapprof_nb.start(tmp_path / "s.hpnb", rate=rate, seed=seed)
    kept = make_blocks(n, size)
    heapprof_nb.stop()
    log = read_log(path)
    block = size + BYTES_OVERHEAD
    truth = n * block
    sigma = sampling_sigma(rate, [(block, n)])
    estimate = block_site(live_bytes_by_line(log))
    assert abs(estimate - truth) < 4 * sigma, (estimate, truth, sigma)
    assert sigma / truth < 0.05
    del kept


def test_large_blocks_are_almost_always_sampled(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "big.hpnb", rate=64 * 1024, seed=7)
    kept = make_blocks(50, 4 * 1024 * 1024)
    heapprof_nb.stop()
    estimate = block_site(live_bytes_by_line(read_log(path)))
    truth = 50 * (4 * 1024 * 1024 + BYTES_OVERHEAD)
    assert abs(estimate - truth) / truth < 1e-6
    del kept


def test_size_bucket_sampling(tmp_path: Path) -> None:
    n, size = 20000, 1000
    path = heapprof_nb.start(tmp_path / "b.hpnb", sampling={256: 0.01, 4096: 0.25}, seed=3)
    kept = make_blocks(n, size)
    big = make_blocks(10, 10000)  # above the largest limit: always sampled
    heapprof_nb.stop()
    log = read_log(path)
    assert log.header.mode == 1
    assert log.header.buckets == ((0, 0.01), (256, 0.25), (4096, 1.0))
    block = size + BYTES_OVERHEAD
    truth = n * block + 10 * (10000 + BYTES_OVERHEAD)
    p = 0.25
    sigma = math.sqrt(n * block * block * (1 - p) / p)
    estimate = block_site(live_bytes_by_line(log))
    assert abs(estimate - truth) < 4 * sigma
    assert weight(log.header, 10000 + BYTES_OVERHEAD) == (10000 + BYTES_OVERHEAD, 1.0)
    del kept, big


def test_seed_makes_sampling_repeatable(python_subprocess, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code = """
        import heapprof_nb, sys
        from reference_decoder import read_log
        heapprof_nb.start(sys.argv[1] if len(sys.argv) > 1 else PATH, rate=8192, seed=99)
        keep = [bytes(700) for _ in range(5000)]
        heapprof_nb.stop()
        log = read_log(PATH)
        print(sorted(log.size[i] for i in range(len(log.kind)) if log.kind[i] == 0 and log.size[i] == 733))
    """
    outs = []
    for k in range(2):
        path = tmp_path / f"r{k}.hpnb"
        result = python_subprocess(f"PATH = {str(path)!r}\n" + code.replace("        ", ""))
        assert result.returncode == 0, result.stderr
        outs.append(result.stdout)
    assert outs[0] == outs[1] and outs[0].count("733") > 100


def worker(n: int, size: int, out: list[object]) -> None:
    out.append(make_blocks(n, size))


def test_threads_each_attributed(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "t.hpnb", rate=1)
    results: list[object] = []
    threads = [threading.Thread(target=worker, args=(1000, 100 * (k + 1), results)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    heapprof_nb.stop()
    log = read_log(path)
    by_thread: dict[int, float] = {}
    for i in live_at_end(log):
        stack = log.resolve_stack(log.stack_id[i])
        if stack and stack[0][1] == "make_blocks" and stack[0][2] == MAKE_LINE:
            by_thread[log.thread[i]] = by_thread.get(log.thread[i], 0) + log.size[i]
    assert sorted(by_thread.values()) == [1000 * (100 * (k + 1) + BYTES_OVERHEAD) for k in range(4)]
    assert len(log.threads) >= 4
    assert len(set(log.threads.values())) == len(log.threads)  # distinct OS thread ids


def test_realloc_moves_the_sample(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "r.hpnb", rate=1)
    grown = bytearray()
    for _ in range(2000):
        grown += b"x" * 100
    heapprof_nb.stop()
    log = read_log(path)
    live_sizes = [log.size[i] for i in live_at_end(log)]
    # the bytearray's buffer is live once, at (at least) its final size; older buffers were freed
    assert sum(1 for s in live_sizes if s >= 200000) == 1
    assert log.unmatched_frees == 0
    del grown


def test_stack_of_notebook_style_filenames(tmp_path: Path) -> None:
    code = compile("def cell_fn():\n    return [bytes(5000) for _ in range(50)]\nx = cell_fn()\n",
                   "<ipython-input-7-abcdef>", "exec")
    namespace: dict[str, object] = {}
    path = heapprof_nb.start(tmp_path / "c.hpnb", rate=1, max_frames=4)
    exec(code, namespace)
    heapprof_nb.stop()
    log = read_log(path)
    stacks = [log.resolve_stack(log.stack_id[i]) for i in live_at_end(log) if log.size[i] == 5000 + BYTES_OVERHEAD]
    assert len(stacks) == 50
    assert stacks[0][0][0] == "<ipython-input-7-abcdef>"
    assert stacks[0][0][2] == 2
    assert any(f[1] == "cell_fn.<locals>.<listcomp>" or f[1] == "cell_fn" for f in stacks[0])
    assert all(len(s) <= 4 for s in stacks)
    assert log.trailer is not None and log.trailer["truncated_stacks"] >= 1


def test_markers_and_counters(tmp_path: Path) -> None:
    path = heapprof_nb.start(tmp_path / "m.hpnb", rate=1)
    heapprof_nb.mark("before")
    kept = make_blocks(10, 100)
    heapprof_nb.mark("after ✓")
    heapprof_nb.stop()
    log = read_log(path)
    labels = [label for (_, label) in log.markers.values()]
    assert labels == ["before", "after ✓"]
    times = sorted(log.markers)
    assert times == sorted(times)
    del kept


def test_stats_mode_histogram() -> None:
    heapprof_nb.gather_stats()
    kept = make_blocks(1000, 1500)  # 1533-byte blocks: bucket 1025 - 2048
    hist = heapprof_nb.stop_stats()
    rows = {(lo, hi): (c, b) for lo, hi, c, b in hist.rows()}
    count, total = rows[(1025, 2048)]
    assert count >= 1000 and total >= 1000 * (1500 + BYTES_OVERHEAD)
    text = str(hist)
    assert "HEAP USAGE SUMMARY" in text and "1025 - 2048" in text
    assert hist.seconds > 0 and hist.allocations_per_second > 0
    del kept
