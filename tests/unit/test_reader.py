"""Tests of the reference decoder ``tests/reference_decoder.py`` against the hand-built logs of
``tests/logbuilder.py`` (an independent encoder of docs/log-format.md)."""

from __future__ import annotations

import math
import random
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    import logbuilder
except ImportError:  # e.g. --import-mode=importlib: tests/ is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import logbuilder

from logbuilder import LogBuilder, blob, header_bytes, varint

from heapprof_nb.errors import ProfileFormatError
from heapprof_nb._format import encode_varint
from reference_decoder import (
    KIND_ALLOC,
    KIND_FREE,
    KIND_MARKER,
    KIND_RSS,
    LogFollower,
    LogHeader,
    RawLog,
    read_log,
    weight,
)

U64 = 2**64 - 1
MIB = 1 << 20


# -- helpers ---------------------------------------------------------------------------------


def sample_builder(with_trailer: bool = True) -> LogBuilder:
    """A small log with every record type, multi-byte varints and non-ASCII text."""
    b = LogBuilder(mode=0, rate=4096, max_frames=8, seed=2**64 - 1, pid=31337)
    b.meta_kv("numpy_hooked", "1")
    b.marker(5, 1, "In [1]")
    outer = ("/home/user/analysis.py", "main", 10)
    mid = ("<ipython-input-1>", "load", 3)
    leaf = ("/usr/lib/python3.11/json/decoder.py", "raw_decode", 353)
    b.alloc(1000, stack=[leaf, mid, outer], size=40, address=0x7F12_3456_7890, domain=2)
    b.alloc(300_000, stack=[mid, outer], size=100_000, address=0x7F12_0000_0010, domain=1)
    b.rss(12, 150 * MIB)
    b.alloc(0, stack=None, size=8, address=0x5555_0000_0000, domain=0, native_thread=None)
    b.alloc(7, stack=[("ünïcødé.py", "fünc", 1)], size=2**40, address=U64, domain=3,
            native_thread=98765)
    b.free(2**35, 0x7F12_3456_7890)
    b.free(1, 0xDEAD)  # unmatched: not an event
    b.alloc(1, stack=[mid, outer], size=77, address=0x7F12_3456_7890, domain=1)
    b.meta_kv("cell_source:<ipython-input-1>", "x = [1] * 10\nprint('é')\n")
    b.marker(3, 0, "checkpoint ✓")
    b.alloc(2, stack=[], size=1, address=0x10, domain=1)  # an explicit empty stack
    b.marker(3, 2, "In [1]")
    b.free(4, 0x10)
    if with_trailer:
        b.trailer_rec(9, allocs_seen=1000, bytes_seen=2**33, samples=6, frees_recorded=2,
                      dropped=0, stacks=5, frames=4, truncated_stacks=1)
    return b


def dump(log: RawLog) -> dict[str, Any]:
    """Everything in a RawLog, as comparable plain values."""
    return {
        "header": log.header,
        "strings": dict(log.strings),
        "frames": dict(log.frames),
        "stacks": dict(log.stacks),
        "threads": dict(log.threads),
        "columns": [
            list(c)
            for c in (log.kind, log.time_ns, log.domain, log.thread, log.stack_id, log.size,
                      log.address, log.ref)
        ],
        "markers": dict(log.markers),
        "meta": dict(log.meta),
        "trailer": log.trailer,
        "end_ns": log.end_ns,
        "truncated": log.truncated,
        "bytes_read": log.bytes_read,
        "records": log.records,
        "unmatched_frees": log.unmatched_frees,
        "reused_addresses": log.reused_addresses,
    }


def check_consistent(log: RawLog) -> None:
    n = len(log.kind)
    for col in (log.time_ns, log.domain, log.thread, log.stack_id, log.size, log.address,
                log.ref):
        assert len(col) == n
    assert list(log.time_ns) == sorted(log.time_ns)
    for i, e in enumerate(log.events()):
        assert e[0] == log.kind[i]


