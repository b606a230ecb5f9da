"""Regressions for what the fuzzers found (fuzz/, docs/hardening.md "Findings").

Each test rebuilds the smallest log that showed the bug, by hand (tests/logbuilder.py).
"""

from __future__ import annotations

from array import array

import pytest

from heapprof_nb import _digest
from heapprof_nb.errors import ProfileFormatError
from reference_decoder import read_log
from logbuilder import LogBuilder

pytestmark = pytest.mark.timeout(60)  # per test; slower ones set their own


def _history_times(d: _digest.Digester, points: int) -> list[int]:
    times = array("Q")
    times.frombytes(d.history(points, 5)[2])
    return list(times)


@pytest.mark.parametrize("batch", [False, True], ids=["slow path", "fast batch"])
@pytest.mark.parametrize("anomaly", ["unmatched free", "reused address"])
def test_strict_error_does_not_move_the_history(batch: bool, anomaly: str) -> None:
    """fuzz_digest: a strict-mode anomaly (FREE of an address not live, ALLOC of one still
    live) far in the future advanced the digest's buckets before it was rejected; the history
    then ended with a point earlier than the one before it."""
    b = LogBuilder(mode=2, max_frames=8)
    for k in range(40 if batch else 1):  # many events in a row take the batched fast path
        b.alloc(1000, size=100, address=0x1000 + 16 * k)
    if anomaly == "unmatched free":
        b.free(1 << 40, 0xDEAD0)
    else:
        b.alloc(1 << 40, size=100, address=0x1000)
    for k in range(40 if batch else 0):
        b.free(5, 0x1000 + 16 * k + 8)
    data = b.to_bytes()
    with pytest.raises(ProfileFormatError):
        read_log(data, strict=True)
    d = _digest.Digester(max_buckets=4, strict=True)
    with pytest.raises(ProfileFormatError, match="live"):
        d.feed(data)
    info = d.info()
    good_end = (40 if batch else 1) * 1000
    assert info["end_ns"] == good_end
    for points in (1, 3, 1000):
        times = _history_times(d, points)
        assert times == sorted(times), times
        assert times[-1] == good_end
    assert d.peak()[0] <= good_end


def test_loaded_dump_with_a_bucket_grid_past_its_end_is_refused() -> None:
    """fuzz_load: a `<log>.digest` dump whose bucket width did not fit its end time loaded, and
    its history then had points after the end of the run (out of order). The loader now
    checks that the last bucket is the one holding the end time."""
    b = LogBuilder(mode=2, max_frames=8)
    for k in range(50):
        b.alloc(100_000, size=100, address=0x1000 + 16 * k)
    d = _digest.Digester(max_buckets=8)
    d.feed(b.to_bytes())
    info = d.info()
    dump = bytearray(d.dump())
    _digest.Digester.load(bytes(dump))  # the dump itself loads
    width = info["bucket_ns"].to_bytes(8, "little")
    at = dump.find(width)
    assert at > 0 and dump.count(width) == 1
    for bad_width in (info["bucket_ns"] * 64, 1):
        broken = dump[:at] + bad_width.to_bytes(8, "little") + dump[at + 8 :]
        with pytest.raises(ProfileFormatError, match="bad buckets"):
            _digest.Digester.load(bytes(broken))
