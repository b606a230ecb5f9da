"""Pure-Python reference decoder of the heapprof_nb event log (``docs/log-format.md``, format 1.x).

This module is the executable reading of the format page: every limit there is enforced before
anything is allocated, and every violation raises :class:`~heapprof_nb.errors.ProfileFormatError`
with the byte offset where it was found. It lives with the tests, not in the package: the C
decoder and digest (``native/digest/``) are what users run; this independent reading is what the
tests check them against (``tests/unit/test_cross_decoders.py``, on logs the engine writes in
every sampling mode and cut short). Its constants are its own on purpose, written from the format page;
``tests/unit/test_format.py`` checks them against the engine's ``native/hp_format.h``.

Entry points:

- :func:`read_log` decodes a whole file (or bytes) into a :class:`RawLog`.
- :class:`LogFollower` decodes a log that is still being written, a few records at a time.
- :func:`weight` turns a sampled allocation's size into estimated bytes and objects.

Decisions this decoder takes where ``log-format.md`` leaves room (all documented in the report that
came with it):

- A file shorter than its header is an error for :func:`read_log`: ``"empty file"`` for 0 bytes,
  ``"incomplete header"`` for a prefix of a header (a :class:`LogFollower` simply waits for more
  bytes instead). Bytes that already contradict the magic or the major version are reported as
  such even when the header is incomplete.
- Ids of STRING, FRAME, STACK and THREAD records must be dense from 1 in the order they are
  defined (``id == number defined so far + 1``); a redefinition or a gap is an error.
- Reference 0 ("none") is accepted in ``ALLOC.thread``, ``ALLOC.stack_id``, ``FRAME.filename_id``
  and ``FRAME.function_id``; a frame id of 0 inside a STACK is an error.
- ``ALLOC.domain`` above 3 is an error; ``MARKER.kind`` may be any value.
- ``MARKER.label`` and ``META.key`` are limited like STRING text (1 MiB); ``META.value`` to 16 MiB.
- Text that is not valid UTF-8 is decoded with U+FFFD replacements (the C writer cuts STRING and
  MARKER text at 1 MiB by bytes, which may split a character); in strict mode it is an error.
- Header: ``mode`` must be 0, 1 or 2; mode 0 needs ``rate >= 1`` and no buckets; mode 1 needs
  ``rate == 0`` and 1..64 buckets with non-decreasing thresholds and probabilities in (0, 1];
  mode 2 needs ``rate == 1`` and no buckets; ``max_frames`` in 1..4096.
- Any byte after the TRAILER is an error.
- An ALLOC of an address that is already live replaces it (the older allocation is counted in
  ``reused_addresses`` and stays without a matching FREE); in strict mode it is an error.
- An unmatched FREE is not an event: it is counted in ``unmatched_frees`` (strict: error).
- A size-0 allocation in mode 0 (never sampled by a correct writer) weighs ``(0.0, 0.0)``.
"""

from __future__ import annotations

import math
import os
import struct
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO, Iterator, Union

from heapprof_nb.errors import ProfileFormatError

__all__ = [
    "MAGIC",
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "SUPPORTED_MAJORS",
    "KIND_ALLOC",
    "KIND_FREE",
    "KIND_RSS",
    "KIND_MARKER",
    "TRAILER_FIELDS",
    "LogHeader",
    "RawLog",
    "LogFollower",
    "read_log",
    "weight",
]

MAGIC = b"HPNBLOG\x00"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
SUPPORTED_MAJORS: tuple[int, ...] = (1,)

#: Fixed part of the header: magic, major, minor, header_length.
HEADER_FIXED = 16
MAX_HEADER_BODY = 65536
MAX_STRING = 1 << 20
MAX_META_VALUE = 16 << 20
MAX_BUCKETS = 64
MAX_FRAMES_LIMIT = 4096
MAX_VARINT_BYTES = 10
_U64_MAX = (1 << 64) - 1