def with_header(body: bytes, **kw: Any) -> bytes:
    return header_bytes(**kw) + body


def defs(max_frames: int = 8) -> LogBuilder:
    """A builder with one string, one frame, one stack and one thread defined."""
    b = LogBuilder(max_frames=max_frames)
    b.stack([("a.py", "f", 1)])
    b.thread(7)
    return b


def expect_error(data: bytes, *patterns: str, strict: bool = False) -> str:
    with pytest.raises(ProfileFormatError) as info:
        read_log(data, strict=strict)
    msg = str(info.value)
    for pat in patterns:
        assert pat in msg, (pat, msg)
    return msg


# -- round trips -----------------------------------------------------------------------------


def test_round_trip_every_record_type() -> None:
    b = sample_builder()
    log = read_log(b.to_bytes())
    h = log.header
    assert isinstance(h, LogHeader)
    assert (h.major, h.minor, h.pid, h.python_version) == (1, 0, 31337, "3.11.7")
    assert (h.mode, h.rate, h.buckets, h.max_frames, h.seed) == (0, 4096, (), 8, U64)
    assert h.start_ns == 1_000_000_000 and h.start_wall_ns == 1_700_000_000_000_000_000
    assert h.header_end == b.header_end

    assert log.strings == b.string_defs
    assert log.frames == b.frame_defs
    assert log.stacks == b.stack_defs
    assert log.threads == b.thread_defs
    assert log.threads == {1: 1001, 2: 98765}
    assert list(log.events()) == b.expected_events
    assert log.meta == b.meta
    assert log.trailer == b.trailer
    assert log.trailer is not None and log.trailer["bytes_seen"] == 2**33
    assert log.end_ns == b.time
    assert log.truncated is False
    assert log.bytes_read == len(b.to_bytes())
    assert log.records == len(b.record_ends)
    assert log.unmatched_frees == 1 == b.unmatched_frees
    assert log.reused_addresses == 0
    check_consistent(log)


def test_event_columns_and_refs() -> None:
    log = read_log(sample_builder().to_bytes())
    kinds = list(log.kind)
    assert kinds == [KIND_MARKER, KIND_ALLOC, KIND_ALLOC, KIND_RSS, KIND_ALLOC, KIND_ALLOC,
                     KIND_FREE, KIND_ALLOC, KIND_MARKER, KIND_ALLOC, KIND_MARKER, KIND_FREE]
    # time is the running sum of dt, relative to start_ns
    assert list(log.time_ns[:4]) == [5, 1005, 301005, 301017]
    assert log.size[3] == 150 * MIB  # RSS bytes live in the size column
    assert log.markers[0] == (1, "In [1]") and log.markers[10] == (2, "In [1]")
    assert log.markers[8] == (0, "checkpoint ✓")
    # FREE <-> ALLOC references
    assert log.ref[6] == 1 and log.ref[1] == 6
    assert log.ref[11] == 9 and log.ref[9] == 11
    assert log.ref[2] == -1 and log.ref[3] == -1
    assert log.address[5] == U64 and log.size[5] == 2**40 and log.domain[5] == 3
    # stack 0 / thread 0 mean "none": the RAW allocation without a Python frame
    assert log.address[4] == 0x5555_0000_0000
    assert log.stack_id[4] == 0 and log.thread[4] == 0 and log.domain[4] == 0
    assert log.resolve_stack(0) == ()
    assert log.resolve_stack(log.stack_id[1]) == (
        ("/usr/lib/python3.11/json/decoder.py", "raw_decode", 353),
        ("<ipython-input-1>", "load", 3),
        ("/home/user/analysis.py", "main", 10),
    )
    i_empty = next(i for i in range(len(log)) if log.kind[i] == 0 and log.address[i] == 0x10)
    assert log.stacks[log.stack_id[i_empty]] == ()


