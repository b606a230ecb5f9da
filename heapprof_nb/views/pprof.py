"""Export a ``Snapshot`` as a pprof profile (``profile.proto``), gzipped, with no dependency.

The encoder writes only what pprof reads for a heap profile:

- ``sample_type``: ``objects/count`` then ``space/bytes``; ``default_sample_type`` and
  ``period_type`` name space/bytes; the snapshot's title is the profile's comment;
- one ``Sample`` per stack: ``location_id`` leaf first (the allocating frame first, as pprof
  expects), ``value`` = [objects, bytes] rounded to integers (negative values are kept: pprof
  reads them, e.g. in a "growth" snapshot);
- one ``Location`` per distinct code location, with one ``Line`` (function id, line);
- one ``Function`` per (name, filename) with ``start_line`` 0;
- the string table, ``""`` first.

Notebook cells are written with the cell label (``In [3]``) as the filename, so ``pprof -list``
and the web UI name them as the notebook does. A stack without Python frames gets the single
location ``<no Python frame>``.
"""

from __future__ import annotations

import gzip
import os

from .._format import encode_varint
from ..digest.model import Frame, Snapshot
from .frames import HIDDEN_FRAME, NO_FRAME_LABEL

__all__ = ["encode_profile", "write_pprof"]

# profile.proto field numbers
_PROFILE_SAMPLE_TYPE = 1
_PROFILE_SAMPLE = 2
_PROFILE_LOCATION = 4
_PROFILE_FUNCTION = 5
_PROFILE_STRING_TABLE = 6
_PROFILE_PERIOD_TYPE = 11
_PROFILE_COMMENT = 13
_PROFILE_DEFAULT_SAMPLE_TYPE = 14
_VALUE_TYPE_TYPE = 1
_VALUE_TYPE_UNIT = 2
_SAMPLE_LOCATION_ID = 1
_SAMPLE_VALUE = 2
_LOCATION_ID = 1
_LOCATION_LINE = 4
_LINE_FUNCTION_ID = 1
_LINE_LINE = 2
_FUNCTION_ID = 1
_FUNCTION_NAME = 2
_FUNCTION_SYSTEM_NAME = 3
_FUNCTION_FILENAME = 4
_FUNCTION_START_LINE = 5

_WIRE_VARINT = 0
_WIRE_LEN = 2

# --------------------------------------------------------------------------------------------
# A minimal protobuf writer (varints, length-delimited fields, packed repeated varints)


def _varint(value: int) -> bytes:
    """Base-128 varint (the log's LEB128); negative int64 values are written as their 64-bit
    two's complement."""
    if value < 0:
        value += 1 << 64
    return encode_varint(value)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _field_varint(field: int, value: int) -> bytes:
    """A varint field; zero is the proto3 default and is left out."""
    if value == 0:
        return b""
    return _key(field, _WIRE_VARINT) + _varint(value)


def _field_bytes(field: int, payload: bytes) -> bytes:
    return _key(field, _WIRE_LEN) + _varint(len(payload)) + payload


def _field_packed(field: int, values: list[int]) -> bytes:
    if not values:
        return b""
    return _field_bytes(field, b"".join(map(_varint, values)))


# --------------------------------------------------------------------------------------------


class _Strings:
    __slots__ = ("index", "table")

    def __init__(self) -> None:
        self.table: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

    def __call__(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.table)
            self.table.append(text)
        return i


def _names(frame: Frame) -> tuple[str, str]:
    """(function name, file name) as pprof shows them."""
    if frame is HIDDEN_FRAME:
        return frame.function, ""
    if frame.cell is not None:
        return frame.function, frame.cell
    return frame.function, frame.filename