MODE_BYTES = 0
MODE_SIZES = 1
MODE_EVERY = 2

TAG_STRING = 0x01
TAG_FRAME = 0x02
TAG_STACK = 0x03
TAG_THREAD = 0x04
TAG_ALLOC = 0x10
TAG_FREE = 0x11
TAG_RSS = 0x12
TAG_MARKER = 0x13
TAG_META = 0x14
TAG_TRAILER = 0x7F

KIND_ALLOC = 0
KIND_FREE = 1
KIND_RSS = 2
KIND_MARKER = 3

DOMAIN_RAW = 0
DOMAIN_MEM = 1
DOMAIN_OBJ = 2
DOMAIN_NUMPY = 3
_MAX_DOMAIN = 3

MARKER_USER = 0
MARKER_CELL_START = 1
MARKER_CELL_END = 2

TRAILER_FIELDS: tuple[str, ...] = (
    "allocs_seen",
    "bytes_seen",
    "samples",
    "frees_recorded",
    "dropped",
    "stacks",
    "frames",
    "truncated_stacks",
)

PathOrBytes = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

#: One decoded event, see :meth:`RawLog.events`.
Event = tuple[Union[int, str], ...]



class _TimeOverflow(Exception):
    """A record's ``dt`` takes the running time past 2**64 - 1 (reported at the record)."""


def _advance(t: int, dt: int) -> int:
    """The time ``dt`` nanoseconds after ``t``; raises ``_TimeOverflow`` past 64 bits."""
    t2 = t + dt
    if t2 > _U64_MAX:
        raise _TimeOverflow
    return t2