def test_no_trailer_is_truncated() -> None:
    b = sample_builder(with_trailer=False)
    log = read_log(b.to_bytes())
    assert log.truncated is True
    assert log.trailer is None
    assert log.end_ns == b.time
    assert log.bytes_read == len(b.to_bytes())
    assert list(log.events()) == b.expected_events


def test_header_only_log() -> None:
    data = header_bytes()
    log = read_log(data)
    assert len(log) == 0 and log.records == 0 and log.truncated
    assert log.bytes_read == len(data) == log.header.header_end


def test_read_from_path_and_bytes_agree(tmp_path: Path) -> None:
    data = sample_builder().to_bytes()
    p = tmp_path / "run.hpnb"
    p.write_bytes(data)
    assert dump(read_log(p)) == dump(read_log(data))
    assert dump(read_log(str(p))) == dump(read_log(bytearray(data)))
    assert dump(read_log(memoryview(data))) == dump(read_log(data))


def test_header_extra_bytes_and_minor_version_accepted() -> None:
    b = LogBuilder(minor=7, extra=b"\x01\x02\x03future fields")
    b.alloc(1, size=10, address=1)
    log = read_log(b.to_bytes())
    assert log.header.minor == 7
    assert log.header.header_end == b.header_end
    assert list(log.events()) == b.expected_events


def test_buckets_round_trip() -> None:
    buckets = [(0, 0.25), (64, 0.5), (4096, 1.0)]
    log = read_log(header_bytes(mode=1, buckets=buckets))
    assert log.header.mode == 1 and log.header.rate == 0
    assert log.header.buckets == tuple(buckets)


def test_varint_edges() -> None:
    for n in (0, 1, 127, 128, 255, 300, 16383, 16384, 2**32, 2**63, U64):
        assert encode_varint(n) == varint(n)
    assert encode_varint(U64) == b"\xff" * 9 + b"\x01"
    with pytest.raises(ValueError):
        encode_varint(-1)
    with pytest.raises(ValueError):
        encode_varint(2**64)
    b = LogBuilder()
    b.rss(U64, U64)
    log = read_log(b.to_bytes())
    assert log.size[0] == U64 and log.time_ns[0] == U64


def test_non_canonical_varint_is_accepted() -> None:
    # 0x85 0x80 0x00 == 5 (padding groups): the spec only forbids an 11th byte / 10th > 1
    data = header_bytes() + bytes([0x12]) + b"\x85\x80\x00" + b"\x81\x00"
    log = read_log(data)
    assert list(log.events()) == [(KIND_RSS, 5, 1)]


def test_max_size_string_and_depth_accepted() -> None:
    b = LogBuilder(max_frames=4)
    b.define_string(1, "x" * MIB)
    b.define_frame(1, 1, 1, 1)
    b.define_stack(1, [1, 1, 1, 1])
    log = read_log(b.to_bytes())
    assert len(log.strings[1]) == MIB and log.stacks[1] == (1, 1, 1, 1)


def test_reused_address_counted_or_strict_error() -> None:
    b = LogBuilder()
    b.alloc(1, size=10, address=0x1000)
    b.alloc(1, size=20, address=0x1000)
    b.free(1, 0x1000)
    log = read_log(b.to_bytes())
    assert log.reused_addresses == 1
    assert log.ref[2] == 1 and log.ref[1] == 2 and log.ref[0] == -1
    expect_error(b.to_bytes(), "still live", f"byte offset {b.record_ends[-3]}", strict=True)


def test_unmatched_free_strict_and_lenient() -> None:
    b = LogBuilder()
    b.alloc(1, size=10, address=0x1000)
    b.free(1, 0x2000)
    b.free(1, 0x1000)
    b.free(1, 0x1000)  # double free
    log = read_log(b.to_bytes())
    assert log.unmatched_frees == 2
    assert [e[0] for e in log.events()] == [KIND_ALLOC, KIND_FREE]
    assert log.time_ns[1] == 3  # unmatched FREEs still advance the clock
    assert log.end_ns == 4
    expect_error(b.to_bytes(), "not live", f"byte offset {b.record_ends[-4]}", strict=True)


