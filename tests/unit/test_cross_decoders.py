"""The C decoder and digest (what heapprof_nb.read uses) against the pure-Python reference
decoder (tests/reference_decoder.py), on real logs the engine writes: every sampling mode,
several threads, NumPy data, markers, and a log cut short. Both must find the same counters, the
same truncation, and the same live bytes per stack at the end of the run."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path
from typing import Callable

import pytest
import reference_decoder as ref

import heapprof_nb

Stack = tuple[tuple[str, str, int], ...]


def _workload() -> list[object]:
    kept: list[object] = [bytes(3000 + i) for i in range(300)]
    kept += [{"k": i, "v": str(i) * 20} for i in range(2000)]
    del kept[::3]

    def worker() -> None:
        kept.append([bytearray(5000) for _ in range(50)])

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    heapprof_nb.mark("half way")
    try:
        import numpy as np
        kept.append(np.ones(200_000))
    except ImportError:
        pass
    return kept


def _reference_live(log: ref.RawLog) -> dict[Stack, float]:
    out: dict[Stack, float] = defaultdict(float)
    for i in range(len(log.kind)):
        if log.kind[i] == ref.KIND_ALLOC and log.ref[i] == -1:
            out[log.resolve_stack(log.stack_id[i])] += log.weights(i)[0]
    return {stack: value for stack, value in out.items() if value}  # 0-byte blocks weigh nothing


def _digest_live(path: Path) -> dict[Stack, float]:
    prof = heapprof_nb.read(path, cache=False)
    out: dict[Stack, float] = defaultdict(float)
    for entry in prof.window(0.0, prof.duration).allocated_kept.entries:
        out[tuple((f.filename, f.function, f.line) for f in entry.stack)] += entry.bytes
    return {stack: value for stack, value in out.items() if value}


def _assert_agree(path: Path) -> None:
    log = ref.read_log(path)
    prof = heapprof_nb.read(path, cache=False)
    assert prof.truncated == log.truncated
    assert prof.counters == log.trailer
    expected, found = _reference_live(log), _digest_live(path)
    assert found.keys() == expected.keys()
    for stack, value in expected.items():
        assert found[stack] == pytest.approx(value, rel=1e-9, abs=1e-6), stack
    assert sum(found.values()) > 0


SETTINGS: dict[str, Callable[[Path], str]] = {
    "exact": lambda p: heapprof_nb.start(p, rate=1),
    "bytes": lambda p: heapprof_nb.start(p, rate=4096, seed=11),
    "sizes": lambda p: heapprof_nb.start(p, sampling={64: 0.05, 1024: 0.5}, seed=12),
    "shallow": lambda p: heapprof_nb.start(p, rate=2048, max_frames=2, seed=13),
}


@pytest.mark.parametrize("mode", list(SETTINGS))
def test_decoders_agree_on_a_log_the_engine_wrote(mode: str, tmp_path: Path) -> None:
    path = tmp_path / f"{mode}.hpnb"
    SETTINGS[mode](path)
    kept = _workload()
    heapprof_nb.stop()
    _assert_agree(path)
    assert kept


def test_decoders_agree_on_a_log_cut_short(tmp_path: Path) -> None:
    whole = tmp_path / "whole.hpnb"
    heapprof_nb.start(whole, rate=1)
    kept = _workload()
    heapprof_nb.stop()
    data = whole.read_bytes()
    for fraction in (0.3, 0.77):
        cut = tmp_path / f"cut{fraction}.hpnb"
        cut.write_bytes(data[: int(len(data) * fraction)])
        _assert_agree(cut)
    assert kept
