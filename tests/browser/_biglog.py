"""A large synthetic heapprof_nb log for the latency measurement: ~1 million events, 50,000 stacks.

The log is mode 2 (every allocation, weights exact) and follows ``docs/format.md`` 1.0: STRING,
FRAME, STACK and THREAD definitions, then ALLOC/FREE records encoded column-wise with NumPy (the
same scheme as ``benchmarks/bench_digest.py``'s window profile: uniform stacks, 40 % of the
blocks never freed, so a span's snapshot holds nearly every stack). Stacks are 16 frames: a
root path shared by 1 of 50 families, then 8 frames drawn at random, so the flame graph has
structure. Generating it takes a few seconds.
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

MAGIC = b"HPNBLOG\x00"


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _blob(s: str) -> bytes:
    b = s.encode()
    return _varint(len(b)) + b


def _header() -> bytes:
    body = (
        _varint(os.getpid()) + _blob("3.11.7") + _varint(2) + _varint(1) + _varint(0)
        + _varint(128) + _varint(1) + _varint(10**9) + _varint(1_700_000_000 * 10**9)
    )
    return MAGIC + struct.pack("<HHI", 1, 0, len(body)) + body


def _definitions(n_stacks: int, depth: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray()
    n_files, n_funcs = 200, 4000
    sid = 0
    for i in range(n_files):
        sid += 1
        out += b"\x01" + _varint(sid) + _blob(f"/srv/app/pkg{i % 17}/module_{i}.py")
    for i in range(n_funcs):
        sid += 1
        out += b"\x01" + _varint(sid) + _blob(f"function_{i}")
    frame_ids: list[int] = []
    for i in range(max(n_stacks // 2, 5000)):
        fid = len(frame_ids) + 1
        out += (b"\x02" + _varint(fid) + _varint(1 + i % n_files)
                + _varint(1 + n_files + i % n_funcs) + _varint(1 + rng.randrange(2000)))
        frame_ids.append(fid)
    roots = [rng.sample(frame_ids, depth // 2) for _ in range(50)]
    for s in range(1, n_stacks + 1):
        stack = rng.sample(frame_ids, depth - depth // 2) + roots[s % len(roots)]
        out += b"\x03" + _varint(s) + _varint(len(stack)) + b"".join(_varint(f) for f in stack)
    out += b"\x04\x01" + _varint(4242)
    return bytes(out)


def _encode_columns(cols: list[tuple[object, object]]) -> bytes:
    """Row-wise concatenation of per-row fields: (uint64 values | one fixed uint8, present)."""
    import numpy as np

    mats, masks = [], []
    for values, present in cols:
        v = np.asarray(values)
        if v.dtype == np.uint8:
            mats.append(v[:, None])
            masks.append(np.asarray(present, dtype=bool)[:, None])
            continue
        v = v.astype(np.uint64)
        nbits = np.zeros(len(v), dtype=np.int64)
        x = v.copy()
        while True:
            nz = x > 0
            if not nz.any():
                break
            nbits += nz
            x >>= np.uint64(1)
        length = np.maximum(1, (nbits + 6) // 7)
        width = int(length.max())
        j = np.arange(width)
        b = ((v[:, None] >> (7 * j).astype(np.uint64)[None, :]) & np.uint64(0x7F)).astype(np.uint8)
        b |= ((j[None, :] < (length[:, None] - 1)) * 0x80).astype(np.uint8)
        mats.append(b)
        masks.append((j[None, :] < length[:, None]) & np.asarray(present, dtype=bool)[:, None])
    return np.concatenate(mats, axis=1)[np.concatenate(masks, axis=1)].tobytes()


def write_log(path: Path, *, n_events: int = 1_000_000, n_stacks: int = 50_000,
              depth: int = 16, seed: int = 2) -> dict[str, int]:
    """Write the log; returns its facts (events, allocations, frees, stacks)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_alloc = int(n_events * 0.55)
    life = rng.geometric(1 / 40, n_alloc).astype(np.float64)
    long_ = rng.random(n_alloc) < 0.10
    life[long_] = rng.integers(1_000, 2_000_000, long_.sum())
    never = rng.random(n_alloc) < 0.4
    k = np.arange(n_alloc, dtype=np.float64)
    free_at = k + life + 0.5
    freed = (~never) & (free_at < n_alloc)
    idx = np.flatnonzero(freed)
    if len(idx) > n_events - n_alloc:
        idx = np.sort(rng.choice(idx, n_events - n_alloc, replace=False))
    keys = np.concatenate([k, free_at[idx]])
    kind = np.concatenate([np.zeros(n_alloc, np.uint8), np.ones(len(idx), np.uint8)])
    ref = np.concatenate([np.arange(n_alloc), idx])
    order = np.argsort(keys, kind="stable")
    kind, ref = kind[order], ref[order]
    n = len(kind)
    sizes = np.array([8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 4096, 65536, 1 << 20],
                     dtype=np.uint64)
    p = np.array([14, 14, 12, 10, 8, 8, 6, 6, 5, 4, 4, 4, 3, 2], dtype=np.float64)
    size_of = rng.choice(sizes, n_alloc, p=p / p.sum())
    stack_of = rng.integers(1, n_stacks + 1, n_alloc).astype(np.uint64)
    addr_of = np.uint64(0x7F3A_0000_0000) + np.uint64(16) * np.arange(n_alloc, dtype=np.uint64)
    dt = rng.integers(20, 400, n).astype(np.uint64)  # nanoseconds between events
    is_alloc = kind == 0
    one = np.ones(n, dtype=bool)
    with open(path, "wb") as f:
        f.write(_header())
        f.write(_definitions(n_stacks, depth, seed))
        for s in range(0, n, 500_000):
            sl = slice(s, s + 500_000)
            a, r = is_alloc[sl], ref[sl]
            f.write(_encode_columns([
                (np.where(a, 0x10, 0x11).astype(np.uint8), one[sl]),
                (dt[sl], one[sl]),
                (np.full(len(r), 1, np.uint8), a),   # domain MEM
                (np.ones(len(r), np.uint64), a),      # thread 1
                (stack_of[r], a),
                (size_of[r], a),
                (addr_of[r], one[sl]),
            ]))
        f.write(b"\x7f" + _varint(100) + b"\x00" * 8)  # TRAILER
    return {"events": n, "allocs": n_alloc, "frees": int(len(idx)), "stacks": n_stacks}