# -- weights ---------------------------------------------------------------------------------


def hdr(mode: int, rate: int = 0, buckets: tuple[tuple[int, float], ...] = ()) -> LogHeader:
    return LogHeader(1, 0, 1, "3.11.7", mode, rate, buckets, 128, 0, 0, 0, 16)


def test_weight_mode0_known_numbers() -> None:
    h = hdr(0, rate=1000)
    # s = R: p = 1 - 1/e
    wb, wo = weight(h, 1000)
    assert wb == pytest.approx(1000 / (1 - math.exp(-1)), rel=1e-15)
    assert wb == pytest.approx(1581.9767068693265, rel=1e-14)
    assert wo == pytest.approx(1.5819767068693265, rel=1e-14)
    # huge allocations are (almost) surely sampled: weight ~ size, 1 object
    wb, wo = weight(h, 10**9)
    assert wb == pytest.approx(10**9, rel=1e-15) and wo == pytest.approx(1.0, rel=1e-15)
    # s = R ln 2 gives p = 1/2 (up to the integer size)
    h2 = hdr(0, rate=2**20)
    s = round(2**20 * math.log(2))
    wb, wo = weight(h2, s)
    p = 1 - math.exp(-s / 2**20)
    assert wo == pytest.approx(1 / p, rel=1e-12) and wo == pytest.approx(2.0, rel=1e-5)
    assert wb == pytest.approx(s / p, rel=1e-12)


def test_weight_mode0_small_sizes_are_precise() -> None:
    # s << R: s/p = R * x / (1 - e^-x) with x = s/R, = R + s/2 + s^2/(12R) + ...
    R = 2**40
    wb, wo = weight(hdr(0, rate=R), 1)
    assert wb == pytest.approx(R + 0.5, rel=1e-15)
    assert wo == pytest.approx(R + 0.5, rel=1e-15)
    R = 512 * 1024
    for s in (1, 8, 64, 1000):
        wb, wo = weight(hdr(0, rate=R), s)
        assert wb == pytest.approx(R + s / 2 + s * s / (12 * R), rel=1e-9)
        assert wb == pytest.approx(s * wo, rel=1e-15)


def test_weight_mode0_zero_size() -> None:
    assert weight(hdr(0, rate=1000), 0) == (0.0, 0.0)


def test_weight_mode1_bucket_lookup() -> None:
    h = hdr(1, buckets=((16, 0.5), (256, 0.1), (4096, 1.0)))
    assert weight(h, 1) == pytest.approx((2.0, 2.0))  # below the first threshold: first bucket
    assert weight(h, 0) == pytest.approx((0.0, 2.0))
    assert weight(h, 16) == pytest.approx((32.0, 2.0))
    assert weight(h, 255) == pytest.approx((510.0, 2.0))
    assert weight(h, 256) == pytest.approx((2560.0, 10.0))
    assert weight(h, 4095) == pytest.approx((40950.0, 10.0))
    assert weight(h, 4096) == (4096.0, 1.0)
    assert weight(h, 10**12) == (1e12, 1.0)


def test_weight_mode2() -> None:
    h = hdr(2, rate=1)
    assert weight(h, 0) == (0.0, 1.0)
    assert weight(h, 123) == (123.0, 1.0)


def test_weight_from_decoded_header() -> None:
    b = LogBuilder(mode=1, buckets=[(0, 0.25), (1024, 1.0)])
    b.alloc(1, size=100, address=1)
    b.alloc(1, size=2000, address=2)
    log = read_log(b.to_bytes())
    assert log.weights(0) == (400.0, 4.0)
    assert log.weights(1) == (2000.0, 1.0)


# -- truncation ------------------------------------------------------------------------------


