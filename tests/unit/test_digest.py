"""The digest (native/digest, heapprof_nb/digest.py) and the views of heapprof_nb/_profile.py.

Logs are hand-built with ``tests/logbuilder.py`` and checked against an oracle written here from
the format page alone (a list of allocation intervals): in mode 2 (every allocation, weight =
size) every history point, the peak, snapshots and all four window measures must be exact; in
modes 0 and 1 the weights must match the "Weights" section bit for bit and the estimates must
agree with the true totals within their reported error.
"""

from __future__ import annotations

import math
import os
import random
import struct
import threading
import time
from pathlib import Path

import pytest

from logbuilder import LogBuilder  # tests/ is on sys.path (tests/conftest.py)

_digest = pytest.importorskip("heapprof_nb._digest")

import reference_decoder as reader  # noqa: E402
from heapprof_nb._format import encode_varint  # noqa: E402
from heapprof_nb.digest.thread import CACHE_SUFFIX, Digest, cache_path  # noqa: E402
from heapprof_nb.errors import ProfileFormatError  # noqa: E402
from heapprof_nb.digest.model import Frame, Snapshot  # noqa: E402
from heapprof_nb.digest.profile import History, Profile, Window, read  # noqa: E402

Digester = _digest.Digester

# ------------------------------------------------------------------------------------------------
# The oracle: what the log says, as intervals, straight from log-format.md.


class Oracle:
    """Allocation intervals of a log (t_alloc, t_free or None, stack_id, size), and the running
    live total after each ALLOC/FREE in log order (``steps``)."""

    def __init__(self) -> None:
        self.intervals: list[list[int | None]] = []
        self.live: dict[int, int] = {}
        self.times: list[int] = []  # time of every timed record
        self.steps: list[tuple[int, float]] = []
        self.total = 0.0
        self.end = 0

    def alloc(self, t: int, stack: int, size: int, addr: int) -> None:
        if addr in self.live:  # a reused address frees the older block at this moment
            old = self.intervals[self.live[addr]]
            old[1] = t
            self.total -= old[3]  # type: ignore[operator]
        self.live[addr] = len(self.intervals)
        self.intervals.append([t, None, stack, size])
        self.times.append(t)
        self.total += size
        self.steps.append((t, self.total))

    def free(self, t: int, addr: int) -> None:
        i = self.live.pop(addr, None)
        if i is not None:
            self.intervals[i][1] = t
            self.total -= self.intervals[i][3]  # type: ignore[operator]
            self.steps.append((t, self.total))
        self.times.append(t)

    def tick(self, t: int) -> None:
        self.times.append(t)

    def live_at(self, t: int) -> dict[int, list[float]]:
        """stack -> [bytes, objects, samples] live at t (events at t included)."""
        out: dict[int, list[float]] = {}
        for ta, tf, s, size in self.intervals:
            assert ta is not None and s is not None and size is not None
            if ta <= t and (tf is None or tf > t):
                acc = out.setdefault(s, [0.0, 0.0, 0])
                acc[0] += size
                acc[1] += 1
                acc[2] += 1
        return out

    def total_at(self, t: int) -> float:
        return sum(v[0] for v in self.live_at(t).values())

    def max_in(self, t0: int, t1: int) -> float:
        """The largest live total in (t0, t1], the value carried in at t0 included."""
        best = self.total_at(t0) if t0 >= 0 else 0.0
        for t, total in self.steps:
            if t0 < t <= t1 and total > best:
                best = total
        return best

    def window(self, t0: int, t1: int) -> dict[str, dict[int, list[float]]]:
        kept: dict[int, list[float]] = {}
        freed: dict[int, list[float]] = {}
        growth: dict[int, list[float]] = {}
        a0, a1 = self.live_at(t0), self.live_at(t1)
        for ta, tf, s, size in self.intervals:
            assert ta is not None and s is not None and size is not None
            if t0 < ta <= t1:
                target = kept if (tf is None or tf > t1) else freed
                acc = target.setdefault(s, [0.0, 0.0, 0])
                acc[0] += size
                acc[1] += 1
                acc[2] += 1
        for s in set(a0) | set(a1):
            b = a1.get(s, [0.0, 0.0, 0])[0] - a0.get(s, [0.0, 0.0, 0])[0]
            o = a1.get(s, [0.0, 0.0, 0])[1] - a0.get(s, [0.0, 0.0, 0])[1]
            if b or o:
                growth[s] = [b, o, 0]
        return {"live_at_end": a1, "allocated_kept": kept, "allocated_freed": freed,
                "growth": growth}

    def peak(self) -> tuple[int, float]:
        """The largest running total and when it was first reached (log order)."""
        best, when = 0.0, 0
        for t, total in self.steps:
            if total > best:
                best, when = total, t
        return when, best


STACKS = [
    [("app.py", "load", 10), ("app.py", "main", 1)],
    [("app.py", "parse", 20), ("app.py", "load", 11), ("app.py", "main", 1)],
    [("lib.py", "grow", 5)],
    [("lib.py", "grow", 6), ("app.py", "main", 2)],
    [("<ipython-input-3-abc>", "<module>", 2)],
]


def random_log(seed: int, n: int = 3000, *, mode: int = 2, big: bool = True,
               trailer: bool = True, **header: object) -> tuple[LogBuilder, Oracle, dict[int, int]]:
    """A mode-2 (by default) log of ``n`` random events and its oracle.

    Returns the builder, the oracle, and ``builder stack id -> index in STACKS``.
    """
    rng = random.Random(seed)
    b = LogBuilder(mode=mode, **header)  # type: ignore[arg-type]
    o = Oracle()
    live: list[int] = []
    next_addr = 0x10000
    for _ in range(n):
        dt = rng.choice((0, 0, 1, 3, 17, 250, 1000, 40_000))
        r = rng.random()
        if r < 0.55 or not live:
            si = rng.randrange(len(STACKS))
            size = rng.choice((0, 1, 8, 24, 100, 4096, 1 << 20))
            if big and rng.random() < 0.01:
                size = (1 << 32) + rng.randrange(1 << 20)  # past 32 bits: the big-size path
            if live and rng.random() < 0.02:
                addr = rng.choice(live)  # reuse of a live address
            else:
                addr = next_addr
                next_addr += 16
                live.append(addr)
            b.alloc(dt, stack=STACKS[si], size=size, address=addr)
            o.alloc(b.time, b.stacks[tuple(STACKS[si])], size, addr)
        elif r < 0.95:
            addr = live.pop(rng.randrange(len(live)))
            b.free(dt, addr)
            o.free(b.time, addr)
        elif r < 0.97:
            b.free(dt, 0xDEAD0000 + rng.randrange(100))  # unmatched: counted, ignored
            o.tick(b.time)
        elif r < 0.99:
            b.rss(dt, rng.randrange(1 << 30))
            o.tick(b.time)
        else:
            b.marker(dt, rng.choice((0, 1, 2)), f"m{rng.randrange(10)}")
            o.tick(b.time)
    if trailer:
        b.trailer_rec(5, samples=n)
        o.tick(b.time)
    o.end = b.time
    return b, o, {}


