"""Hand-build heapprof_nb event logs (docs/log-format.md, format 1.0) for tests.

This is a test oracle: it encodes the format again from the page, sharing no code with
``tests/reference_decoder.py`` (only the names of the TRAILER counters, which
``tests/unit/test_format.py`` checks against the engine's header). Besides the bytes it keeps what a correct reader must find:

- ``expected_events``: the events in the reader's tuple form (``RawLog.event``), each with the
  index of the record it came from (``expected_event_records``);
- ``record_ends``: the byte offset after each record, so a test can tell which records a cut
  at any offset leaves whole.

High-level methods (``alloc(dt, stack=[("file.py", "f", 3), ...], size=..., address=...)``)
define strings, frames, stacks and threads on first use; low-level ones (``define_string(id,
text)``, ``raw(b)``...) write exactly what they are told, for building broken logs.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Iterable, Sequence

from reference_decoder import TRAILER_FIELDS

MAGIC = b"HPNBLOG\x00"

T_STRING, T_FRAME, T_STACK, T_THREAD = 0x01, 0x02, 0x03, 0x04
T_ALLOC, T_FREE, T_RSS, T_MARKER, T_META, T_TRAILER = 0x10, 0x11, 0x12, 0x13, 0x14, 0x7F

COUNTERS = TRAILER_FIELDS

FrameSpec = tuple[str, str, int]


def varint(n: int) -> bytes:
    """LEB128, written independently of the reader's encoder."""
    assert 0 <= n < 2**64, n
    groups = []
    while True:
        groups.append(n % 128)
        n //= 128
        if n == 0:
            break
    return bytes([g + 128 for g in groups[:-1]] + [groups[-1]])