def test_truncated_at_every_offset() -> None:
    b = sample_builder()
    data = b.to_bytes()
    full = read_log(data)
    full_events = list(full.events())
    hend = b.header_end
    for cut in range(len(data) + 1):
        part = data[:cut]
        if cut < hend:
            with pytest.raises(ProfileFormatError, match="empty file|incomplete header"):
                read_log(part)
            continue
        log = read_log(part)
        whole = sum(1 for e in b.record_ends if e <= cut)
        assert log.records == whole, cut
        assert log.bytes_read == (b.record_ends[whole - 1] if whole else hend), cut
        assert log.truncated is (cut < len(data)), cut
        n_ev = sum(1 for r in b.expected_event_records if r < whole)
        assert list(log.events()) == full_events[:n_ev], cut
        assert (log.trailer is not None) is (cut == len(data))
        check_consistent(log)


def test_empty_and_short_header_messages(tmp_path: Path) -> None:
    expect_error(b"", "empty file")
    p = tmp_path / "empty.hpnb"
    p.write_bytes(b"")
    expect_error_path = pytest.raises(ProfileFormatError, match="empty file")
    with expect_error_path:
        read_log(p)
    data = header_bytes()
    msg = expect_error(data[:20], "incomplete header", "20 bytes", f"needs {len(data)}")
    assert "still being written" in msg
    expect_error(data[:3], "incomplete header")


# -- format errors ---------------------------------------------------------------------------


def test_bad_magic() -> None:
    msg = expect_error(b"NOTALOG\x00" + header_bytes()[8:], "bad magic", "byte offset 0")
    assert "not a heapprof_nb log" in msg
    expect_error(b"HPNX", "bad magic")  # wrong even before the magic is whole
    expect_error(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "bad magic")


def test_future_major_version() -> None:
    msg = expect_error(header_bytes(major=2), "major version 2", "supports major version 1")
    assert "byte offset 8" in msg
    # known as soon as the version bytes are there, even if the header is incomplete
    expect_error(header_bytes(major=7)[:10], "major version 7")
    expect_error(header_bytes(major=0), "major version 0")


def test_header_limits() -> None:
    expect_error(header_bytes(header_length=65537), "header_length 65537", "byte offset 12")
    expect_error(header_bytes(mode=1, buckets=[(i, 1.0) for i in range(65)]), "n_buckets 65")
    read_log(header_bytes(mode=1, buckets=[(i, 1.0) for i in range(64)]))
    expect_error(header_bytes(max_frames=0), "max_frames 0")
    expect_error(header_bytes(max_frames=4097), "max_frames 4097")
    read_log(header_bytes(max_frames=4096))
    expect_error(header_bytes(mode=3), "unknown sampling mode 3")
    expect_error(header_bytes(mode=0, rate=0), "rate")
    expect_error(header_bytes(mode=1, buckets=[]), "at least one bucket")
    expect_error(header_bytes(mode=0, buckets=[(1, 0.5)]), "n_buckets 0")
    for bad in (0.0, -0.5, 1.5, float("nan"), float("inf")):
        expect_error(header_bytes(mode=1, buckets=[(1, bad)]), "probability")
    expect_error(header_bytes(mode=1, buckets=[(64, 0.5), (16, 1.0)]), "not sorted")


def test_header_body_too_short_for_its_fields() -> None:
    data = header_bytes()
    hl = struct.unpack_from("<I", data, 12)[0]
    short = data[:12] + struct.pack("<I", hl - 1) + data[16:-1]
    expect_error(short, "header body ends inside start_wall_ns")
    # and a header_length that swallows a record is fine: those bytes are "extra"
    b = LogBuilder()
    b.rss(1, 2)
    data = b.to_bytes()
    fat = data[:12] + struct.pack("<I", len(data) - 16) + data[16:]
    log = read_log(fat)
    assert len(log) == 0 and log.header.header_end == len(data)


