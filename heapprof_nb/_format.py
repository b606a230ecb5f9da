"""The event log's format as the engine defines it: Python's view of ``native/hp_format.h``.

Nothing here restates a tag or a limit: every value comes from ``heapprof_nb._native.FORMAT``,
which the C extension builds from the one header the writer and the decoder share
(docs/log-format.md says which file is the source of truth)."""

from __future__ import annotations

from typing import Final

from . import _native

_FORMAT: Final = _native.FORMAT

MAGIC: Final[bytes] = _FORMAT["magic"]
FORMAT_MAJOR: Final[int] = _FORMAT["major"]
FORMAT_MINOR: Final[int] = _FORMAT["minor"]
#: Names of the TRAILER's counters, in file order.
TRAILER_FIELDS: Final[tuple[str, ...]] = _FORMAT["trailer_fields"]
#: ``max_frames`` of a profile is 1..this.
MAX_FRAMES: Final[int] = _FORMAT["max_frames"]
MAX_BUCKETS: Final[int] = _FORMAT["max_buckets"]
#: Bytes of the HEADER's fixed part (magic, version, body length) and most bytes of its body.
HEADER_FIXED: Final[int] = _FORMAT["header_fixed"]
MAX_HEADER_BODY: Final[int] = _FORMAT["max_header_body"]
MAX_VARINT_BYTES: Final[int] = _FORMAT["max_varint"]
TAGS: Final[dict[str, int]] = _FORMAT["tags"]
DOMAINS: Final[dict[str, int]] = _FORMAT["domains"]
MARKERS: Final[dict[str, int]] = _FORMAT["markers"]

_U64_MAX: Final = (1 << 64) - 1


def encode_varint(n: int) -> bytes:
    """Unsigned LEB128 of ``0 <= n < 2**64``: the log's varint (and protobuf's, for pprof)."""
    if n < 0 or n > _U64_MAX:
        raise ValueError(f"varint out of range: {n}")
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
