"""The stacks of one sign of a snapshot with whole-byte weights: what the flame graph and the
exports (collapsed, speedscope) draw.

A flame graph needs widths, so only stacks with positive estimated bytes are drawn, and the
stacks a "growth" snapshot lost (negative bytes) are counted and reported instead;
``negative=True`` is the other side. Bytes are rounded to whole bytes once per stack with a
running-total rounding, so the integers shown everywhere add up exactly: the root of the HTML
tree, the sum of the folded lines and the sum of the speedscope weights all equal
``round(total of the drawn stacks)``.
"""

from __future__ import annotations

import math
from itertools import accumulate, compress, repeat
from operator import attrgetter, gt, neg, sub
from typing import Any, Iterable

from ..digest.model import Frame, Snapshot
from .frames import NO_FRAME

__all__ = ["signed_stacks", "signed_weights"]

_NO_FRAME_STACK: tuple[Frame, ...] = (NO_FRAME,)


def signed_stacks(
    snapshot: Snapshot, negative: bool
) -> tuple[list[tuple[Frame, ...]], list[int], int, int]:
    """Stacks of one sign with whole-byte weights, and the bytes and count of the other sign.

    Weights are rounded on the running total (each within 1 byte of its estimate) so that they
    sum exactly to ``round(sum of the estimates)``; stacks whose weight rounds to 0 are dropped.
    Stacks without a Python frame get the single frame ``<no Python frame>``.
    """
    entries = snapshot.entries
    stacks, weights, other_bytes, other_n = signed_weights(
        list(map(attrgetter("bytes"), entries)), map(attrgetter("stack"), entries), negative
    )
    if not all(stacks):
        stacks = [st or _NO_FRAME_STACK for st in stacks]
    return stacks, weights, other_bytes, other_n


def signed_weights(
    values: list[float], stacks: Iterable[Any], negative: bool
) -> tuple[list[Any], list[int], int, int]:
    """``signed_stacks`` on the bytes and stacks of the entries, in their order."""
    if negative:
        values = list(map(neg, values))
    keep = list(map(gt, values, repeat(0.0)))
    other: list[float] = []
    if all(keep):
        stacks = list(stacks)
        raw = values
    else:
        other = [-b for b in values if b < 0]
        stacks = list(compress(stacks, keep))
        raw = list(compress(values, keep))
    cum = list(map(round, accumulate(raw)))
    weights = list(map(sub, cum, [0, *cum[:-1]]))
    if not all(weights):
        nonzero = list(map(bool, weights))
        stacks = list(compress(stacks, nonzero))
        weights = list(compress(weights, nonzero))
    return stacks, weights, round(math.fsum(other)), len(other)
