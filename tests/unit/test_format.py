"""One definition of the log format: native/hp_format.h. Everything that restates it on purpose
(the reference decoder, the test log builder, docs/log-format.md) is checked against it here, and
the package itself restates nothing."""

from __future__ import annotations

import re
from pathlib import Path

import logbuilder  # tests/ is on sys.path (tests/conftest.py)
import reference_decoder as ref

from heapprof_nb import _format, _native

ROOT = Path(__file__).resolve().parents[2]
FORMAT = _native.FORMAT


def test_reference_decoder_agrees_with_the_header() -> None:
    assert (ref.MAGIC, ref.FORMAT_MAJOR, ref.FORMAT_MINOR) == (
        FORMAT["magic"], FORMAT["major"], FORMAT["minor"])
    assert ref.SUPPORTED_MAJORS == (FORMAT["major"],)
    assert {
        "header_fixed": ref.HEADER_FIXED, "max_header_body": ref.MAX_HEADER_BODY,
        "max_string": ref.MAX_STRING, "max_meta_value": ref.MAX_META_VALUE,
        "max_buckets": ref.MAX_BUCKETS, "max_frames": ref.MAX_FRAMES_LIMIT,
        "max_varint": ref.MAX_VARINT_BYTES,
    } == {k: FORMAT[k] for k in ("header_fixed", "max_header_body", "max_string",
                                  "max_meta_value", "max_buckets", "max_frames", "max_varint")}
    assert {name: getattr(ref, f"TAG_{name}") for name in FORMAT["tags"]} == FORMAT["tags"]
    assert {name: getattr(ref, f"DOMAIN_{name}") for name in FORMAT["domains"]} == FORMAT["domains"]
    assert ref._MAX_DOMAIN == max(FORMAT["domains"].values())
    assert {name: getattr(ref, f"MARKER_{name}") for name in FORMAT["markers"]} == FORMAT["markers"]
    assert (ref.MODE_BYTES, ref.MODE_SIZES, ref.MODE_EVERY) == (
        FORMAT["modes"]["BYTES"], FORMAT["modes"]["SIZES"], FORMAT["modes"]["ALL"])
    assert ref.TRAILER_FIELDS == FORMAT["trailer_fields"]


def test_log_builder_agrees_with_the_header() -> None:
    assert logbuilder.MAGIC == FORMAT["magic"]
    assert {name: getattr(logbuilder, f"T_{name}") for name in FORMAT["tags"]} == FORMAT["tags"]
    assert tuple(logbuilder.COUNTERS) == FORMAT["trailer_fields"]


def test_format_page_agrees_with_the_header() -> None:
    page = (ROOT / "docs" / "log-format.md").read_text(encoding="utf-8")
    tags = {name: int(code, 16) for code, name in re.findall(r"^\| (0x[0-9A-F]{2}) \| ([A-Z]+) \|",
                                                             page, re.M)}
    assert tags == FORMAT["tags"]
    trailer_row = next(line for line in page.splitlines() if line.startswith("| 0x7F | TRAILER"))
    assert tuple(re.findall(r"`([a-z_]+)`", trailer_row.split("`varint`:", 1)[1])) == \
        FORMAT["trailer_fields"]
    assert f"max_frames       varint  stack depth limit, 1..{FORMAT['max_frames']}" in page
    assert f"<= {FORMAT['max_buckets']}" in page


def test_the_package_takes_the_format_from_the_extension() -> None:
    assert _format.TRAILER_FIELDS == FORMAT["trailer_fields"]
    assert _format.MAX_FRAMES == FORMAT["max_frames"] == _native.MAX_FRAMES_LIMIT
    assert (_format.FORMAT_MAJOR, _format.FORMAT_MINOR) == (_native.FORMAT_MAJOR,
                                                            _native.FORMAT_MINOR)
    # No module of the package restates the magic or the tag table.
    for module in (ROOT / "heapprof_nb").rglob("*.py"):
        text = module.read_text(encoding="utf-8")
        assert "HPNBLOG" not in text, module
        assert not re.search(r"TAG_[A-Z]+ = 0x", text), module


def test_varint_is_leb128() -> None:
    for n in (0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1):
        assert _format.encode_varint(n) == logbuilder.varint(n)
    assert len(_format.encode_varint(2**64 - 1)) == FORMAT["max_varint"]
