"""Parsing the settings a user types: byte rates with units, and per-size sampling tables."""

from __future__ import annotations

import ast
import math
import re
from typing import Mapping

__all__ = ["parse_bytes", "parse_sampling", "sampling_buckets", "format_bytes"]

_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3,
    "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
}
_BYTES_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*([A-Za-z]*)\s*$")
_MAX_RATE = 2**62


def parse_bytes(value: object, *, what: str = "rate") -> int:
    """A positive whole number of bytes from an int or a string like ``64KiB``, ``1 MiB``, ``4096``.

    ``KiB``/``MiB``/``GiB`` (and bare ``K``/``M``/``G``) are powers of 1024; ``kB``/``MB``/``GB``
    are powers of 1000. Raises ``TypeError`` or ``ValueError`` with a message naming ``what``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number of bytes such as 65536 or '64KiB', not a bool")
    if isinstance(value, int):
        number = float(value)
        if value <= 0:
            raise ValueError(f"{what} must be a positive number of bytes, got {value}")
        if value > _MAX_RATE:
            raise ValueError(f"{what} must be at most {_MAX_RATE} bytes, got {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value <= 0 or not value.is_integer():
            raise ValueError(f"{what} must be a positive whole number of bytes, got {value!r}")
        return parse_bytes(int(value), what=what)
    if not isinstance(value, str):
        raise TypeError(
            f"{what} must be a number of bytes such as 65536 or '64KiB', not {type(value).__name__}"
        )
    match = _BYTES_RE.match(value)
    unit = match.group(3).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{what} {value!r} is not a size: use a number of bytes with an optional unit "
            "(B, KiB, MiB, GiB, kB, MB, GB), e.g. '64KiB'"
        )
    number = float(match.group(1)) * 10 ** int(match.group(2) or 0) * _UNITS[unit]
    if not number.is_integer() or number <= 0:
        raise ValueError(f"{what} {value!r} must come to a positive whole number of bytes")
    return parse_bytes(int(number), what=what)


def parse_sampling(value: object) -> dict[int, float]:
    """A heapprof sampling table from a dict or its text (``"{128: 1e-4, 8192: 0.1}"``).

    Keys are size limits in bytes, values probabilities in (0, 1]: sizes below the smallest key
    are sampled with its probability, sizes from one key up to the next with the next key's, and
    sizes at or above the largest key always (heapprof's meaning).
    """
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):  # deep nesting: the last two
            raise ValueError(
                f"sampling {value!r} is not a table; write it like {{128: 1e-4, 8192: 0.1}}"
            ) from None
    if not isinstance(value, Mapping):
        raise TypeError(
            f"sampling must be a dict like {{128: 1e-4, 8192: 0.1}}, not {type(value).__name__}"
        )
    if not value:
        raise ValueError("sampling must have at least one size limit, e.g. {128: 1e-4}")
    if len(value) > 63:
        raise ValueError(f"sampling may have at most 63 size limits, got {len(value)}")
    table: dict[int, float] = {}
    for key, prob in value.items():
        limit = parse_bytes(key, what="sampling size limit")
        if isinstance(prob, bool) or not isinstance(prob, (int, float)):
            raise TypeError(f"sampling probability for {key!r} must be a number, not {prob!r}")
        p = float(prob)
        if not (0.0 < p <= 1.0):
            raise ValueError(f"sampling probability for {key!r} must be in (0, 1], got {prob!r}")
        table[limit] = p
    return dict(sorted(table.items()))


def sampling_buckets(table: Mapping[int, float]) -> tuple[list[int], list[float]]:
    """The log's bucket form (lower bounds) of a heapprof table (upper limits)."""
    thresholds = [0]
    probabilities: list[float] = []
    for limit, p in sorted(table.items()):
        probabilities.append(p)
        thresholds.append(limit)
    probabilities.append(1.0)
    # A limit of 0 would make an empty first bucket: merge it away.
    if thresholds[1] == 0:
        thresholds.pop(0)
        probabilities.pop(0)
    return thresholds, probabilities


def format_bytes(n: float) -> str:
    """``1.5 MiB``-style text."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