def blob(data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return varint(len(data)) + data


def header_bytes(
    *,
    mode: int = 0,
    rate: int | None = None,
    buckets: Sequence[tuple[int, float]] = (),
    max_frames: int = 128,
    seed: int = 12345,
    pid: int = 4242,
    python_version: str = "3.11.7",
    start_ns: int = 1_000_000_000,
    start_wall_ns: int = 1_700_000_000_000_000_000,
    major: int = 1,
    minor: int = 0,
    extra: bytes = b"",
    header_length: int | None = None,
) -> bytes:
    if rate is None:
        rate = {0: 512 * 1024, 1: 0, 2: 1}.get(mode, 0)
    body = bytearray()
    body += varint(pid)
    body += blob(python_version)
    body += varint(mode)
    body += varint(rate)
    body += varint(len(buckets))
    for threshold, prob in buckets:
        body += varint(threshold)
        body += struct.pack("<d", prob)
    body += varint(max_frames)
    body += varint(seed)
    body += varint(start_ns)
    body += varint(start_wall_ns)
    body += extra
    hl = len(body) if header_length is None else header_length
    return MAGIC + struct.pack("<HHI", major, minor, hl) + bytes(body)


class LogBuilder:
    def __init__(self, **header: object) -> None:
        self.header_kw = dict(header)
        self.head = header_bytes(**header)  # type: ignore[arg-type]
        self.body = bytearray()
        self.record_ends: list[int] = []
        self.expected_events: list[tuple[object, ...]] = []
        self.expected_event_records: list[int] = []
        self.strings: dict[str, int] = {}
        self.frames: dict[FrameSpec, int] = {}
        self.stacks: dict[tuple[FrameSpec, ...], int] = {}
        self.threads: dict[int, int] = {}
        self.string_defs: dict[int, str] = {}
        self.frame_defs: dict[int, tuple[int, int, int]] = {}
        self.stack_defs: dict[int, tuple[int, ...]] = {}
        self.thread_defs: dict[int, int] = {}
        self.meta: dict[str, str] = {}
        self.trailer: dict[str, int] | None = None
        self.live: set[int] = set()
        self.unmatched_frees = 0
        self.time = 0

    # -- output ------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return self.head + bytes(self.body)

    @property
    def header_end(self) -> int:
        return len(self.head)

    def _record(self, tag: int, *fields: bytes) -> None:
        self.body.append(tag)
        for f in fields:
            self.body += f
        self.record_ends.append(len(self.head) + len(self.body))

    def _event(self, ev: tuple[object, ...]) -> None:
        self.expected_events.append(ev)
        self.expected_event_records.append(len(self.record_ends) - 1)

    # -- low level: exactly what is asked ----------------------------------------------------

    def raw(self, data: bytes) -> None:
        """Append bytes as one 'record' (may be anything, valid or not)."""
        self.body += data
        self.record_ends.append(len(self.head) + len(self.body))

    def define_string(self, sid: int, text: str | bytes) -> None:
        self._record(T_STRING, varint(sid), blob(text))
        if isinstance(text, str):
            self.string_defs[sid] = text

    def define_frame(self, fid: int, file_id: int, func_id: int, line: int) -> None:
        self._record(T_FRAME, varint(fid), varint(file_id), varint(func_id), varint(line))
        self.frame_defs[fid] = (file_id, func_id, line)

    def define_stack(self, sid: int, frame_ids: Sequence[int]) -> None:
        self._record(
            T_STACK, varint(sid), varint(len(frame_ids)), *(varint(f) for f in frame_ids)
        )
        self.stack_defs[sid] = tuple(frame_ids)

    def define_thread(self, index: int, native_id: int) -> None:
        self._record(T_THREAD, varint(index), varint(native_id))
        self.thread_defs[index] = native_id

    def alloc_raw(
        self, dt: int, domain: int, thread: int, stack_id: int, size: int, address: int
    ) -> None:
        self._record(
            T_ALLOC,
            varint(dt),
            bytes([domain]),
            varint(thread),
            varint(stack_id),
            varint(size),
            varint(address),
        )
        self.time += dt
        self.live.add(address)
        self._event((0, self.time, domain, thread, stack_id, size, address))

    # -- high level ----------------------------------------------------------------------------

    @staticmethod
    def _define_once(table: dict[Any, int], key: object, define: Callable[[int], None]) -> int:
        """The id of ``key`` in ``table``; on first use the next id (dense from 1), which
        ``define`` writes the record of (after the records it refers to)."""
        if key not in table:
            table[key] = len(table) + 1
            define(table[key])
        return table[key]

    def string(self, text: str) -> int:
        return self._define_once(self.strings, text, lambda sid: self.define_string(sid, text))

    def frame(self, filename: str, function: str, line: int) -> int:
        return self._define_once(
            self.frames, (filename, function, line),
            lambda fid: self.define_frame(fid, self.string(filename), self.string(function), line),
        )

    def stack(self, frames: Iterable[FrameSpec]) -> int:
        key = tuple(frames)
        return self._define_once(
            self.stacks, key, lambda sid: self.define_stack(sid, [self.frame(*f) for f in key])
        )

    def thread(self, native_id: int) -> int:
        return self._define_once(
            self.threads, native_id, lambda idx: self.define_thread(idx, native_id)
        )

    def alloc(
        self,
        dt: int,
        *,
        stack: Iterable[FrameSpec] | None = (("app.py", "main", 1),),
        size: int,
        address: int,
        domain: int = 1,
        native_thread: int | None = 1001,
    ) -> None:
        """ALLOC; ``stack=None`` writes stack_id 0, ``native_thread=None`` thread 0."""
        sid = 0 if stack is None else self.stack(stack)
        tid = 0 if native_thread is None else self.thread(native_thread)
        self.alloc_raw(dt, domain, tid, sid, size, address)

    def free(self, dt: int, address: int) -> None:
        self._record(T_FREE, varint(dt), varint(address))
        self.time += dt
        if address in self.live:
            self.live.discard(address)
            self._event((1, self.time, address))
        else:
            self.unmatched_frees += 1

    def rss(self, dt: int, rss_bytes: int) -> None:
        self._record(T_RSS, varint(dt), varint(rss_bytes))
        self.time += dt
        self._event((2, self.time, rss_bytes))

    def marker(self, dt: int, kind: int, label: str) -> None:
        self._record(T_MARKER, varint(dt), varint(kind), blob(label))
        self.time += dt
        self._event((3, self.time, kind, label))

    def meta_kv(self, key: str, value: str) -> None:
        self._record(T_META, blob(key), blob(value))
        self.meta[key] = value

    def trailer_rec(self, dt: int = 0, **counters: int) -> None:
        values = [counters.get(name, 0) for name in COUNTERS]
        self._record(T_TRAILER, varint(dt), *(varint(v) for v in values))
        self.time += dt
        self.trailer = dict(zip(COUNTERS, values))
