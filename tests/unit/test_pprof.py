"""pprof export, checked with a small protobuf reader written here (independent of the writer)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

from heapprof_nb.views import pprof
from heapprof_nb.digest.model import Frame, Snapshot, StackStat

from .frames import CELL, LOAD, MOD, READ


def known() -> Snapshot:
    return Snapshot(
        [
            StackStat((READ, LOAD, MOD), 6000.4, 6.2, 3),
            StackStat((LOAD, MOD), 1000, 1, 1),
            StackStat((LOAD, CELL), 200, 2, 1),
            StackStat((), 100, 1, 1),
            StackStat((READ, LOAD, MOD, LOAD), -50, -1, 1),  # a shrinking stack
        ],
        title="live at 1.0 s",
    )


# -------------------------------------------------------------------------------------------
# A protobuf wire-format reader: every field as (number, wire type, value)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos
        assert shift < 70, "varint too long"


def fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 2:
            size, pos = read_varint(buf, pos)
            value = buf[pos : pos + size]
            assert len(value) == size
            pos += size
        elif wire == 1:
            value = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == 5:
            value = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, wire, value))
    assert pos == len(buf)
    return out


def ints(items: list[tuple[int, int, int | bytes]], number: int, signed: bool = False) -> list[int]:
    """A repeated integer field, packed or not."""
    values: list[int] = []
    for n, wire, v in items:
        if n != number:
            continue
        if wire == 2:
            assert isinstance(v, bytes)
            pos = 0
            while pos < len(v):
                x, pos = read_varint(v, pos)
                values.append(x)
        else:
            assert isinstance(v, int)
            values.append(v)
    if signed:
        values = [x - (1 << 64) if x >= 1 << 63 else x for x in values]
    return values


def one(items: list[tuple[int, int, int | bytes]], number: int, default: int = 0) -> int:
    found = ints(items, number)
    assert len(found) <= 1
    return found[0] if found else default


def subs(items: list[tuple[int, int, int | bytes]], number: int) -> list[list[tuple[int, int, int | bytes]]]:
    out = []
    for n, wire, v in items:
        if n == number:
            assert wire == 2 and isinstance(v, bytes)
            out.append(fields(v))
    return out


@dataclass
class Profile:
    strings: list[str]
    sample_types: list[tuple[str, str]]
    samples: list[tuple[list[int], list[int]]]
    locations: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (function, line)
    functions: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    default_sample_type: str = ""
    period_type: tuple[str, str] = ("", "")
    comments: list[str] = field(default_factory=list)

    def stack(self, location_ids: list[int]) -> list[tuple[str, str, int]]:
        out = []
        for lid in location_ids:
            fid, line = self.locations[lid]
            name, filename, _ = self.functions[fid]
            out.append((name, filename, line))
        return out


def decode(data: bytes) -> Profile:
    top = fields(data)
    strings = [v.decode("utf-8") for n, _, v in top if n == 6 and isinstance(v, bytes)]

    def value_type(items: list[tuple[int, int, int | bytes]]) -> tuple[str, str]:
        return strings[one(items, 1)], strings[one(items, 2)]

    prof = Profile(
        strings=strings,
        sample_types=[value_type(vt) for vt in subs(top, 1)],
        samples=[(ints(s, 1), ints(s, 2, signed=True)) for s in subs(top, 2)],
    )
    for loc in subs(top, 4):
        lines = subs(loc, 4)
        assert len(lines) == 1
        prof.locations[one(loc, 1)] = (one(lines[0], 1), one(lines[0], 2))
    for fn in subs(top, 5):
        prof.functions[one(fn, 1)] = (strings[one(fn, 2)], strings[one(fn, 4)], one(fn, 5))
    prof.default_sample_type = strings[one(top, 14)]
    (period,) = subs(top, 11)
    prof.period_type = value_type(period)
    prof.comments = [strings[i] for i in ints(top, 13)]
    return prof


# -------------------------------------------------------------------------------------------


def test_header_fields() -> None:
    prof = decode(pprof.encode_profile(known()))
    assert prof.strings[0] == ""
    assert len(set(prof.strings)) == len(prof.strings)
    assert prof.sample_types == [("objects", "count"), ("space", "bytes")]
    assert prof.default_sample_type == "space"
    assert prof.period_type == ("space", "bytes")
    assert prof.comments == ["live at 1.0 s"]


def test_samples_values_and_leaf_first_locations() -> None:
    snap = known()
    prof = decode(pprof.encode_profile(snap))
    assert len(prof.samples) == len(snap.entries)
    for entry, (locs, values) in zip(snap.entries, prof.samples):
        assert values == [round(entry.objects), round(entry.bytes)]
        got = prof.stack(locs)
        if entry.stack:
            want = [
                (f.function, f.cell if f.cell is not None else f.filename, f.line)
                for f in entry.stack
            ]
        else:
            want = [("<no Python frame>", "", 0)]
        assert got == want  # leaf (allocating frame) first
    # negative values survive (two's complement varints)
    assert prof.samples[-1][1] == [-1, -50]
    # the first sample starts at read_csv, the allocating frame
    assert prof.stack(prof.samples[0][0])[0] == ("read_csv", READ.filename, 200)


def test_tables_are_shared_and_ids_valid() -> None:
    prof = decode(pprof.encode_profile(known()))
    assert sorted(prof.locations) == list(range(1, len(prof.locations) + 1))
    assert sorted(prof.functions) == list(range(1, len(prof.functions) + 1))
    for fid, _ in prof.locations.values():
        assert fid in prof.functions
    for locs, _ in prof.samples:
        assert all(lid in prof.locations for lid in locs)
    # one location per distinct (function, file, line), one function per (name, file)
    assert len(prof.locations) == 5  # read_csv, load, <module>, In [3] line 2, no frame
    assert len({(n, f) for n, f, _ in prof.functions.values()}) == len(prof.functions)
    assert ("<module>", "In [3]", 0) in prof.functions.values()


def test_write_pprof_gzips(tmp_path: Path) -> None:
    snap = known()
    path = tmp_path / "heap.pb.gz"
    assert pprof.write_pprof(snap, str(path)) == str(path)
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == pprof.encode_profile(snap)
    # the Snapshot method writes the same thing
    other = tmp_path / "again.pb.gz"
    assert snap.write_pprof(str(other)) == str(other)
    assert gzip.decompress(other.read_bytes()) == pprof.encode_profile(snap)


def test_large_values_and_empty_snapshot() -> None:
    big = Snapshot([StackStat((LOAD,), 5 * 2**40, 3 * 2**33, 1)])  # 5 TiB: no 32-bit truncation
    prof = decode(pprof.encode_profile(big))
    assert prof.samples[0][1] == [3 * 2**33, 5 * 2**40]
    empty = decode(pprof.encode_profile(Snapshot([])))
    assert empty.samples == [] and empty.sample_types == [("objects", "count"), ("space", "bytes")]


def test_undecodable_names_are_valid_utf8() -> None:
    odd = Frame("/app/caf\udce9.py", "f", 1)
    prof = decode(pprof.encode_profile(Snapshot([StackStat((odd,), 10, 1, 1)])))
    assert ("f", "/app/caf\\udce9.py", 0) in prof.functions.values()