def encode_profile(snapshot: Snapshot) -> bytes:
    """The snapshot as an uncompressed, serialized pprof ``Profile`` message."""
    strings = _Strings()
    space = strings("space")
    bytes_unit = strings("bytes")
    objects = strings("objects")
    count_unit = strings("count")

    functions: dict[tuple[str, str], int] = {}
    function_msgs: list[bytes] = []
    locations: dict[tuple[int, int], int] = {}  # (function id, line) -> location id
    location_msgs: list[bytes] = []
    by_obj: dict[int, int] = {}  # id(Frame) -> location id (the snapshot keeps frames alive)

    def location_of(name: str, filename: str, line: int) -> int:
        fkey = (name, filename)
        fid = functions.get(fkey)
        if fid is None:
            fid = functions[fkey] = len(functions) + 1
            n = strings(name)
            function_msgs.append(
                _field_varint(_FUNCTION_ID, fid)
                + _field_varint(_FUNCTION_NAME, n)
                + _field_varint(_FUNCTION_SYSTEM_NAME, n)
                + _field_varint(_FUNCTION_FILENAME, strings(filename))
                + _field_varint(_FUNCTION_START_LINE, 0)
            )
        lkey = (fid, line)
        lid = locations.get(lkey)
        if lid is None:
            lid = locations[lkey] = len(locations) + 1
            line_msg = _field_varint(_LINE_FUNCTION_ID, fid) + _field_varint(_LINE_LINE, line)
            location_msgs.append(
                _field_varint(_LOCATION_ID, lid) + _field_bytes(_LOCATION_LINE, line_msg)
            )
        return lid

    samples: list[bytes] = []
    no_frame: list[int] | None = None
    for e in snapshot.entries:
        if e.stack:
            ids = []
            for f in e.stack:  # leaf first, as pprof wants
                lid = by_obj.get(id(f))
                if lid is None:
                    name, filename = _names(f)
                    lid = by_obj[id(f)] = location_of(name, filename, f.line)
                ids.append(lid)
        else:
            if no_frame is None:
                no_frame = [location_of(NO_FRAME_LABEL, "", 0)]
            ids = no_frame
        values = [round(e.objects), round(e.bytes)]
        samples.append(
            _field_packed(_SAMPLE_LOCATION_ID, ids) + _field_packed(_SAMPLE_VALUE, values)
        )

    comment = strings(snapshot.title) if snapshot.title else 0

    out = [
        _field_bytes(
            _PROFILE_SAMPLE_TYPE,
            _field_varint(_VALUE_TYPE_TYPE, objects) + _field_varint(_VALUE_TYPE_UNIT, count_unit),
        ),
        _field_bytes(
            _PROFILE_SAMPLE_TYPE,
            _field_varint(_VALUE_TYPE_TYPE, space) + _field_varint(_VALUE_TYPE_UNIT, bytes_unit),
        ),
    ]
    out.extend(_field_bytes(_PROFILE_SAMPLE, s) for s in samples)
    out.extend(_field_bytes(_PROFILE_LOCATION, m) for m in location_msgs)
    out.extend(_field_bytes(_PROFILE_FUNCTION, m) for m in function_msgs)
    out.extend(  # pprof wants valid UTF-8: escape lone surrogates of undecodable names
        _field_bytes(_PROFILE_STRING_TABLE, s.encode("utf-8", "backslashreplace"))
        for s in strings.table
    )
    out.append(
        _field_bytes(
            _PROFILE_PERIOD_TYPE,
            _field_varint(_VALUE_TYPE_TYPE, space) + _field_varint(_VALUE_TYPE_UNIT, bytes_unit),
        )
    )
    if comment:
        out.append(_field_packed(_PROFILE_COMMENT, [comment]))
    out.append(_field_varint(_PROFILE_DEFAULT_SAMPLE_TYPE, space))  # a string index
    return b"".join(out)


def write_pprof(snapshot: Snapshot, path: str | os.PathLike[str]) -> str:
    """Write ``snapshot`` as a gzipped pprof profile to ``path`` and return the path.

    Open it with ``go tool pprof -http=: path`` or ``pprof -top path``.
    """
    data = gzip.compress(encode_profile(snapshot), compresslevel=6, mtime=0)
    path = os.fspath(path)
    with open(path, "wb") as fh:
        fh.write(data)
    return path