def test_overlong_varint() -> None:
    b = LogBuilder()
    b.rss(1, 1)
    off = len(b.to_bytes())
    # 11 bytes
    bad = b.to_bytes() + b"\x11" + b"\x80" * 10 + b"\x00" + b"\x01"
    expect_error(bad, "over-long varint", f"byte offset {off + 1}")
    # 10th byte above 1 (value >= 2**64)
    bad = b.to_bytes() + b"\x12\x01" + b"\xff" * 9 + b"\x02"
    expect_error(bad, "over-long varint", f"byte offset {off + 2}")
    # even when the file ends right after the 10th continuation byte
    expect_error(b.to_bytes() + b"\x12\x01" + b"\x80" * 10, "over-long varint")
    # in the header too
    data = header_bytes()
    body = b"\x80" * 10 + b"\x01" + data[17:]
    bad_hdr = data[:12] + struct.pack("<I", len(body)) + body
    expect_error(bad_hdr, "over-long varint in pid", "byte offset 16")


def test_string_over_limit() -> None:
    b = LogBuilder()
    off = len(b.to_bytes())
    # the length alone is enough to refuse: nothing allocated, not taken for a truncation
    data = b.to_bytes() + b"\x01\x01" + varint(MIB + 1)
    expect_error(data, "STRING of 1048577 bytes", f"byte offset {off + 2}")
    expect_error(b.to_bytes() + b"\x13\x01\x00" + varint(MIB + 1), "MARKER label")
    expect_error(b.to_bytes() + b"\x14" + varint(MIB + 1), "META key")
    expect_error(b.to_bytes() + b"\x14\x01k" + varint(16 * MIB + 1), "META value")


def test_stack_depth_over_max_frames() -> None:
    b = LogBuilder(max_frames=4)
    b.stack([("a.py", "f", 1)])
    off = len(b.to_bytes())
    b.define_stack(2, [1] * 5)
    expect_error(b.to_bytes(), "depth 5 exceeds max_frames 4", f"byte offset {off + 2}")
    # a huge depth with few bytes left is refused on the limit, not allocated
    b = LogBuilder(max_frames=4096)
    expect_error(b.to_bytes() + b"\x03\x01" + varint(2**62), "exceeds max_frames")


def test_undefined_ids() -> None:
    b = defs()
    off = len(b.to_bytes())
    b.define_stack(2, [1, 2])
    expect_error(b.to_bytes(), "undefined frame 2", f"byte offset {off + 4}")

    b = defs()
    b.define_stack(2, [0])
    expect_error(b.to_bytes(), "undefined frame 0")

    b = defs()
    off = len(b.to_bytes())
    b.alloc_raw(1, 1, 1, 2, 10, 0x100)
    expect_error(b.to_bytes(), "undefined stack 2", f"byte offset {off + 4}")

    b = defs()
    off = len(b.to_bytes())
    b.alloc_raw(1, 1, 2, 1, 10, 0x100)
    expect_error(b.to_bytes(), "undefined thread 2", f"byte offset {off + 3}")

    b = defs()
    off = len(b.to_bytes())
    b.define_frame(2, 1, 3, 5)
    expect_error(b.to_bytes(), "undefined string 3", f"byte offset {off + 3}")

    # 0 ("none") is fine for stack, thread and the frame's strings
    b = defs()
    b.alloc_raw(1, 1, 0, 0, 10, 0x100)
    b.define_frame(2, 0, 0, 0)
    log = read_log(b.to_bytes())
    assert log.frames[2] == (0, 0, 0)


def test_ids_must_be_dense_and_in_order() -> None:
    b = defs()
    b.define_string(4, "gap")
    expect_error(b.to_bytes(), "STRING id 4 out of order (expected 3)")
    b = defs()
    b.define_string(1, "again")
    expect_error(b.to_bytes(), "STRING id 1 out of order")
    b = defs()
    b.define_frame(1, 1, 1, 1)
    expect_error(b.to_bytes(), "FRAME id 1 out of order")
    b = defs()
    b.define_stack(0, [])
    expect_error(b.to_bytes(), "STACK id 0 out of order")
    b = defs()
    b.define_thread(3, 5)
    expect_error(b.to_bytes(), "THREAD index 3 out of order")