def write(tmp_path: Path, data: bytes, name: str = "run.hpnb") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def snap_map(snap: Snapshot, profile: Profile) -> dict[int, list[float]]:
    """Snapshot entries keyed by stack id again (stacks are unique here)."""
    by_stack = {v: k for k, v in profile.stacks.items()}
    return {by_stack[e.stack]: [e.bytes, e.objects, e.samples] for e in snap.entries}


def ns(t: float) -> int:
    return round(t * 1e9)


# ------------------------------------------------------------------------------------------------
# A small log with numbers worked out by hand.


def small_log() -> LogBuilder:
    b = LogBuilder(mode=2)
    a = [("a.py", "f", 1)]
    c = [("b.py", "g", 2), ("a.py", "main", 9)]
    b.alloc(10, stack=a, size=100, address=0x1000)   # t=10: 100
    b.alloc(10, stack=c, size=50, address=0x2000)    # t=20: 150 (peak)
    b.free(10, 0x1000)                               # t=30: 50
    b.rss(5, 12345)                                  # t=35
    b.marker(5, 1, "In [1]")                         # t=40
    b.alloc(10, stack=a, size=7, address=0x3000)     # t=50: 57
    b.marker(1, 2, "In [1]")                         # t=51
    b.trailer_rec(2, samples=3, allocs_seen=3)       # t=53
    return b


def test_small_log_by_hand(tmp_path: Path) -> None:
    p = write(tmp_path, small_log().to_bytes())
    prof = read(p, cache=False)
    assert prof.mode == 2 and prof.pid == 4242 and prof.python_version == "3.11.7"
    assert prof.start_ns == 1_000_000_000 and prof.start_wall == 1.7e9
    assert prof.duration == 53e-9
    assert prof.complete and not prof.truncated
    assert prof.counters is not None and prof.counters["samples"] == 3
    assert prof.peak() == (20e-9, 150.0)
    h = prof.history()
    assert isinstance(h, History)
    assert h.times[-1] == 53e-9 and h.total[-1] == 57.0
    assert max(h.max) == 150.0
    assert all(e == 0.0 for e in h.error)
    assert [m.label for m in h.markers] == ["In [1]", "In [1]"]
    assert prof.cells() == [(40e-9, 51e-9, "In [1]")]
    assert h.rss[-1] == 12345.0 and math.isnan(h.rss[0])
    s = prof.snapshot_at(25e-9)
    assert s.total == 150.0 and s.objects == 2.0 and s.error == 0.0
    assert prof.snapshot_at(30e-9).total == 50.0  # the free at t=30 is included at t=30
    w = prof.window(15e-9, 40e-9)
    assert isinstance(w, Window)
    assert w.live_at_end.total == 50.0
    assert w.allocated_kept.total == 50.0
    assert w.allocated_freed.total == 0.0
    assert sorted(e.bytes for e in w.growth.entries) == [-100.0, 50.0]
    w2 = prof.window(0.0, 53e-9)
    assert w2.allocated_freed.total == 100.0 and w2.allocated_kept.total == 57.0
    assert w2.growth.total == 57.0
    top = w2.allocated_kept.top(1)[0]
    assert top.key[0] == Frame("b.py", "g", 2) and top.bytes == 50.0


# ------------------------------------------------------------------------------------------------
# Mode 2: exact against the oracle.


@pytest.fixture(scope="module")
def exact_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Profile, Oracle, LogBuilder]:
    b, o, _ = random_log(1)
    p = write(tmp_path_factory.mktemp("exact"), b.to_bytes())
    return read(p, cache=False), o, b