class _VarintError(Exception):
    """A varint longer than 10 bytes or above 2**64 - 1, at buffer position ``pos``."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def _uvarint(buf: bytes, p: int) -> tuple[int, int]:
    """Decode a varint at ``p``; return ``(value, position after it)``.

    Raises ``IndexError`` when the buffer ends inside the varint (an incomplete record) and
    ``_VarintError`` for an 11th byte or a 10th byte above 1.
    """
    b = buf[p]
    if b < 0x80:
        return b, p + 1
    c = buf[p + 1]
    if c < 0x80:
        return (b & 0x7F) | (c << 7), p + 2
    d = buf[p + 2]
    if d < 0x80:
        return (b & 0x7F) | ((c & 0x7F) << 7) | (d << 14), p + 3
    v = (b & 0x7F) | ((c & 0x7F) << 7) | ((d & 0x7F) << 14)
    shift = 21
    q = p + 3
    while True:
        b = buf[q]
        q += 1
        if b < 0x80:
            if shift == 63 and b > 1:
                raise _VarintError(p)
            return v | (b << shift), q
        if shift == 63:
            raise _VarintError(p)
        v |= (b & 0x7F) << shift
        shift += 7


@dataclass(frozen=True, slots=True)
class LogHeader:
    """The decoded header. ``header_end`` is the byte offset of the first record."""

    major: int
    minor: int
    pid: int
    python_version: str
    mode: int
    rate: int
    buckets: tuple[tuple[int, float], ...]
    max_frames: int
    seed: int
    start_ns: int
    start_wall_ns: int
    header_end: int


@lru_cache(maxsize=16)
def _thresholds(buckets: tuple[tuple[int, float], ...]) -> tuple[int, ...]:
    return tuple(b[0] for b in buckets)


def weight(header: LogHeader, size: int) -> tuple[float, float]:
    """``(bytes, objects)`` one sampled allocation of ``size`` bytes stands for ("Weights").

    Mode 0 (rate R): ``p = 1 - exp(-size/R)`` (computed as ``-expm1(-size/R)`` so small sizes
    keep their precision), weight ``(size/p, 1/p)``; a size of 0 (never sampled) gives
    ``(0.0, 0.0)``. Mode 1: ``p`` of the last bucket whose threshold is ``<= size`` (the first
    bucket for sizes below it). Mode 2: ``(size, 1)``.
    """
    mode = header.mode
    if mode == MODE_EVERY:
        return float(size), 1.0
    if mode == MODE_BYTES:
        if size <= 0:
            return 0.0, 0.0
        p = -math.expm1(-size / header.rate)
        return size / p, 1.0 / p
    if mode == MODE_SIZES:
        buckets = header.buckets
        if not buckets:
            raise ProfileFormatError("mode 1 header without buckets")
        i = bisect_right(_thresholds(buckets), size) - 1
        p = buckets[i if i > 0 else 0][1]
        return size / p, 1.0 / p
    raise ProfileFormatError(f"unknown sampling mode {mode}")


class RawLog:
    """Everything a log says, decoded but not interpreted.

    Definitions: ``strings`` (id -> text), ``frames`` (id -> ``(filename_id, function_id,
    line)``), ``stacks`` (id -> frame ids, leaf first), ``threads`` (index -> native id). Ids
    start at 1; a reference of 0 means "none" (``stack_id`` 0: no Python frame, ``thread`` 0:
    unknown thread), so look 0 up with ``.get``.

    Events are columns of equal length, one entry per ALLOC, matched FREE, RSS and MARKER in
    file order:

    - ``kind``: ``KIND_ALLOC`` (0), ``KIND_FREE`` (1), ``KIND_RSS`` (2), ``KIND_MARKER`` (3).
    - ``time_ns``: nanoseconds since ``header.start_ns`` (the running sum of ``dt``).
    - ``domain``, ``thread``, ``stack_id``: ALLOC fields (0 for other kinds).
    - ``size``: ALLOC size; for RSS the resident set size in bytes (0 otherwise).
    - ``address``: ALLOC and FREE address (0 otherwise).
    - ``ref``: for a FREE the index of the ALLOC it frees; for an ALLOC the index of the FREE that
      freed it, or -1 while it is live; -1 for RSS and MARKER.
    - ``markers``: event index -> ``(marker kind, label)`` for MARKER events.

    ``meta`` holds the META pairs (last value wins), ``trailer`` the eight TRAILER counters or
    ``None``, ``end_ns`` the time of the last timed record (the TRAILER's when there is one).
    ``truncated`` is true when there is no TRAILER or the data stopped inside a record;
    ``bytes_read`` is the offset after the last complete record; ``records`` counts complete
    records of every tag. ``unmatched_frees`` counts FREEs of addresses not live (not events);
    ``reused_addresses`` counts ALLOCs of an address that was still live.
    """

    __slots__ = (
        "header",
        "strings",
        "frames",
        "stacks",
        "threads",
        "kind",
        "time_ns",
        "domain",
        "thread",
        "stack_id",
        "size",
        "address",
        "ref",
        "markers",
        "meta",
        "trailer",
        "end_ns",
        "truncated",
        "bytes_read",
        "records",
        "unmatched_frees",
        "reused_addresses",
    )

    def __init__(self, header: LogHeader) -> None:
        self.header = header
        self.strings: dict[int, str] = {}
        self.frames: dict[int, tuple[int, int, int]] = {}
        self.stacks: dict[int, tuple[int, ...]] = {}
        self.threads: dict[int, int] = {}
        self.kind: array[int] = array("B")
        self.time_ns: array[int] = array("Q")
        self.domain: array[int] = array("B")
        self.thread: array[int] = array("Q")
        self.stack_id: array[int] = array("Q")
        self.size: array[int] = array("Q")
        self.address: array[int] = array("Q")
        self.ref: array[int] = array("q")
        self.markers: dict[int, tuple[int, str]] = {}
        self.meta: dict[str, str] = {}
        self.trailer: dict[str, int] | None = None
        self.end_ns = 0
        self.truncated = True
        self.bytes_read = header.header_end
        self.records = 0
        self.unmatched_frees = 0
        self.reused_addresses = 0

    def __len__(self) -> int:
        """Number of events."""
        return len(self.kind)

    def __repr__(self) -> str:
        state = "truncated" if self.truncated else "complete"
        return (
            f"<RawLog {len(self.kind)} events, {self.records} records, {state}, "
            f"mode {self.header.mode}>"
        )

    def event(self, i: int) -> Event:
        """Event ``i`` as a tuple, by kind:

        ``(KIND_ALLOC, time_ns, domain, thread, stack_id, size, address)``,
        ``(KIND_FREE, time_ns, address)``, ``(KIND_RSS, time_ns, rss_bytes)``,
        ``(KIND_MARKER, time_ns, marker_kind, label)``.
        """
        k = self.kind[i]
        t = self.time_ns[i]
        if k == KIND_ALLOC:
            return (k, t, self.domain[i], self.thread[i], self.stack_id[i], self.size[i],
                    self.address[i])
        if k == KIND_FREE:
            return (k, t, self.address[i])
        if k == KIND_RSS:
            return (k, t, self.size[i])
        mk, label = self.markers[i]
        return (k, t, mk, label)

    def events(self) -> Iterator[Event]:
        """All events as tuples (see :meth:`event`)."""
        for i in range(len(self.kind)):
            yield self.event(i)

    def resolve_stack(self, stack_id: int) -> tuple[tuple[str, str, int], ...]:
        """``(filename, function, line)`` for each frame of a stack, leaf first.

        ``stack_id`` 0 gives ``()``; a string reference of 0 gives ``""``.
        """
        if stack_id == 0:
            return ()
        strings = self.strings
        out = []
        for fid in self.stacks[stack_id]:
            file_id, func_id, line = self.frames[fid]
            out.append((strings.get(file_id, ""), strings.get(func_id, ""), line))
        return tuple(out)

    def weights(self, i: int) -> tuple[float, float]:
        """:func:`weight` of ALLOC event ``i``."""
        return weight(self.header, self.size[i])


def _header_error(msg: str, offset: int) -> ProfileFormatError:
    return ProfileFormatError(f"{msg} (header, at byte offset {offset})")


def _parse_header(buf: bytes) -> LogHeader | None:
    """Decode the header at the start of ``buf``; ``None`` if ``buf`` is a prefix of one."""
    n = len(buf)
    k = min(n, len(MAGIC))
    if buf[:k] != MAGIC[:k]:
        bad = next(i for i in range(k) if buf[i] != MAGIC[i])
        raise ProfileFormatError(
            f"not a heapprof_nb log: bad magic, found {bytes(buf[: bad + 1])!r} at byte offset "
            f"0 (expected {MAGIC!r})"
        )
    if n < 10:
        return None
    (major,) = struct.unpack_from("<H", buf, 8)
    if major not in SUPPORTED_MAJORS:
        supported = ", ".join(str(m) for m in SUPPORTED_MAJORS)
        raise ProfileFormatError(
            f"unsupported log format: major version {major} (at byte offset 8); this reader "
            f"supports major version {supported} (format {FORMAT_MAJOR}.{FORMAT_MINOR} and its "
            f"minor revisions)"
        )
    if n < HEADER_FIXED:
        return None
    minor, hlen = struct.unpack_from("<HI", buf, 10)
    if hlen > MAX_HEADER_BODY:
        raise _header_error(f"header_length {hlen} exceeds the limit of {MAX_HEADER_BODY}", 12)
    end = HEADER_FIXED + hlen
    if n < end:
        return None
    body = bytes(buf[:end])
    p = HEADER_FIXED

    def var(what: str) -> int:
        nonlocal p
        start = p
        try:
            v, q = _uvarint(body, p)
        except IndexError:
            raise _header_error(f"header body ends inside {what}", start) from None
        except _VarintError:
            raise _header_error(f"over-long varint in {what}", start) from None
        p = q
        return v

    pid = var("pid")
    vlen_at = p
    vlen = var("python_version length")
    if p + vlen > end:
        raise _header_error(f"python_version of {vlen} bytes runs past the header body", vlen_at)
    python_version = body[p : p + vlen].decode("utf-8", "replace")
    p += vlen
    mode_at = p
    mode = var("mode")
    if mode not in (MODE_BYTES, MODE_SIZES, MODE_EVERY):
        raise _header_error(f"unknown sampling mode {mode} (known: 0, 1, 2)", mode_at)
    rate_at = p
    rate = var("rate")
    if mode == MODE_BYTES and rate < 1:
        raise _header_error("mode 0 (byte sampling) needs rate >= 1", rate_at)
    if mode == MODE_SIZES and rate != 0:
        raise _header_error(f"mode 1 (per-size probabilities) needs rate 0, not {rate}", rate_at)
    if mode == MODE_EVERY and rate != 1:
        raise _header_error(f"mode 2 (every allocation) needs rate 1, not {rate}", rate_at)
    nb_at = p
    n_buckets = var("n_buckets")
    if n_buckets > MAX_BUCKETS:
        raise _header_error(f"n_buckets {n_buckets} exceeds the limit of {MAX_BUCKETS}", nb_at)
    if mode == MODE_SIZES and n_buckets == 0:
        raise _header_error("mode 1 (per-size probabilities) needs at least one bucket", nb_at)
    if mode != MODE_SIZES and n_buckets != 0:
        raise _header_error(f"mode {mode} must have n_buckets 0, not {n_buckets}", nb_at)
    buckets: list[tuple[int, float]] = []
    for i in range(n_buckets):
        b_at = p
        threshold = var(f"bucket {i} threshold")
        if p + 8 > end:
            raise _header_error(f"header body ends inside bucket {i} probability", p)
        (prob,) = struct.unpack_from("<d", body, p)
        if not (0.0 < prob <= 1.0):
            raise _header_error(f"bucket {i} probability {prob!r} is not in (0, 1]", p)
        if buckets and threshold < buckets[-1][0]:
            raise _header_error(
                f"bucket thresholds not sorted ({threshold} after {buckets[-1][0]})", b_at
            )
        p += 8
        buckets.append((threshold, prob))
    mf_at = p
    max_frames = var("max_frames")
    if not 1 <= max_frames <= MAX_FRAMES_LIMIT:
        raise _header_error(f"max_frames {max_frames} not in 1..{MAX_FRAMES_LIMIT}", mf_at)
    last = {name: var(name) for name in ("seed", "start_ns", "start_wall_ns")}  # in file order
    # Bytes of the body past the known fields are room for minor additions: ignored.
    return LogHeader(major=major, minor=minor, pid=pid, python_version=python_version, mode=mode,
                     rate=rate, buckets=tuple(buckets), max_frames=max_frames, header_end=end,
                     **last)


class LogFollower:
    """Incremental decoder of a log that may still be growing.

    ``LogFollower(path)`` opens the file; each :meth:`poll` reads what was appended since the
    last one, decodes the complete records and keeps an incomplete last record for the next
    poll. ``LogFollower()`` (no path) is fed with :meth:`feed` instead. Until the whole header
    has arrived, ``poll`` returns 0 and :attr:`log` raises. After a ``ProfileFormatError`` the
    follower is unusable (every later call raises the same error).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        strict: bool = False,
        chunk_size: int = 1 << 24,
    ) -> None:
        self.strict = strict
        self.chunk_size = chunk_size
        self._file: BinaryIO | None = open(path, "rb") if path is not None else None
        self._tail = b""  # bytes received but not yet decoded (partial header or record)
        self._tail_off = 0  # file offset of _tail[0]
        self._log: RawLog | None = None
        self._error: ProfileFormatError | None = None
        self._done = False  # TRAILER seen
        self._t = 0
        self._live: dict[int, int] = {}

    # -- public API ------------------------------------------------------------------------

    @property
    def header_complete(self) -> bool:
        return self._log is not None

    @property
    def log(self) -> RawLog:
        """The records decoded so far. Raises ``ProfileFormatError`` before the header is whole."""
        if self._error is not None:
            raise self._error
        if self._log is None:
            raise self._incomplete_header_error()
        return self._log

    @property
    def pending(self) -> int:
        """Bytes received but not decoded yet (an incomplete header or record)."""
        return len(self._tail)

    def poll(self) -> int:
        """Read what was appended to the file; return how many records were decoded."""
        if self._file is None:
            raise ValueError("this LogFollower has no file: use feed()")
        total = 0
        while True:
            data = self._file.read(self.chunk_size)
            if not data:
                return total
            total += self.feed(data)

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Decode ``data`` appended to what came before; return how many records were decoded."""
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except ProfileFormatError as e:
            self._error = e
            raise

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> LogFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def finish(self) -> RawLog:
        """The log as a finished file: raises for an empty file or an incomplete header."""
        return self.log

    # -- internals -------------------------------------------------------------------------

    def _incomplete_header_error(self) -> ProfileFormatError:
        got = self._tail_off + len(self._tail)
        if got == 0:
            return ProfileFormatError("empty file: not a heapprof_nb log (no header)")
        need = HEADER_FIXED
        if len(self._tail) >= HEADER_FIXED:
            (hlen,) = struct.unpack_from("<I", self._tail, 12)
            need += hlen
        return ProfileFormatError(
            f"incomplete header: the file has {got} bytes, the header needs {need} "
            f"(file cut short or still being written)"
        )

    def _feed(self, data: bytes | bytearray | memoryview) -> int:
        if not data and not self._tail:
            return 0
        buf = self._tail + bytes(data) if self._tail else bytes(data)
        if self._log is None:
            header = _parse_header(buf)
            if header is None:
                self._tail = buf
                return 0
            self._log = RawLog(header)
            self._tail_off = header.header_end
            buf = buf[header.header_end :]
        p, count = self._decode(buf)
        self._tail = buf[p:]
        self._tail_off += p
        log = self._log
        log.bytes_read = self._tail_off
        log.truncated = not self._done or bool(self._tail)
        return count

    def _decode(self, buf: bytes) -> tuple[int, int]:
        """Decode complete records of ``buf``; return (position after the last one, count)."""
        log = self._log
        assert log is not None
        base = self._tail_off
        n = len(buf)
        if self._done and n:
            raise ProfileFormatError(f"data after the TRAILER at byte offset {base}")
        strict = self.strict
        text_errors = "strict" if strict else "replace"
        max_frames = log.header.max_frames
        uv = _uvarint
        live = self._live
        strings = log.strings
        frames = log.frames
        stacks = log.stacks
        threads = log.threads
        markers = log.markers
        ref = log.ref
        kind_a = log.kind.append
        time_a = log.time_ns.append
        domain_a = log.domain.append
        thread_a = log.thread.append
        stack_a = log.stack_id.append
        size_a = log.size.append
        addr_a = log.address.append
        ref_a = ref.append
        n_strings = len(strings)
        n_frames = len(frames)
        n_stacks = len(stacks)
        n_threads = len(threads)
        n_events = len(log.kind)
        t = self._t
        unmatched = log.unmatched_frees
        reused = log.reused_addresses
        count = 0
        p = 0
        rec = 0

        def fail(msg: str, at: int) -> ProfileFormatError:
            return ProfileFormatError(f"{msg} at byte offset {base + at}")

        def append_event(kind: int, t: int, domain: int, thread: int, stack: int, size: int,
                         address: int, other: int) -> None:
            """One entry in every event column (``other`` is the ``ref`` column)."""
            kind_a(kind)
            time_a(t)
            domain_a(domain)
            thread_a(thread)
            stack_a(stack)
            size_a(size)
            addr_a(address)
            ref_a(other)

        def check_length(ln: int, start: int, len_at: int, what: str, limit: int) -> None:
            """A text of ``ln`` bytes at ``start`` (its length read at ``len_at``) is within
            ``limit`` and inside the buffer (IndexError: the record is not complete yet)."""
            if ln > limit:
                raise fail(f"{what} of {ln} bytes exceeds the limit of {limit}", len_at)
            if start + ln > n:
                raise IndexError

        def text(p: int, ln: int, what: str) -> str:
            try:
                return buf[p : p + ln].decode("utf-8", text_errors)
            except UnicodeDecodeError:
                raise fail(f"{what} is not UTF-8", p) from None

        try:
            while p < n:
                rec = p
                tag = buf[p]
                p += 1
                if tag == 0x10:  # ALLOC: dt, domain u8, thread, stack_id, size, address
                    dt, p = uv(buf, p)
                    domain = buf[p]
                    p += 1
                    thr_at = p
                    thr, p = uv(buf, p)
                    st_at = p
                    st, p = uv(buf, p)
                    size, p = uv(buf, p)
                    address, p = uv(buf, p)
                    if domain > _MAX_DOMAIN:
                        raise fail(f"ALLOC with unknown domain {domain}", rec + 1)
                    if thr > n_threads:
                        raise fail(f"ALLOC refers to undefined thread {thr}", thr_at)
                    if st > n_stacks:
                        raise fail(f"ALLOC refers to undefined stack {st}", st_at)
                    t2 = _advance(t, dt)
                    old = live.get(address)
                    if old is not None:
                        if strict:
                            raise fail(f"ALLOC of address {address:#x} that is still live", rec)
                        reused += 1
                    live[address] = n_events
                    t = t2
                    append_event(KIND_ALLOC, t, domain, thr, st, size, address, -1)
                    n_events += 1
                elif tag == 0x11:  # FREE: dt, address
                    dt, p = uv(buf, p)
                    address, p = uv(buf, p)
                    t = _advance(t, dt)
                    j = live.pop(address, None)
                    if j is None:
                        if strict:
                            raise fail(f"FREE of address {address:#x} that is not live", rec)
                        unmatched += 1
                    else:
                        ref[j] = n_events
                        append_event(KIND_FREE, t, 0, 0, 0, 0, address, j)
                        n_events += 1
                elif tag == 0x03:  # STACK: id, depth, depth x frame_id
                    sid, p = uv(buf, p)
                    depth_at = p
                    depth, p = uv(buf, p)
                    if sid != n_stacks + 1:
                        raise fail(f"STACK id {sid} out of order (expected {n_stacks + 1})", rec)
                    if depth > max_frames:
                        raise fail(
                            f"STACK depth {depth} exceeds max_frames {max_frames}", depth_at
                        )
                    if p + depth > n:  # each frame id takes at least one byte
                        raise IndexError
                    fids = []
                    for _ in range(depth):
                        f_at = p
                        fid, p = uv(buf, p)
                        if fid == 0 or fid > n_frames:
                            raise fail(f"STACK refers to undefined frame {fid}", f_at)
                        fids.append(fid)
                    stacks[sid] = tuple(fids)
                    n_stacks = sid
                elif tag == 0x02:  # FRAME: id, filename_id, function_id, line
                    fid, p = uv(buf, p)
                    file_at = p
                    file_id, p = uv(buf, p)
                    func_at = p
                    func_id, p = uv(buf, p)
                    line, p = uv(buf, p)
                    if fid != n_frames + 1:
                        raise fail(f"FRAME id {fid} out of order (expected {n_frames + 1})", rec)
                    if file_id > n_strings:
                        raise fail(f"FRAME refers to undefined string {file_id}", file_at)
                    if func_id > n_strings:
                        raise fail(f"FRAME refers to undefined string {func_id}", func_at)
                    frames[fid] = (file_id, func_id, line)
                    n_frames = fid
                elif tag == 0x01:  # STRING: id, text bytes
                    sid, p = uv(buf, p)
                    len_at = p
                    ln, p = uv(buf, p)
                    if sid != n_strings + 1:
                        raise fail(
                            f"STRING id {sid} out of order (expected {n_strings + 1})", rec
                        )
                    check_length(ln, p, len_at, "STRING", MAX_STRING)
                    strings[sid] = text(p, ln, "STRING text")
                    p += ln
                    n_strings = sid
                elif tag == 0x12:  # RSS: dt, rss_bytes
                    dt, p = uv(buf, p)
                    rss, p = uv(buf, p)
                    t = _advance(t, dt)
                    append_event(KIND_RSS, t, 0, 0, 0, rss, 0, -1)
                    n_events += 1
                elif tag == 0x04:  # THREAD: index, native_id
                    idx, p = uv(buf, p)
                    native, p = uv(buf, p)
                    if idx != n_threads + 1:
                        raise fail(
                            f"THREAD index {idx} out of order (expected {n_threads + 1})", rec
                        )
                    threads[idx] = native
                    n_threads = idx
                elif tag == 0x13:  # MARKER: dt, kind, label bytes
                    dt, p = uv(buf, p)
                    mkind, p = uv(buf, p)
                    len_at = p
                    ln, p = uv(buf, p)
                    check_length(ln, p, len_at, "MARKER label", MAX_STRING)
                    label = text(p, ln, "MARKER label")
                    p += ln
                    t = _advance(t, dt)
                    markers[n_events] = (mkind, label)
                    append_event(KIND_MARKER, t, 0, 0, 0, 0, 0, -1)
                    n_events += 1
                elif tag == 0x14:  # META: key bytes, value bytes
                    len_at = p
                    kl, p = uv(buf, p)
                    check_length(kl, p, len_at, "META key", MAX_STRING)
                    key_at = p
                    p += kl
                    len_at = p
                    vl, p = uv(buf, p)
                    check_length(vl, p, len_at, "META value", MAX_META_VALUE)
                    key = text(key_at, kl, "META key")  # both lengths checked before any text
                    log.meta[key] = text(p, vl, "META value")
                    p += vl
                elif tag == 0x7F:  # TRAILER: dt, 8 counters
                    dt, p = uv(buf, p)
                    counters = []
                    for _ in range(8):
                        c, p = uv(buf, p)
                        counters.append(c)
                    t = _advance(t, dt)
                    log.trailer = dict(zip(TRAILER_FIELDS, counters))
                    self._done = True
                    count += 1
                    if p < n:
                        raise fail("data after the TRAILER", p)
                    break
                else:
                    raise fail(f"unknown record tag {tag:#04x}", rec)
                count += 1
        except IndexError:
            # The buffer ends inside the record that starts at `rec`: keep it for later.
            p = rec
        except _VarintError as e:
            raise fail("over-long varint (more than 10 bytes or above 2**64-1)", e.pos) from None
        except _TimeOverflow:
            raise fail("time overflows 64 bits", rec) from None
        finally:
            self._t = t
            log.end_ns = t
            log.unmatched_frees = unmatched
            log.reused_addresses = reused
            log.records += count
        return p, count


def read_log(path_or_bytes: PathOrBytes, *, strict: bool = False) -> RawLog:
    """Decode a whole log, from a path or from its bytes.

    An incomplete final record is not an error: decoding stops before it and the result has
    ``truncated = True`` (as it has when the TRAILER is missing). An empty file or one that ends
    inside the header raises :class:`ProfileFormatError`, as does anything that breaks
    ``docs/log-format.md``. ``strict`` also makes a FREE of an address that is not live, and an
    ALLOC of an address that still is, and text that is not UTF-8, an error.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        follower = LogFollower(strict=strict)
        follower.feed(path_or_bytes)
        return follower.finish()
    with LogFollower(path_or_bytes, strict=strict) as follower:
        follower.poll()
        return follower.finish()