def test_unknown_tag() -> None:
    for tag in (0x00, 0x05, 0x15, 0x7E, 0x80, 0xFF):
        b = defs()
        off = len(b.to_bytes())
        b.raw(bytes([tag]) + b"\x00" * 20)
        expect_error(b.to_bytes(), f"unknown record tag {tag:#04x}", f"byte offset {off}")


def test_bad_domain_and_utf8() -> None:
    b = defs()
    b.alloc_raw(1, 4, 1, 1, 10, 0x100)
    expect_error(b.to_bytes(), "unknown domain 4")
    # invalid UTF-8: replaced by default, an error in strict mode
    b = defs()
    b.raw(b"\x01\x03\x03ab\xc3")  # e.g. cut inside a character by the writer's size limit
    assert read_log(b.to_bytes()).strings[3] == "ab\ufffd"
    expect_error(b.to_bytes(), "STRING text is not UTF-8", strict=True)
    data = header_bytes() + b"\x14\x01k\x01\xff"
    assert read_log(data).meta == {"k": "\ufffd"}
    expect_error(data, "META value is not UTF-8", strict=True)
    expect_error(header_bytes() + b"\x14\x01\xff\x00", "META key is not UTF-8", strict=True)
    data = header_bytes() + b"\x13\x00\x00\x01\xff"
    assert read_log(data).markers[0] == (0, "\ufffd")
    expect_error(data, "MARKER label is not UTF-8", strict=True)


def test_data_after_trailer() -> None:
    b = sample_builder()
    off = len(b.to_bytes())
    expect_error(b.to_bytes() + b"\x12\x00\x00", "after the TRAILER", f"byte offset {off}")
    # even a lone byte (which on its own would be an incomplete record)
    expect_error(b.to_bytes() + b"\x12", "after the TRAILER")


# -- following a growing file ----------------------------------------------------------------


def follow_in_chunks(tmp_path: Path, data: bytes, cuts: list[int]) -> tuple[RawLog, int]:
    p = tmp_path / "growing.hpnb"
    p.write_bytes(b"")
    total = 0
    with LogFollower(p) as f:
        assert f.poll() == 0
        with pytest.raises(ProfileFormatError, match="empty file"):
            _ = f.log
        prev = 0
        with open(p, "ab", buffering=0) as w:
            for cut in cuts + [len(data)]:
                w.write(data[prev:cut])
                prev = cut
                n = f.poll()
                assert n >= 0
                total += n
                if f.header_complete:
                    log = f.log
                    assert log.bytes_read + f.pending == cut
                    assert log.records == total
                    check_consistent(log)
                else:
                    assert n == 0
        assert f.poll() == 0
        return f.log, total


def test_follower_matches_read_log(tmp_path: Path) -> None:
    data = sample_builder().to_bytes()
    want = dump(read_log(data))
    rng = random.Random(1234)
    for trial in range(30):
        k = rng.randint(1, 20)
        cuts = sorted(rng.sample(range(1, len(data)), k))
        log, total = follow_in_chunks(tmp_path, data, cuts)
        assert total == want["records"]
        assert dump(log) == want, trial


def test_follower_byte_by_byte(tmp_path: Path) -> None:
    data = sample_builder().to_bytes()
    log, total = follow_in_chunks(tmp_path, data, list(range(1, len(data))))
    assert dump(log) == dump(read_log(data))