def test_history_totals_exact(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, o, _ = exact_case
    h = prof.history()
    assert 2 <= len(h) <= _digest.AUTO_BUCKETS
    assert h.times[-1] == o.end / 1e9
    prev_t = -1
    for t, total, mx in zip(h.times, h.total, h.max):
        t_ns = ns(t)
        assert total == o.total_at(t_ns), t
        assert mx == o.max_in(prev_t, t_ns), t
        prev_t = t_ns


def test_history_sites_add_up(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, _, _ = exact_case
    h = prof.history(sites=3)
    assert len(h.by_site) <= 3
    for j in range(len(h)):
        assert math.isclose(sum(s[j] for s in h.by_site.values()) + h.other[j], h.total[j],
                            rel_tol=1e-12, abs_tol=1e-6)
    h_all = prof.history(sites=len(STACKS) + 1)
    # with precision 0 no site folds: every series is the oracle's value for that stack
    prof0 = read(prof.path, cache=False, precision=0.0)
    h0 = prof0.history(sites=10)
    for j in range(0, len(h0), 97):
        live = prof0.snapshot_at(h0.times[j])
        for key, series in h0.by_site.items():
            expect = sum(e.bytes for e in live.entries if e.stack == key)
            assert series[j] == expect
    assert len(h_all.by_site) >= 1


def test_history_points(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, o, _ = exact_case
    full = prof.history()
    for points in (1, 2, 7, 100, 10**9):
        h = prof.history(points)
        assert 1 <= len(h) <= points
        assert h.times[-1] == full.times[-1]  # the last, partial bucket is always there
        assert max(h.max) == max(full.max)
        prev_t = -1
        for t, total, mx in zip(h.times, h.total, h.max):
            assert total == o.total_at(ns(t))
            assert mx == o.max_in(prev_t, ns(t))
            prev_t = ns(t)
    with pytest.raises(ValueError, match="points"):
        prof.history(0)
    with pytest.raises(ValueError, match="points"):
        prof.history(-3)


def test_peak_exact(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, o, _ = exact_case
    t, b = prof.peak()
    ot, ob = o.peak()
    assert b == ob
    assert ns(t) == ot
    assert prof.snapshot_at(t).total == b


def test_snapshot_exact(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, o, _ = exact_case
    rng = random.Random(5)
    times = sorted(set(o.times))
    picks = [0, o.end] + rng.sample(times, 40) + [t + 1 for t in rng.sample(times, 10)]
    for t in picks:
        t = min(t, o.end)
        snap = prof.snapshot_at(t / 1e9)
        assert snap.time == t / 1e9
        assert snap.error == 0.0
        assert snap_map(snap, prof) == o.live_at(t), t


def test_window_exact(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, o, _ = exact_case
    rng = random.Random(6)
    times = sorted(set(o.times)) + [0, o.end]
    for _ in range(25):
        t0, t1 = sorted(rng.sample(times, 2))
        w = prof.window(t0 / 1e9, t1 / 1e9)
        want = o.window(t0, t1)
        for name in Window.MEASURES:
            got = snap_map(getattr(w, name), prof)
            exp = want[name]
            if name == "growth":
                assert {k: v[:2] for k, v in got.items()} == {k: v[:2] for k, v in exp.items()}
            else:
                assert got == exp, (name, t0, t1)
        assert w.growth.total == o.total_at(t1) - o.total_at(t0)
    same = prof.window(o.end / 2e9, o.end / 2e9)
    assert same.allocated_kept.total == same.allocated_freed.total == same.growth.total == 0


def test_rescan_matches_index(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, o, _ = exact_case
    noidx = read(prof.path, cache=False, index_limit=0)
    assert not noidx.digest.info()["has_index"] and prof.digest.info()["has_index"]
    rng = random.Random(7)
    times = sorted(set(o.times))
    for _ in range(10):
        t0, t1 = sorted(rng.sample(times, 2))
        a = prof.digest.core.window(t0, t1)
        with open(prof.path, "rb") as f:
            b = noidx.digest.core.window(t0, t1, False, f.fileno())
        assert a == b
    assert noidx.snapshot_at(o.end / 2e9).total == prof.snapshot_at(o.end / 2e9).total
    tiny = read(prof.path, cache=False, index_limit=1000)
    assert not tiny.digest.info()["has_index"]
    assert tiny.history().total == prof.history().total
    assert tiny.window(0, o.end / 1e9).growth.total == prof.window(0, o.end / 1e9).growth.total


def test_index_dropped_mid_digest(tmp_path: Path) -> None:
    """An index that outgrows its limit is dropped; the answers do not change."""
    p = write(tmp_path, big_log_bytes(10_000, live_every=7))
    full = read(p, cache=False)
    small = read(p, cache=False, index_limit=100_000)  # room for 4096 entries, not 8192
    assert full.digest.info()["has_index"] and not small.digest.info()["has_index"]
    assert small.history().total == full.history().total
    d = full.duration
    for t0, t1 in ((0, d), (d / 3, d / 2), (d / 2, d / 2)):
        a, b = full.window(t0, t1), small.window(t0, t1)
        for name in Window.MEASURES:
            assert snap_map(getattr(a, name), full) == snap_map(getattr(b, name), small)


def test_counters_and_anomalies(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, o, b = exact_case
    dc = prof.digest_counters
    raw = reader.read_log(b.to_bytes())
    assert dc["unmatched_frees"] == raw.unmatched_frees == b.unmatched_frees
    assert dc["reused_addresses"] == raw.reused_addresses
    assert dc["allocs"] == len(o.intervals)
    assert dc["records"] == len(b.record_ends)


def test_strict_mode(tmp_path: Path) -> None:
    b = LogBuilder(mode=2)
    b.alloc(1, size=8, address=1)
    b.free(1, 2)
    p = write(tmp_path, b.to_bytes())
    assert read(p, cache=False).digest_counters["unmatched_frees"] == 1
    with pytest.raises(ProfileFormatError, match="not live"):
        read(p, cache=False, strict=True)
    b = LogBuilder(mode=2)
    b.alloc(1, size=8, address=1)
    b.alloc(1, size=8, address=1)
    p = write(tmp_path, b.to_bytes(), "reuse.hpnb")
    prof = read(p, cache=False)
    assert prof.digest_counters["reused_addresses"] == 1 and prof.snapshot_at(2e-9).total == 8
    with pytest.raises(ProfileFormatError, match="still live"):
        read(p, cache=False, strict=True)


def test_error_mid_batch_keeps_the_prefix() -> None:
    """A strict-mode error inside a run of ALLOC/FREE records (the batched fast path) stops the
    digest exactly at the failing record, with everything before it digested."""
    clean = big_log_bytes(1000)
    body = clean[len(big_log_bytes(0)) :]
    data = clean + b"\x11\x05" + encode_varint(0xDEAD0) + body  # an unmatched FREE
    with pytest.raises(ProfileFormatError) as ei:
        reader.read_log(data, strict=True)
    at = int(str(ei.value).rsplit("byte offset ", 1)[1].split()[0])
    assert at > 1000  # deep inside the log, where the fast path runs
    d = Digester(strict=True)
    with pytest.raises(ProfileFormatError, match=f"at byte offset {at}$"):
        d.feed(data)
    ref = Digester()
    ref.feed(data[:at])
    assert d.info()["offset"] == at == ref.info()["offset"]
    assert d.info()["records"] == ref.info()["records"]
    assert d.info()["end_ns"] == ref.info()["end_ns"]
    assert d.history(100, 5) == ref.history(100, 5)
    assert d.last_error() is not None and d.info()["failed"]
    with pytest.raises(ProfileFormatError):  # the same error again
        d.feed(b"")


def test_address_zero_and_empty_stack(tmp_path: Path) -> None:
    b = LogBuilder(mode=2)
    b.alloc(5, stack=None, native_thread=None, size=64, address=0)
    b.alloc(5, size=32, address=16)
    b.free(5, 0)
    p = write(tmp_path, b.to_bytes())
    prof = read(p, cache=False)
    assert prof.snapshot_at(10e-9).statistics("traceback")[0].key == ()
    assert prof.snapshot_at(10e-9).total == 96 and prof.snapshot_at(15e-9).total == 32


# ------------------------------------------------------------------------------------------------
# Buckets


def test_auto_buckets_between_half_and_max(tmp_path: Path) -> None:
    b = LogBuilder(mode=2)
    for i in range(3000):
        b.alloc(123_457, size=10, address=16 * i)
    p = write(tmp_path, b.to_bytes())
    prof = read(p, cache=False)
    h = prof.history()
    assert _digest.AUTO_BUCKETS // 2 <= len(h) <= _digest.AUTO_BUCKETS
    width = h.bucket * 1e9
    assert width == 2 ** round(math.log2(width))  # a power of two nanoseconds
    assert h.total[-1] == 30000 and h.times[-1] == prof.duration
    small = read(p, cache=False, max_buckets=8)
    assert 4 <= len(small.history()) <= 8


def test_fixed_bucket(tmp_path: Path) -> None:
    b, o, _ = random_log(2, 500)
    p = write(tmp_path, b.to_bytes())
    prof = read(p, cache=False, bucket=1e-6)
    h = prof.history()
    assert h.bucket == 1e-6
    assert len(h) == math.ceil(o.end / 1000) or len(h) == o.end // 1000 + 1
    for t, total in zip(h.times, h.total):
        assert total == o.total_at(ns(t))
    with pytest.raises(ValueError):
        read(p, cache=False, bucket=0)


def test_empty_run(tmp_path: Path) -> None:
    b = LogBuilder(mode=2)
    b.trailer_rec(0)
    prof = read(write(tmp_path, b.to_bytes()), cache=False)
    assert prof.duration == 0.0
    assert prof.peak() == (0.0, 0.0)
    h = prof.history()
    assert list(h.times) == [0.0] and list(h.total) == [0.0]
    assert prof.snapshot_at(0).entries == []
    assert prof.window(0, 0).growth.entries == []


# ------------------------------------------------------------------------------------------------
# Weights in modes 0 and 1


def test_mode0_weights_exact(tmp_path: Path) -> None:
    R = 512 * 1024
    b = LogBuilder(mode=0, rate=R)
    sizes = [1, 100, 4096, R, 10 * R, (1 << 33) + 5]
    for i, s in enumerate(sizes):
        b.alloc(1, size=s, address=16 * (i + 1))
    b.alloc(1, size=0, address=8)  # never sampled by a correct writer: weighs nothing
    prof = read(write(tmp_path, b.to_bytes()), cache=False)
    snap = prof.snapshot_at(prof.duration)
    want_b = want_o = want_v = 0.0
    for s in sizes:
        p = -math.expm1(-s / R)
        w = s / p
        want_b += w
        want_o += 1 / p
        want_v += w * (w - s)
        assert reader.weight(reader.read_log(b.to_bytes()).header, s) == (w, 1 / p)
    assert math.isclose(snap.total, want_b, rel_tol=1e-15)
    assert math.isclose(snap.objects, want_o, rel_tol=1e-15)
    assert math.isclose(snap.error, math.sqrt(want_v), rel_tol=1e-12)
    h = prof.history()
    assert math.isclose(h.total[-1], want_b, rel_tol=1e-15)
    assert math.isclose(h.error[-1], math.sqrt(want_v), rel_tol=1e-12)


def test_mode1_weights_exact(tmp_path: Path) -> None:
    buckets = [(128, 1e-4), (8192, 0.1), (8192, 0.5), (1 << 20, 1.0)]
    b = LogBuilder(mode=1, buckets=buckets)
    sizes = [1, 127, 128, 8191, 8192, 9000, 1 << 20, 1 << 30]
    for i, s in enumerate(sizes):
        b.alloc(1, size=s, address=16 * (i + 1))
    data = b.to_bytes()
    prof = read(write(tmp_path, data), cache=False)
    hdr = reader.read_log(data).header
    want = math.fsum(reader.weight(hdr, s)[0] for s in sizes)
    assert prof.snapshot_at(prof.duration).total == pytest.approx(want, rel=1e-12)
    assert prof.size_buckets == tuple(buckets)
    one = LogBuilder(mode=1, buckets=buckets)
    one.alloc(1, size=9000, address=16)
    p1 = read(write(tmp_path, one.to_bytes(), "one.hpnb"), cache=False)
    assert p1.snapshot_at(1e-9).total == 9000 / 0.5 and p1.snapshot_at(1e-9).objects == 2.0


def test_mode0_estimates_agree_statistically(tmp_path: Path) -> None:
    """True allocations sampled with p = 1 - exp(-s/R): estimates within 4 sigma, fixed data."""
    R = 64 * 1024
    rng = random.Random(20240601)
    b = LogBuilder(mode=0, rate=R)
    true_live: dict[int, int] = {}
    true_total = 0
    checkpoints: list[tuple[int, int]] = []
    sampled: set[int] = set()
    addr = 16
    for i in range(60_000):
        if true_live and rng.random() < 0.4:
            a = rng.choice(list(true_live)) if i % 50 == 0 else next(iter(true_live))
            true_total -= true_live.pop(a)
            if a in sampled:
                sampled.discard(a)
                b.free(7, a)
            continue
        s = rng.choice((16, 64, 512, 4096, 65536, 1 << 20))
        true_live[addr] = s
        true_total += s
        if rng.random() < -math.expm1(-s / R):
            b.alloc(7, size=s, address=addr,
                    stack=STACKS[s.bit_length() % len(STACKS)])
            sampled.add(addr)
        addr += 16
        if i % 6000 == 5999:
            checkpoints.append((b.time, true_total))
    prof = read(write(tmp_path, b.to_bytes()), cache=False)
    for t, truth in checkpoints:
        snap = prof.snapshot_at(t / 1e9)
        assert snap.error > 0
        assert abs(snap.total - truth) < 4 * snap.error + 1, (t, snap.total, truth, snap.error)
    assert prof.history().error[-1] > 0


# ------------------------------------------------------------------------------------------------
# Truncation, growing logs, chunking


def test_truncated_log_digests_up_to_last_complete_record(tmp_path: Path) -> None:
    b = small_log()
    data = b.to_bytes()
    ends = [b.header_end] + b.record_ends
    for cut in range(b.header_end, len(data) + 1):
        good = max(e for e in ends if e <= cut)
        d1, d2 = Digester(), Digester()
        d1.feed(data[:cut])
        d2.feed(data[:good])
        assert d1.info()["offset"] == good
        assert d1.info()["pending"] == cut - good
        assert d1.history(100, 5) == d2.history(100, 5)
        assert d1.peak() == d2.peak()
        assert d1.info()["complete"] == (cut == len(data))
    cut = b.record_ends[b.expected_event_records[1]] + 2  # just after the ALLOC at t=20
    p = write(tmp_path, data[:cut])
    prof = read(p, cache=False)
    assert prof.truncated and prof.counters is None
    assert prof.peak() == (20e-9, 150.0)


def test_feeding_in_slices_equals_one_shot() -> None:
    b, _, _ = random_log(3, 2000)
    data = b.to_bytes()
    whole = Digester()
    whole.feed(data)
    rng = random.Random(9)
    for _ in range(5):
        d = Digester()
        i = 0
        while i < len(data):
            n = rng.choice((1, 2, 3, 7, 64, 1000))
            d.feed(data[i : i + n])
            i += n
        assert d.dump() == whole.dump()
        assert d.window(0, 10**6) == whole.window(0, 10**6)


def test_following_a_growing_file_equals_one_shot(tmp_path: Path) -> None:
    b, o, _ = random_log(4, 4000)
    data = b.to_bytes()
    p = tmp_path / "growing.hpnb"
    p.write_bytes(data[:10])  # not even a whole header yet
    prof_box: list[Profile] = []
    t = threading.Thread(target=lambda: prof_box.append(read(p, wait=False, cache=False)))
    t.start()
    rng = random.Random(11)
    pos = 10
    time.sleep(0.05)
    with open(p, "ab") as f:
        while pos < len(data):
            n = rng.randrange(1, 4000)
            f.write(data[pos : pos + n])
            f.flush()
            pos += n
            time.sleep(0.002)
    t.join(10)
    prof = prof_box[0]
    assert prof.digest.follow
    assert prof.digest.wait(20)
    assert prof.complete  # following stops at the TRAILER
    one = read(write(tmp_path, data, "oneshot.hpnb"), cache=False)
    assert prof.digest.core.dump() == one.digest.core.dump()
    assert prof.history().total == one.history().total
    assert prof.peak() == one.peak()
    w1, w2 = prof.window(0, o.end / 2e9), one.window(0, o.end / 2e9)
    assert snap_map(w1.growth, prof) == snap_map(w2.growth, one)


def test_follow_finish_and_live_queries(tmp_path: Path) -> None:
    b, _, _ = random_log(5, 500, trailer=False)
    data = b.to_bytes()
    p = write(tmp_path, data[: len(data) // 2])
    prof = read(p, wait=False, cache=False)
    deadline = time.time() + 10
    while prof.digest.info()["offset"] + prof.digest.info()["pending"] < len(data) // 2:
        assert time.time() < deadline
        time.sleep(0.01)
    half = prof.history()
    assert not prof.digest.done and prof.truncated
    with open(p, "ab") as f:
        f.write(data[len(data) // 2 :])
    prof.digest.finish()
    assert prof.digest.wait(10)
    assert not prof.digest.cancelled and prof.truncated
    assert prof.duration >= half.times[-1]
    one = read(write(tmp_path, data, "one.hpnb"), cache=False)
    assert prof.history().total == one.history().total


# ------------------------------------------------------------------------------------------------
# Background thread: progress, cancel


def big_log_bytes(n_pairs: int, live_every: int = 0) -> bytes:
    """A large valid mode-2 log, built fast: ALLOC (thread 1, stack 1 or 2, 40 bytes) then FREE
    of the same address; with ``live_every`` every so many allocations stay live."""
    b = LogBuilder(mode=2)
    b.alloc(1, stack=[("x.py", "f", 1)], size=1, address=8)
    b.alloc(1, stack=[("x.py", "g", 2)], size=1, address=24)
    b.free(1, 8)
    b.free(1, 24)
    head = b.to_bytes()
    if not live_every:
        cycle = bytearray()
        for i in range(1000):
            a = encode_varint(16 + 16 * i)
            cycle += b"\x10\x01\x01\x01" + bytes([1 + i % 2, 40]) + a  # ALLOC dt=1 MEM
            cycle += b"\x11\x01" + a  # FREE dt=1
        return head + bytes(cycle) * (n_pairs // 1000)
    body = bytearray()
    for i in range(n_pairs):
        a = encode_varint(1 << 20 | 16 * i)
        body += b"\x10\x01\x01\x01" + bytes([1 + i % 2, 40]) + a
        if i % live_every:
            body += b"\x11\x01" + a
    return head + bytes(body)


def test_cancel_stops_a_running_digest(tmp_path: Path) -> None:
    data = big_log_bytes(400_000)
    p = write(tmp_path, data)
    d = Digest(p, cache=False, start=False)
    d.core.cancel()  # cancelled before the first chunk: nothing is read
    d.start()
    assert d.wait(10)
    assert d.cancelled and d.done
    assert d.progress < 1.0
    assert d.info()["offset"] == 0
    assert not os.path.exists(cache_path(p))
    # a digest that follows forever (no TRAILER ever comes) is stopped by cancel()
    b, _, _ = random_log(6, 100, trailer=False)
    p2 = write(tmp_path, b.to_bytes(), "forever.hpnb")
    d2 = Digest(p2, follow=True, cache=False, poll_interval=0.01)
    time.sleep(0.1)
    assert not d2.done
    d2.cancel(timeout=5)
    assert d2.done and d2.cancelled
    assert d2.info()["offset"] == len(b.to_bytes())


def test_follow_stops_when_the_log_goes_silent(tmp_path: Path) -> None:
    b, _, _ = random_log(15, 200, trailer=False)
    p = write(tmp_path, b.to_bytes())
    d = Digest(p, follow=True, cache=False, poll_interval=0.01, idle_timeout=0.3)
    assert d.wait(10)
    assert not d.cancelled and d.error is None and d.progress == 1.0
    assert d.info()["offset"] == len(b.to_bytes()) and not d.info()["complete"]


def test_progress_and_poll(tmp_path: Path) -> None:
    data = big_log_bytes(300_000)
    p = write(tmp_path, data)
    d = Digest(p, cache=False)
    seen = [d.progress]
    while not d.done:
        seen.append(d.progress)
        time.sleep(0.001)
    d.wait()
    assert d.progress == 1.0
    assert all(0.0 <= x <= 1.0 for x in seen)
    assert seen == sorted(seen)
    assert d.info()["allocs"] == 300_002


def test_gil_is_released_while_digesting(tmp_path: Path) -> None:
    data = big_log_bytes(1_500_000)
    p = write(tmp_path, data)
    d = Digest(p, cache=False, start=False)
    ticks = 0
    d.start()
    start = time.perf_counter()
    while not d.done:
        ticks += 1  # the main thread keeps running Python code meanwhile
    elapsed = time.perf_counter() - start
    d.wait()
    assert ticks > 1000, (ticks, elapsed)


# ------------------------------------------------------------------------------------------------
# Cache


def test_cache_reuse_and_invalidation(tmp_path: Path) -> None:
    b, o, _ = random_log(7, 1500)
    data = b.to_bytes()
    p = write(tmp_path, data)
    first = read(p)
    assert first.digest.saved_cache and not first.digest.from_cache
    assert os.path.exists(str(p) + CACHE_SUFFIX)
    second = read(p)
    assert second.digest.from_cache and not second.digest.saved_cache
    assert second.history().total == first.history().total
    assert second.history(50, sites=3).by_site.keys() == first.history(50, sites=3).by_site.keys()
    assert second.peak() == first.peak()
    assert second.markers == first.markers and second.meta == first.meta
    assert second.counters == first.counters
    w1, w2 = first.window(0, o.end / 3e9), second.window(0, o.end / 3e9)
    for name in Window.MEASURES:
        assert snap_map(getattr(w1, name), first) == snap_map(getattr(w2, name), second)
    # other options: not reused
    assert not read(p, bucket=1e-6).digest.from_cache
    # the log changes: not reused
    b2, _, _ = random_log(8, 1500)
    p.write_bytes(b2.to_bytes())
    third = read(p)
    assert not third.digest.from_cache
    assert third.history().total != first.history().total
    # a cache of an index-less digest re-scans the log
    p3 = write(tmp_path, data, "noidx.hpnb")
    read(p3, index_limit=0)
    again = read(p3, index_limit=0)
    assert again.digest.from_cache and not again.digest.info()["has_index"]
    assert snap_map(again.window(0, o.end / 3e9).growth, again) == snap_map(w1.growth, first)


@pytest.mark.parametrize("max_buckets", [2, 8, 4096])
def test_dump_load_answers_the_same(max_buckets: int) -> None:
    """Everything a loaded dump answers equals the live digest's answer, also after many bucket
    merges (which drop the intermediate values of site series)."""
    rng = random.Random(max_buckets)
    b = LogBuilder(mode=2)
    live: list[int] = []
    for i in range(4000):
        if live and rng.random() < 0.45:
            b.free(rng.randrange(1, 5000), live.pop(rng.randrange(len(live))))
        else:
            stack = [("m.py", f"f{rng.randrange(60)}", rng.randrange(3))]
            b.alloc(rng.randrange(1, 5000), stack=stack, size=rng.choice((8, 800, 80000)),
                    address=16 * (i + 1))
            live.append(16 * (i + 1))
    d = Digester(max_buckets=max_buckets, precision=0.01)
    d.feed(b.to_bytes())
    e = Digester.load(d.dump())
    for points in (1, 3, 50, 10**9):
        for top in (0, 1, 5, 100):
            assert e.history(points, top) == d.history(points, top)
    assert e.peak() == d.peak()
    end = d.info()["end_ns"]
    for t0, t1 in ((0, end), (end // 3, end // 2), (end, end)):
        assert e.window(t0, t1) == d.window(t0, t1)
    for name in ("strings", "frames", "stacks", "markers", "meta", "trailer", "header"):
        assert getattr(e, name)() == getattr(d, name)()
    assert e.dump() == d.dump()


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncate", "flip_blob", "flip_blob_fix_sum", "bad_json", "empty", "dir"],
)
def test_corrupt_cache_is_ignored(tmp_path: Path, damage: str) -> None:
    import hashlib
    import json

    b, _, _ = random_log(9, 800)
    p = write(tmp_path, b.to_bytes())
    good = read(p)
    c = Path(cache_path(p))
    blob = c.read_bytes()
    fixed = 16
    (head_len,) = struct.unpack_from("<I", blob, 12)
    key = json.loads(blob[fixed : fixed + head_len])
    body = bytearray(blob[fixed + head_len :])
    if damage == "garbage":
        c.write_bytes(os.urandom(5000))
    elif damage == "truncate":
        c.write_bytes(blob[: len(blob) // 2])
    elif damage == "flip_blob":
        body[len(body) // 2] ^= 0xFF
        c.write_bytes(blob[: fixed + head_len] + bytes(body))
    elif damage == "flip_blob_fix_sum":
        # a checksum that matches a damaged blob: the C loader's validation must catch it
        rng = random.Random(1)
        for i in rng.sample(range(len(body)), 40):
            body[i] = rng.randrange(256)
        key["blob_blake2b"] = hashlib.blake2b(bytes(body)).hexdigest()
        head = json.dumps(key, sort_keys=True).encode()
        c.write_bytes(blob[:12] + struct.pack("<I", len(head)) + head + bytes(body))
    elif damage == "bad_json":
        c.write_bytes(blob[:fixed] + b"{" * head_len + bytes(body))
    elif damage == "empty":
        c.write_bytes(b"")
    elif damage == "dir":
        c.unlink()
        c.mkdir()
    again = read(p)
    assert not again.digest.from_cache
    assert again.history().total == good.history().total
    assert again.peak() == good.peak()


def test_overflowing_weights_survive_dump_and_load() -> None:
    """A valid header can make weights overflow (mode 1, p = 1e-300): no crash, and the dump of
    such a digest loads back."""
    b = LogBuilder(mode=1, buckets=[(1, 1e-300)])
    b.alloc(1, size=1 << 40, address=16)  # 2**40 / 1e-300 overflows to inf
    b.alloc(1, size=1 << 40, address=32)
    b.free(1, 16)
    d = Digester()
    d.feed(b.to_bytes())
    assert math.isinf(d.info()["live_bytes"]) or math.isnan(d.info()["live_bytes"])
    e = Digester.load(d.dump())
    assert len(e.history(10, 3)) == len(d.history(10, 3))
    e.peak()
    e.window(0, 3)


def test_load_rejects_damaged_dumps() -> None:
    """Every damaged dump is refused or loads into a digest that answers without crashing."""
    b, _, _ = random_log(10, 300)
    d = Digester()
    d.feed(b.to_bytes())
    dump = d.dump()
    Digester.load(dump)
    rng = random.Random(3)
    for i in range(600):
        bad = bytearray(dump)
        if i % 3 == 0:
            bad = bad[: rng.randrange(len(bad))]
        else:
            for _ in range(rng.randrange(1, 4)):
                bad[rng.randrange(len(bad))] = rng.randrange(256)
        try:
            e = Digester.load(bytes(bad))
        except ProfileFormatError:
            continue
        e.history(100, 5)
        e.peak()
        e.window(0, 10**6)
        e.stacks()
        e.strings()


# ------------------------------------------------------------------------------------------------
# Bad inputs


def test_bad_paths(tmp_path: Path) -> None:
    missing = tmp_path / "nope.hpnb"
    with pytest.raises(FileNotFoundError) as ei:
        read(missing)
    assert str(missing) in str(ei.value)
    with pytest.raises(IsADirectoryError) as ei2:
        read(tmp_path)
    assert str(tmp_path) in str(ei2.value)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"HPNB", "incomplete header"),
        (b"NOTALOG!" + b"\0" * 40, "magic"),
        (b"HPNBLOG\0\x02\x00", "major version"),
    ],
)
def test_corrupt_logs(tmp_path: Path, data: bytes, match: str) -> None:
    with pytest.raises(ProfileFormatError, match=match):
        read(write(tmp_path, data), cache=False)


def test_corrupt_record_raises_with_offset(tmp_path: Path) -> None:
    b = small_log()
    data = bytearray(b.to_bytes())
    data[b.record_ends[3]] = 0x55  # an unknown tag
    with pytest.raises(ProfileFormatError, match=f"byte offset {b.record_ends[3]}"):
        read(write(tmp_path, bytes(data)), cache=False)


def test_bad_times(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, _, _ = exact_case
    d = prof.duration
    for bad in (-1e-9, d + 1e-6, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"outside .*\[0, "):
            prof.snapshot_at(bad)
        with pytest.raises(ValueError):
            prof.window(0, bad)
    with pytest.raises(ValueError, match="t0"):
        prof.window(d / 2, d / 4)
    prof.snapshot_at(0)
    prof.snapshot_at(d)
    prof.window(0, d)


# ------------------------------------------------------------------------------------------------
# Tables, cells, markers


def test_cell_names_from_meta(tmp_path: Path) -> None:
    fname = "/tmp/ipykernel_1/123.py"
    b = LogBuilder(mode=2)
    b.marker(1, 1, "In [3]")
    b.alloc(1, stack=[(fname, "<module>", 2), ("lib.py", "f", 1)], size=10, address=16)
    b.meta_kv(f"cell_label:{fname}", "In [3]")
    b.meta_kv(f"cell_source:{fname}", "import x\ny = [0] * 10\n")
    b.marker(1, 2, "In [3]")
    b.trailer_rec(0)
    prof = read(write(tmp_path, b.to_bytes()), cache=False)
    stack = prof.stack(1)
    assert stack[0] == Frame(fname, "<module>", 2, "In [3]", "y = [0] * 10")
    assert stack[0].label == "In [3], line 2"
    assert stack[1] == Frame("lib.py", "f", 1, None, None)
    assert prof.meta[f"cell_label:{fname}"] == "In [3]"
    assert [m.kind_name for m in prof.markers] == ["cell_start", "cell_end"]
    assert prof.cells() == [(1e-9, 3e-9, "In [3]")]
    h = prof.history()
    assert list(h.by_site) == [stack]
    assert prof.stack(0) == ()


def test_meta_arriving_later_renames_frames(tmp_path: Path) -> None:
    fname = "<ipython-input-1-x>"
    b = LogBuilder(mode=2)
    b.alloc(1, stack=[(fname, "<module>", 1)], size=10, address=16)
    data1 = b.to_bytes()
    b.meta_kv(f"cell_label:{fname}", "In [1]")
    data2 = b.to_bytes()
    p = write(tmp_path, data1)
    prof = read(p, wait=False, cache=False)
    deadline = time.time() + 5
    while prof.digest.info()["offset"] < len(data1):
        assert time.time() < deadline
        time.sleep(0.01)
    assert prof.stack(1)[0].cell is None
    p.write_bytes(data2)
    prof.digest.finish()
    prof.digest.wait(5)
    assert prof.stack(1)[0].cell == "In [1]"


# ------------------------------------------------------------------------------------------------
# The C decoder against the reference reader (random damage, fixed seeds)


def _reader_outcome(data: bytes, strict: bool) -> tuple[str, int]:
    try:
        log = reader.read_log(data, strict=strict)
    except ProfileFormatError:
        return "error", -1
    return "ok", log.bytes_read


def _c_outcome(data: bytes, strict: bool) -> tuple[str, int]:
    d = Digester(strict=strict)
    try:
        d.feed(data)
    except ProfileFormatError:
        return "error", -1
    info = d.info()
    if not info["have_header"]:
        return "error", -1  # the reader calls a whole file shorter than its header an error
    return "ok", info["offset"]


@pytest.mark.parametrize("strict", [False, True])
def test_decoder_agrees_with_reference_reader_on_damaged_logs(strict: bool) -> None:
    b, _, _ = random_log(12, 400, big=True, trailer=False)
    b.meta_kv("cell_source:x", "é" * 10)
    b.marker(3, 0, "ü")
    b.trailer_rec(1)
    base = b.to_bytes()
    rng = random.Random(13)
    outcomes = set()
    for i in range(1500):
        data = bytearray(base)
        k = i % 4
        if k == 0:
            data = data[: rng.randrange(len(data) + 1)]
        elif k == 1:
            for _ in range(rng.randrange(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif k == 2:
            j = rng.randrange(len(data))
            data[j:j] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
        else:
            j = rng.randrange(len(data))
            del data[j : j + rng.randrange(1, 12)]
        blob = bytes(data)
        got = _c_outcome(blob, strict)
        assert got == _reader_outcome(blob, strict), i
        outcomes.add(got[0])
    assert outcomes == {"ok", "error"}


def test_invalid_utf8_is_replaced_unless_strict(tmp_path: Path) -> None:
    b = LogBuilder(mode=2)
    b.define_string(1, b"caf\xc3")  # cut inside a character
    b.define_frame(1, 1, 1, 3)
    b.define_stack(1, [1])
    b.define_thread(1, 7)
    b.alloc_raw(1, 1, 1, 1, 10, 16)
    b.marker(1, 0, "x")
    b.raw(b"\x13\x01\x00\x01\xff")  # MARKER with a label of one invalid byte
    b.raw(b"\x14\x01\xfe\x01\xfd")  # META key and value invalid
    p = write(tmp_path, b.to_bytes())
    prof = read(p, cache=False)
    assert prof.stack(1)[0].filename == "caf\ufffd"
    assert prof.markers[-1].label == "\ufffd"
    assert prof.meta == {"\ufffd": "\ufffd"}
    raw = reader.read_log(b.to_bytes())
    assert raw.strings[1] == "caf\ufffd"
    with pytest.raises(ProfileFormatError, match="UTF-8"):
        read(p, cache=False, strict=True)
    again = read(p)  # saved and loaded through the cache, text as it was
    again = read(p)
    assert again.digest.from_cache and again.stack(1)[0].filename == "caf\ufffd"


def test_decoder_limits() -> None:
    def fails(data: bytes, match: str, strict: bool = False) -> None:
        d = Digester(strict=strict)
        with pytest.raises(ProfileFormatError, match=match):
            d.feed(data)

    b = LogBuilder(mode=2, max_frames=2)
    head = b.to_bytes()
    v = encode_varint
    fails(head + b"\x01\x01" + v((1 << 20) + 1), "limit")                 # STRING > 1 MiB
    fails(head + b"\x03\x01\x03", "max_frames")                            # depth > max_frames
    fails(head + b"\x01\x02\x00", "out of order")                          # id gap
    fails(head + b"\x11" + b"\xff" * 10 + b"\x01", "varint")                # 11-byte varint
    fails(head + b"\x11" + b"\xff" * 9 + b"\x02", "varint")                 # 10th byte > 1
    fails(head + b"\x10\x00\x09\x00\x00\x01\x01", "domain")                # domain 9
    fails(head + b"\x10\x00\x01\x00\x05\x01\x01", "undefined stack")
    fails(head + b"\x14\x01k" + v((16 << 20) + 1), "META value")
    fails(head + b"\x01\x01\x02\xc3\x28", "UTF-8", strict=True)
    fails(head + b"\x7f" + b"\x00" * 9 + b"\x11\x00\x01", "after the TRAILER")
    fails(head + b"\x11" + v((1 << 64) - 1) + b"\x01" + b"\x11\x01\x01", "overflow")
    from logbuilder import header_bytes

    fails(header_bytes(mode=3), "mode")
    fails(header_bytes(mode=0, rate=0), "rate")
    fails(header_bytes(mode=1, buckets=[(10, 0.0)]), "probability")
    fails(header_bytes(mode=1, buckets=[(10, 0.5), (5, 0.5)]), "sorted")
    fails(header_bytes(mode=2, max_frames=4097), "max_frames")
    fails(header_bytes(mode=2, header_length=70000), "header_length")
    d = Digester()
    d.feed(head + b"\x01\x01" + v(1 << 20))  # a 1 MiB STRING that has not arrived: wait
    assert d.info()["pending"] > 0 and not d.info()["failed"]
    d.feed(b"a" * (1 << 20))
    assert d.strings() == ["a" * (1 << 20)]


def test_digester_options_validated() -> None:
    with pytest.raises(ValueError):
        Digester(max_buckets=3)
    with pytest.raises(ValueError):
        Digester(precision=2.0)
    with pytest.raises(ValueError):
        Digest(__file__, max_buckets=1, start=False)


def test_snapshot_methods_work_on_results(exact_case: tuple[Profile, Oracle, LogBuilder]) -> None:
    prof, o, _ = exact_case
    w = prof.window(o.end / 4e9, o.end / 1e9)
    stats = w.allocated_kept.statistics("lineno")
    assert math.isclose(sum(s.bytes for s in stats), w.allocated_kept.total)
    diffs = w.live_at_end.compare_to(prof.snapshot_at(o.end / 4e9), "traceback")
    assert math.isclose(sum(d.bytes_diff for d in diffs), w.growth.total)
    assert len(w.live_at_end.top(2)) <= 2
    assert "live at" in w.live_at_end.title
    assert set(w.measures()) == set(Window.MEASURES)



# ------------------------------------------------------------------------------------------------
# Logs written by the engine from known allocations


ENGINE_WORKLOAD = """
import sys
import heapprof_nb

def make_big():
    return [bytearray(1_000_000) for _ in range(5)]

def make_temp():
    t = bytearray(3_000_000)
    del t

heapprof_nb.start(sys.argv[1], rate=1, seed=1)
heapprof_nb.mark("before")
keep = make_big()
heapprof_nb.mark("after")
make_temp()
heapprof_nb.mark("freed")
heapprof_nb.stop()
"""


@pytest.fixture(scope="module")
def engine_profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    pytest.importorskip("heapprof_nb._native")
    import subprocess
    import sys

    d = tmp_path_factory.mktemp("engine")
    script = d / "work.py"
    script.write_text(ENGINE_WORKLOAD)
    path = d / "run.hpnb"
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return read(path, cache=False, strict=True)


def _site_bytes(snap: Snapshot, function: str) -> tuple[float, float]:
    """Bytes and objects of the stacks that pass through ``function``."""
    b = o = 0.0
    for e in snap.entries:
        if any(f.function == function for f in e.stack):
            b += e.bytes
            o += e.objects
    return b, o


def test_engine_log_known_allocations(engine_profile: Profile) -> None:
    prof = engine_profile
    assert prof.mode == 2 and prof.complete and not prof.truncated
    counters = prof.counters
    assert counters is not None and counters["dropped"] == 0
    dc = prof.digest_counters
    assert dc["unmatched_frees"] == 0 and dc["reused_addresses"] == 0  # strict read passed
    marks = {m.label: m.time for m in prof.markers}
    before, after, freed = marks["before"], marks["after"], marks["freed"]
    w = prof.window(before, after)
    kept, kept_objects = _site_bytes(w.allocated_kept, "make_big")
    # five 1,000,000-byte buffers (+1 byte each for bytearray's NUL), their five objects and
    # the list: exact sizes of the small ones depend on the interpreter
    assert 5 * 1_000_001 <= kept < 5 * 1_000_001 + 4096
    assert kept_objects >= 6
    assert _site_bytes(w.allocated_freed, "make_big")[0] < 4096
    t = prof.window(after, freed)
    temp, _ = _site_bytes(t.allocated_freed, "make_temp")
    assert 3_000_001 <= temp < 3_000_001 + 1024
    assert _site_bytes(t.allocated_kept, "make_temp")[0] == 0
    assert _site_bytes(t.growth, "make_temp")[0] == 0
    # the history and the peak see the temporary buffer on top of the kept ones
    peak_t, peak_b = prof.peak()
    assert after <= peak_t <= freed
    assert peak_b >= prof.snapshot_at(after).total + 3_000_001
    assert prof.snapshot_at(peak_t).total == peak_b
    h = prof.history()
    assert max(h.max) == peak_b
    assert all(e == 0.0 for e in h.error)


def test_engine_log_snapshot_matches_reader(engine_profile: Profile) -> None:
    """The digest's live set at the end equals the one the reference reader's events give."""
    raw = reader.read_log(engine_profile.path, strict=True)
    live: dict[int, list[float]] = {}
    for i in range(len(raw)):
        if raw.kind[i] == reader.KIND_ALLOC and raw.ref[i] == -1:  # never freed
            acc = live.setdefault(raw.stack_id[i], [0.0, 0.0, 0])
            acc[0] += raw.size[i]
            acc[1] += 1
            acc[2] += 1
    assert sum(v[0] for v in live.values()) >= 5 * 1_000_001  # `keep` is live at the end
    snap = engine_profile.snapshot_at(engine_profile.duration)
    assert snap_map(snap, engine_profile) == live


# ------------------------------------------------------------------------------------------------
# Lazy snapshots and the flame graph's fast path (stack ids -> label indexes, cached per profile)


def _flame_log(seed: int, *, ambiguous: bool = False) -> bytes:
    """Many stacks through a shared root, small and large weights, ties, an empty stack, two
    frame ids for one code location, and (``ambiguous``) two unequal frames with one label."""
    rng = random.Random(seed)
    b = LogBuilder(mode=2)
    roots = [("app.py", "main", 1), ("app.py", "run", 5)]
    pool = [(f"mod{i % 7}.py", f"f{i}", i % 13 + 1) for i in range(60)]
    # a second frame id for the location of pool[0] (equal Frames: merged, not ambiguous)
    b.frame(*pool[0])
    dup = len(b.frames) + 1
    b.frames[("(dup)", "", 0)] = dup  # the builder numbers ids in order
    b.define_frame(dup, b.string(pool[0][0]), b.string(pool[0][1]), pool[0][2])

    def raw_stack(frame_ids: list[int]) -> int:
        sid = len(b.stacks) + 1
        b.stacks[(("(raw)", "", sid),)] = sid
        b.define_stack(sid, frame_ids)
        return sid

    extra = [raw_stack([dup, b.frame(*roots[1]), b.frame(*roots[0])])]
    if ambiguous:  # "In [3], line 2" twice: <module> of one file, <cell line: 0> of another
        b.meta_kv("cell_label:<ipython-input-3-a>", "In [3]")
        b.meta_kv("cell_label:<ipython-input-3-b>", "In [3]")
        extra.append(raw_stack([b.frame("<ipython-input-3-a>", "<module>", 2)]))
        extra.append(raw_stack([b.frame("<ipython-input-3-b>", "<cell line: 0>", 2)]))
    addr = 0x10000
    live: list[int] = []
    for k in range(1500):
        r = rng.random()
        if r < 0.6 or not live:
            depth = rng.randint(0, 5)
            stack = [rng.choice(pool) for _ in range(depth)] + roots[::-1][: rng.randint(0, 2)]
            size = rng.choice((8, 8, 64, 4096, 1 << 16, 1 << 20))
            if rng.random() < 0.03:
                b.alloc(rng.randrange(50), stack=None, size=size, address=addr)
            elif rng.random() < 0.05:
                sid = rng.choice(extra)
                b.alloc_raw(rng.randrange(50), 1, b.thread(1001), sid, size, addr)
            else:
                b.alloc(rng.randrange(50), stack=stack[::-1] if k % 2 else stack, size=size,
                        address=addr)
            live.append(addr)
            addr += 16
        else:
            b.free(rng.randrange(50), live.pop(rng.randrange(len(live))))
    b.trailer_rec()
    return b.to_bytes()


def _same_flame(snap: Snapshot) -> None:
    import re

    from heapprof_nb.views import flame

    plain = Snapshot(list(snap.entries), snap.title, snap.time)  # no rows: the general path
    assert plain._source_rows() is None
    for negative in (False, True):
        for share in (0.0, 0.001, 0.02, 0.2):
            assert flame.flame_tree(snap, negative=negative, min_share=share) == \
                flame.flame_tree(plain, negative=negative, min_share=share)
        uid = re.compile(r"hpnb-flame-[0-9a-f]{12}")
        assert uid.sub("", flame.flame_html(snap, negative=negative)) == \
            uid.sub("", flame.flame_html(plain, negative=negative))
    assert snap.collapsed() == plain.collapsed()


@pytest.mark.parametrize("ambiguous", [False, True])
def test_flame_fast_path_matches_entries(tmp_path: Path, ambiguous: bool) -> None:
    from heapprof_nb.views import flame

    prof = read(write(tmp_path, _flame_log(7, ambiguous=ambiguous)), cache=False)
    end = prof.duration
    for t0, t1 in ((0.0, end), (end / 3, end * 0.8), (end / 2, end / 2)):
        w = prof.window(t0, t1)
        for name in Window.MEASURES:
            fresh = getattr(prof.window(t0, t1), name)  # entries not built yet
            used = (flame._signed_keys(fresh, False) is not None)
            assert used == (not ambiguous)
            _same_flame(fresh)  # builds the entries: still the fast path while unchanged
            assert (flame._signed_keys(fresh, False) is not None) == (not ambiguous)
            _same_flame(getattr(w, name))
    _same_flame(prof.snapshot_at(end / 2))


def test_lazy_snapshot_entries(tmp_path: Path) -> None:
    import pickle

    from heapprof_nb.views import flame

    prof = read(write(tmp_path, _flame_log(3)), cache=False)
    snap = prof.window(0, prof.duration).live_at_end
    assert snap._entries is None  # nothing built by the query
    total, objects, error = snap.total, snap.objects, snap.error
    assert "stacks>" in repr(snap) and snap._entries is None
    entries = snap.entries
    assert snap.entries is entries
    assert math.fsum(e.bytes for e in entries) == total
    assert math.fsum(e.objects for e in entries) == objects
    assert math.sqrt(math.fsum(e.variance for e in entries)) == error
    assert all(e.bytes != 0 or e.objects != 0 for e in entries)
    assert snap._source_rows() is not None
    # a changed entries list is what the snapshot holds from then on
    dropped = max(entries, key=lambda e: e.bytes)
    entries.remove(dropped)
    assert snap._source_rows() is None
    assert flame._signed_keys(snap, False) is None
    assert flame.flame_tree(snap)["bytes"] == round(snap.total)
    assert math.isclose(snap.total, total - dropped.bytes)
    snap2 = prof.window(0, prof.duration).live_at_end
    snap2.entries = snap2.entries[:3]
    assert snap2._source_rows() is None and len(snap2.entries) == 3
    # pickles as a plain snapshot
    back = pickle.loads(pickle.dumps(prof.snapshot_at(prof.duration)))
    assert back._source_rows() is None
    assert back.entries == prof.snapshot_at(prof.duration).entries
