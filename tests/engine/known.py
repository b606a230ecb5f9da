"""Blocks of a known size allocated at a known line: what the engine tests estimate."""

from __future__ import annotations

import sys

BYTES_OVERHEAD = sys.getsizeof(b"xx") - 2  # a bytes object of n > 1 bytes is one block of n + this


def make_blocks(n: int, size: int) -> list[bytes]:
    keep: list[bytes] = [b""] * n  # b"" is a shared constant: no allocation per slot
    for i in range(n):
        keep[i] = bytes(size)  # the allocating line: MAKE_LINE
    return keep


MAKE_LINE = make_blocks.__code__.co_firstlineno + 3
#: The key of that line in ``estimates.live_bytes_by_line``.
MAKE_SITE = ("make_blocks", MAKE_LINE)