def test_follower_feed_and_state() -> None:
    b = sample_builder(with_trailer=False)
    data = b.to_bytes()
    f = LogFollower()
    assert f.feed(data[:10]) == 0
    with pytest.raises(ProfileFormatError, match="incomplete header"):
        _ = f.log
    with pytest.raises(ValueError):
        f.poll()
    mid = b.record_ends[5] + 2  # inside record 6
    assert f.feed(data[10:mid]) == 6
    assert f.log.truncated and f.log.bytes_read == b.record_ends[5]
    assert f.pending == 2
    assert f.feed(data[mid:]) == len(b.record_ends) - 6
    assert f.pending == 0 and f.log.truncated  # no trailer yet
    before = len(f.log)
    b.trailer_rec(3, samples=1)
    assert f.feed(b.to_bytes()[len(data):]) == 1
    assert f.log.truncated is False and f.log.trailer == b.trailer
    assert len(f.log) == before and f.log.end_ns == b.time
    # a byte appended after the TRAILER, even an incomplete record, is an error
    off = len(b.to_bytes())
    with pytest.raises(ProfileFormatError, match=f"after the TRAILER at byte offset {off}"):
        f.feed(b"\x12")


def test_follower_poisoned_after_error() -> None:
    f = LogFollower()
    with pytest.raises(ProfileFormatError):
        f.feed(header_bytes() + b"\x55")
    with pytest.raises(ProfileFormatError, match="unknown record tag"):
        f.feed(b"\x12\x00\x00")
    with pytest.raises(ProfileFormatError, match="unknown record tag"):
        _ = f.log


# -- fuzz ------------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes) -> bytes:
    d = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(6)
        i = rng.randrange(len(d) + 1) if d else 0
        if op == 0 and d:  # overwrite a byte
            d[min(i, len(d) - 1)] = rng.randrange(256)
        elif op == 1 and d:  # flip a bit
            j = min(i, len(d) - 1)
            d[j] ^= 1 << rng.randrange(8)
        elif op == 2:  # insert random bytes
            d[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
        elif op == 3:  # delete a range
            del d[i : i + rng.randint(1, 12)]
        elif op == 4:  # truncate
            del d[i:]
        else:  # duplicate a slice elsewhere
            j = rng.randrange(len(d) + 1)
            d[j:j] = d[i : i + rng.randint(1, 30)]
    return bytes(d)


def test_fuzz_mutations_only_raise_format_errors() -> None:
    rng = random.Random(20240611)
    seeds = [sample_builder().to_bytes(), sample_builder(with_trailer=False).to_bytes()]
    b = LogBuilder(mode=1, buckets=[(0, 0.5), (100, 1.0)], max_frames=3)
    for i in range(20):
        b.alloc(i, stack=[("f.py", "g", i % 4), ("f.py", "h", 9)], size=i * 50, address=i + 1)
        if i % 3 == 0:
            b.free(2, i + 1)
    seeds.append(b.to_bytes())
    ok = errors = 0
    for case in range(4000):
        data = mutate(rng, rng.choice(seeds))
        strict = case % 5 == 0
        try:
            log = read_log(data, strict=strict)
        except ProfileFormatError:
            errors += 1
            continue
        ok += 1
        check_consistent(log)
        assert log.bytes_read <= len(data)
        for sid in set(log.stack_id):
            log.resolve_stack(sid)
        for i in range(len(log)):
            if log.kind[i] == KIND_ALLOC:
                wb, wo = log.weights(i)
                assert wb >= 0 and wo >= 0
    assert ok > 100 and errors > 100  # both paths were exercised


def test_fuzz_follower_agrees_with_read_log() -> None:
    rng = random.Random(99)
    base = sample_builder().to_bytes()
    for _ in range(300):
        data = mutate(rng, base)
        try:
            want: dict[str, Any] | str = dump(read_log(data))
        except ProfileFormatError as e:
            want = "error: " + str(e)
        f = LogFollower()
        got: dict[str, Any] | str
        try:
            pos = 0
            while pos < len(data):
                step = rng.randint(1, 40)
                f.feed(data[pos : pos + step])
                pos += step
            got = dump(f.finish())
        except ProfileFormatError as e:
            got = "error: " + str(e)
        assert got == want
