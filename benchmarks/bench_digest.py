"""Digest benchmark (not a test): throughput, memory, and the latency of a span selection.

Measures, each in a fresh interpreter so peak RSS belongs to the measurement alone:

1. digest throughput: a generated mode-2 log of at least 10 million ALLOC/FREE events (2,000
   stacks, sizes from 8 B to 1 MiB, a live set that grows to ~1 million blocks, short and long
   lifetimes), digested by ``heapprof_nb._digest`` in one call (one core, the GIL released) and
   through ``heapprof_nb.digest.thread.Digest`` (the background thread): events per second and peak
   RSS; once with the interval index and once without (``index_limit=0``: memory that does not
   grow with the log);
2. span selection: on a profile with 50,000+ distinct stacks, ``profile.window(t0, t1)`` and
   ``Snapshot.flame_html()`` of its ``live_at_end`` (the measure with the most stacks) -- the
   time from a selection in the plot to the flame graph's HTML.

Targets (issue [digest]): >= 10 million events/s; window query + flame HTML < 250 ms.

Usage: ``python benchmarks/bench_digest.py [--events N] [--quick]``. The generated logs are
kept in ``benchmarks/.work/`` (ignored by git) and reused. Results go to
``benchmarks/results/digest.md``. The generator needs NumPy (the digest does not).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

from heapprof_nb._format import encode_varint as _varint  # the log's LEB128

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
RESULTS = HERE / "results" / "digest.md"
RUNS = HERE / "results" / "digest_runs.jsonl"  # one line per run, all listed in digest.md

MAGIC = b"HPNBLOG\x00"


# ------------------------------------------------------------------------------------------------
# Log generation (vectorised LEB128 with NumPy)


def _blob(s: str) -> bytes:
    b = s.encode()
    return _varint(len(b)) + b


def header(mode: int = 2, rate: int = 1) -> bytes:
    body = (
        _varint(os.getpid()) + _blob("3.11.7") + _varint(mode) + _varint(rate) + _varint(0)
        + _varint(128) + _varint(1) + _varint(10**9) + _varint(1_700_000_000 * 10**9)
    )
    return MAGIC + struct.pack("<HHI", 1, 0, len(body)) + body


def definitions(n_stacks: int, depth: int, seed: int) -> bytes:
    """STRING/FRAME/STACK/THREAD records for n_stacks distinct stacks of about `depth` frames."""
    import random

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
    # frames: (file, func, line)
    n_frames = 0
    frame_ids: list[int] = []
    for i in range(max(n_stacks // 2, 5000)):
        n_frames += 1
        out += (b"\x02" + _varint(n_frames) + _varint(1 + i % n_files)
                + _varint(1 + n_files + i % n_funcs) + _varint(1 + rng.randrange(2000)))
        frame_ids.append(n_frames)
    # stacks as a tree: a shared root path, then branching, so flame graphs have structure
    roots = [rng.sample(frame_ids, depth // 2) for _ in range(50)]
    for s in range(1, n_stacks + 1):
        stack = rng.sample(frame_ids, depth - depth // 2) + roots[s % len(roots)]
        out += b"\x03" + _varint(s) + _varint(len(stack)) + b"".join(_varint(f) for f in stack)
    out += b"\x04\x01" + _varint(4242)
    return bytes(out)


def _encode_columns(cols: list[tuple[object, object]]) -> bytes:
    """Concatenate per-row fields: each (values uint64 array | fixed uint8 array, mask)."""
    import numpy as np

    mats = []
    masks = []
    for values, present in cols:
        v = np.asarray(values)
        if v.dtype == np.uint8:  # a single fixed byte
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
        shifts = (7 * j).astype(np.uint64)
        b = ((v[:, None] >> shifts[None, :]) & np.uint64(0x7F)).astype(np.uint8)
        cont = j[None, :] < (length[:, None] - 1)
        b |= (cont * 0x80).astype(np.uint8)
        mats.append(b)
        masks.append((j[None, :] < length[:, None]) & np.asarray(present, dtype=bool)[:, None])
    m = np.concatenate(mats, axis=1)
    k = np.concatenate(masks, axis=1)
    return m[k].tobytes()


def generate_events(path: Path, n_events: int, n_stacks: int, depth: int, seed: int,
                    never_p: float = 0.08, zipf: bool = True) -> dict:
    """Write a mode-2 log of about n_events ALLOC/FREE events; return facts about it.

    ``never_p`` of the allocations are never freed; stacks are Zipf-distributed (``zipf``) or
    uniform."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_alloc = int(n_events * 0.55)
    # lifetimes in allocation steps: mostly short, some long, ~8 % never freed
    life = rng.geometric(1 / 40, n_alloc).astype(np.float64)
    long_ = rng.random(n_alloc) < 0.10
    life[long_] = rng.integers(1_000, 2_000_000, long_.sum())
    never = rng.random(n_alloc) < never_p
    k = np.arange(n_alloc, dtype=np.float64)
    free_at = k + life + 0.5
    freed = (~never) & (free_at < n_alloc)
    # keep the number of frees so the total reaches n_events
    n_free_target = n_events - n_alloc
    idx = np.flatnonzero(freed)
    if len(idx) > n_free_target:
        idx = np.sort(rng.choice(idx, n_free_target, replace=False))
    keys = np.concatenate([k, free_at[idx]])
    kind = np.concatenate([np.zeros(n_alloc, np.uint8), np.ones(len(idx), np.uint8)])
    ref = np.concatenate([np.arange(n_alloc), idx])
    order = np.argsort(keys, kind="stable")
    kind, ref = kind[order], ref[order]
    n = len(kind)
    sizes_choice = np.array([8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 4096, 65536, 1 << 20],
                            dtype=np.uint64)
    p = np.array([14, 14, 12, 10, 8, 8, 6, 6, 5, 4, 4, 4, 3, 2], dtype=np.float64)
    size_of = rng.choice(sizes_choice, n_alloc, p=p / p.sum())
    # a stack's popularity is Zipf-like
    if zipf:
        stack_of = (rng.zipf(1.3, n_alloc) % n_stacks + 1).astype(np.uint64)
    else:
        stack_of = rng.integers(1, n_stacks + 1, n_alloc).astype(np.uint64)
    addr_of = (np.uint64(0x7F3A_0000_0000) + np.uint64(16) * np.arange(n_alloc, dtype=np.uint64))
    dt = rng.integers(20, 400, n).astype(np.uint64)
    is_alloc = kind == 0
    one = np.ones(n, dtype=bool)
    with open(path, "wb") as f:
        f.write(header())
        f.write(definitions(n_stacks, depth, seed))
        chunk = 1_000_000
        for s in range(0, n, chunk):
            sl = slice(s, s + chunk)
            a = is_alloc[sl]
            r = ref[sl]
            tag = np.where(a, 0x10, 0x11).astype(np.uint8)
            f.write(_encode_columns([
                (tag, one[sl]),
                (dt[sl], one[sl]),
                (np.full(len(r), 1, np.uint8), a),          # domain MEM
                (np.ones(len(r), np.uint64), a),             # thread 1
                (stack_of[r], a),
                (size_of[r], a),
                (addr_of[r], one[sl]),
            ]))
        total_dt = int(dt.sum())
        f.write(b"\x7f" + _varint(100) + b"\x00" * 8)
    return {"events": n, "allocs": int(n_alloc), "frees": int(len(idx)), "stacks": n_stacks,
            "bytes": path.stat().st_size, "duration_ns": total_dt + 100}


def ensure_log(name: str, n_events: int, n_stacks: int, depth: int, seed: int,
               **kw: object) -> tuple[Path, dict]:
    WORK.mkdir(exist_ok=True)
    path = WORK / f"{name}.hpnb"
    meta_path = WORK / f"{name}.json"
    want = {"n_events": n_events, "n_stacks": n_stacks, "depth": depth, "seed": seed, "v": 3,
            **kw}
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("want") == want:
            return path, meta
    t = time.perf_counter()
    meta = generate_events(path, n_events, n_stacks, depth, seed, **kw)  # type: ignore[arg-type]
    meta["want"] = want
    meta["generate_s"] = time.perf_counter() - t
    meta_path.write_text(json.dumps(meta))
    return path, meta


# ------------------------------------------------------------------------------------------------
# Children: one measurement per fresh interpreter


def _maxrss_bytes() -> int:
    """Peak RSS of this process. Linux keeps ru_maxrss across execve (a child started from a
    big parent would report the parent's peak), so read VmHWM, which belongs to this image."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def child_digest(path: str, how: str, index_limit: int | None) -> dict:
    from heapprof_nb import _digest

    rss0 = _maxrss_bytes()
    kw = {} if index_limit is None else {"index_limit": index_limit}
    with open(path, "rb") as f:  # the file is in the page cache (read once before)
        if how == "core":
            d = _digest.Digester(**kw)
            cpu0, t0 = time.thread_time(), time.perf_counter()
            d.feed_fd(f.fileno())  # runs in this thread, the GIL released
            wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
            info = d.info()
        else:
            from heapprof_nb.digest.thread import Digest

            t0 = time.perf_counter()
            cpu0 = time.process_time()
            dg = Digest(path, cache=False, **kw)
            dg.wait()
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            info = dg.info()
    return {"wall_s": wall, "cpu_s": cpu, "records": info["records"],
            "events": info["allocs"] + info["frees"], "maxrss": _maxrss_bytes(),
            "rss_before": rss0, "digest_memory": info["memory_bytes"],
            "index_bytes": info["index_bytes"], "has_index": info["has_index"]}


def child_window(path: str, repeats: int) -> dict:
    from heapprof_nb import read

    t0 = time.perf_counter()
    prof = read(path, cache=False)
    read_s = time.perf_counter() - t0
    d = prof.duration
    flame_ok = True
    try:
        import heapprof_nb.views.flame  # noqa: F401
    except ImportError:
        flame_ok = False
    spans = [(0.0, d), (d * 0.25, d * 0.75), (d * 0.5, d * 0.9)]
    # the first query also resolves every stack to Frame tuples and the flame graph's label
    # table (once per profile)
    a = time.perf_counter()
    first_snap = prof.window(*spans[0]).live_at_end
    if flame_ok:
        first_snap.flame_html()
    first_ms = (time.perf_counter() - a) * 1e3
    q_ms: list[float] = []
    s_ms: list[float] = []
    f_ms: list[float] = []
    tot_ms: list[float] = []
    # the same steps in CPU time of the process (the machine is shared: wall includes waiting)
    q_cpu: list[float] = []
    s_cpu: list[float] = []
    f_cpu: list[float] = []
    tot_cpu: list[float] = []
    cpu = time.process_time
    n_entries = 0
    html_len = 0
    for r in range(repeats):
        t0_, t1_ = spans[r % len(spans)]
        ca, a = cpu(), time.perf_counter()
        w = prof.window(t0_, t1_)
        cb, b = cpu(), time.perf_counter()
        snap = w.live_at_end
        cc, c = cpu(), time.perf_counter()
        if flame_ok:
            html = snap.flame_html()
            html_len = len(html)
        ce, e = cpu(), time.perf_counter()
        q_ms.append((b - a) * 1e3)
        s_ms.append((c - b) * 1e3)
        f_ms.append((e - c) * 1e3)
        tot_ms.append((e - a) * 1e3)
        q_cpu.append((cb - ca) * 1e3)
        s_cpu.append((cc - cb) * 1e3)
        f_cpu.append((ce - cc) * 1e3)
        tot_cpu.append((ce - ca) * 1e3)
        n_entries = max(n_entries, len(snap.entries))
    return {"read_s": read_s, "first_ms": first_ms, "window_ms": q_ms, "snapshot_ms": s_ms, "flame_ms": f_ms,
            "total_ms": tot_ms, "window_cpu_ms": q_cpu, "snapshot_cpu_ms": s_cpu,
            "flame_cpu_ms": f_cpu, "total_cpu_ms": tot_cpu, "stacks_in_snapshot": n_entries, "flame": flame_ok,
            "html_bytes": html_len, "maxrss": _maxrss_bytes(),
            "has_index": prof.digest.info()["has_index"]}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------


def fmt_mib(n: float) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=12_000_000)
    ap.add_argument("--stacks", type=int, default=52_000, help="stacks of the window profile")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1M events, 1 repeat (smoke run)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "digest":
            path, how, limit = rest
            res = child_digest(path, how, None if limit == "default" else int(limit))
        else:
            res = child_window(rest[0], int(rest[1]))
        print(json.dumps(res))
        return

    n_events = 1_000_000 if args.quick else args.events
    repeats = 1 if args.quick else args.repeats
    print(f"generating / reusing logs in {WORK} ...", flush=True)
    big, big_meta = ensure_log(f"digest_{n_events}", n_events, 2000, 12, 1)
    wide, wide_meta = ensure_log(f"window_{args.stacks}", 1_000_000, args.stacks, 16, 2,
                                 never_p=0.4, zipf=False)
    for p in (big, wide):  # into the page cache, so we time the digest, not the disk
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    for how, limit in (("core", "default"), ("thread", "default"), ("core", "0")):
        runs = [run_child("digest", str(big), how, limit) for _ in range(repeats)]
        best = min(runs, key=lambda r: r["wall_s"])
        best_cpu = min(r["cpu_s"] for r in runs)
        rate = best["events"] / best["wall_s"]
        cpu_rate = best["events"] / best_cpu
        rows.append((how, limit, best, rate, cpu_rate))
        print(f"digest {how:6s} index={limit:7s}: {rate / 1e6:6.2f} M events/s wall, "
              f"{cpu_rate / 1e6:6.2f} M/s CPU, {best['wall_s']:.2f} s, peak RSS "
              f"{fmt_mib(best['maxrss'])}", flush=True)

    win = run_child("window", str(wide), str(max(5, repeats * 3)))
    med = statistics.median
    print(f"window + flame on {win['stacks_in_snapshot']} stacks: median "
          f"{med(win['total_ms']):.1f} ms wall, {med(win['total_cpu_ms']):.1f} ms CPU (window "
          f"{med(win['window_cpu_ms']):.1f}, snapshot {med(win['snapshot_cpu_ms']):.1f}, flame "
          f"{med(win['flame_cpu_ms']):.1f} ms CPU)", flush=True)

    core = rows[0]
    target_rate = core[4] >= 10e6
    target_window = med(win["total_cpu_ms"]) < 250
    lines = [
        "# Digest benchmark",
        "",
        f"Produced by `benchmarks/bench_digest.py` on {time.strftime('%Y-%m-%d %H:%M')}: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}. "
        f"Load average when it started: {load:.1f} (other jobs share the machine: wall-clock "
        "rates are lower than CPU-time rates by the share of the CPU the digest did not get).",
        "",
        "## Throughput",
        "",
        f"Log: {big_meta['events']:,} ALLOC/FREE events ({big_meta['allocs']:,} allocations, "
        f"{big_meta['frees']:,} frees), 2,000 stacks, mode 2, {fmt_mib(big_meta['bytes'])} on "
        f"disk (in the page cache). Best of {repeats}; events/s counts ALLOC and FREE records.",
        "",
        "| how | interval index | events/s (CPU time) | events/s (wall) | wall | peak RSS "
        "| digest memory | of which index |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for how, limit, best, rate, cpu_rate in rows:
        label = {"core": "C `Digester.feed_fd`, one call", "thread": "`Digest` thread"}[how]
        lines.append(
            f"| {label} | {'default (512 MiB cap)' if limit == 'default' else 'none'} | "
            f"**{cpu_rate / 1e6:.2f} M** | {rate / 1e6:.2f} M | {best['wall_s']:.2f} s | "
            f"{fmt_mib(best['maxrss'])} | {fmt_mib(best['digest_memory'])} | "
            f"{fmt_mib(best['index_bytes'])} |"
        )
    lines += [
        "",
        f"Target >= 10 M events/s on one core: **{'met' if target_rate else 'NOT met'}** "
        f"({core[4] / 1e6:.2f} M/s of CPU time, {core[3] / 1e6:.2f} M/s wall). The `Digest` "
        "thread row counts the whole process's CPU time. Peak RSS includes the interpreter (about "
        f"{fmt_mib(rows[0][2]['rss_before'])} before the digest started). Without the interval "
        "index the digest's memory does not grow with the number of events; with it, the index "
        "costs 24 bytes per sampled allocation (capped).",
        "",
        "## Span selection: window query + flame graph",
        "",
        f"Profile: {wide_meta['events']:,} events over {wide_meta['stacks']:,} distinct stacks "
        f"(16 frames each); the `live_at_end` snapshot of the window holds "
        f"{win['stacks_in_snapshot']:,} stacks. Median of {len(win['total_ms'])} selections "
        "(three different spans, repeated), in CPU time of the process and in wall-clock time:",
        "",
        "| step | median (CPU) | median (wall) | max (wall) |",
        "|---|---|---|---|",
        f"| `profile.window(t0, t1)` (C query) | {med(win['window_cpu_ms']):.1f} ms | "
        f"{med(win['window_ms']):.1f} ms | {max(win['window_ms']):.1f} ms |",
        f"| `window.live_at_end` (lazy Snapshot: entries built on first access) | "
        f"{med(win['snapshot_cpu_ms']):.1f} ms | {med(win['snapshot_ms']):.1f} ms | "
        f"{max(win['snapshot_ms']):.1f} ms |",
        f"| `snapshot.flame_html()` | "
        + (f"{med(win['flame_cpu_ms']):.1f} ms | {med(win['flame_ms']):.1f} ms | "
           f"{max(win['flame_ms']):.1f} ms |" if win["flame"]
           else "not available (heapprof_nb.views.flame missing) | | |"),
        f"| **total** | **{med(win['total_cpu_ms']):.1f} ms** | {med(win['total_ms']):.1f} ms "
        f"| {max(win['total_ms']):.1f} ms |",
        "",
        f"The first selection on a freshly read profile also resolves all "
        f"{wide_meta['stacks']:,} stacks to `Frame` tuples and to the flame graph's label "
        f"table (once per profile): {win['first_ms']:.0f} ms wall.",
        "",
        f"Target < 250 ms (CPU time, median): **{'met' if target_window else 'NOT met'}**. "
        f"Reading (digesting) this profile took {win['read_s']:.2f} s; the HTML is "
        f"{win['html_bytes'] / 1024:,.0f} KiB.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    run = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "load": round(load, 1), "events": core[2]["events"],
        "index_cpu": core[4], "index_wall": core[3], "thread_cpu": rows[1][4],
        "noindex_cpu": rows[2][4], "noindex_wall": rows[2][3],
        "window_ms": med(win["window_ms"]), "snapshot_ms": med(win["snapshot_ms"]),
        "flame_ms": med(win["flame_ms"]), "total_ms": med(win["total_ms"]),
        "total_cpu_ms": med(win["total_cpu_ms"]),
    }
    with open(RUNS, "a") as f:
        f.write(json.dumps(run) + "\n")
    history = [json.loads(x) for x in RUNS.read_text().splitlines() if x.strip()]
    lines += [
        "## All recorded runs",
        "",
        "Rates depend on what else the machine runs (see the load): the same code measured at",
        "different moments. M events/s of CPU time unless marked wall; window, snapshot and flame are",
        "median wall-clock times (CPU time recorded since the fast flame path).",
        "",
        "| date | load | index | index (wall) | `Digest` thread | no index | no index (wall) "
        "| window | snapshot | flame | window + flame | window + flame (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in history:
        lines.append(
            f"| {r['date']}{' ' + r['note'] if r.get('note') else ''} | {r['load']} | "
            f"{r['index_cpu'] / 1e6:.2f} | {r['index_wall'] / 1e6:.2f} | "
            f"{r['thread_cpu'] / 1e6:.2f} | {r['noindex_cpu'] / 1e6:.2f} | "
            f"{r['noindex_wall'] / 1e6:.2f} | {r['window_ms']:.1f} ms | "
            f"{r['snapshot_ms']:.1f} ms | {r['flame_ms']:.1f} ms | {r['total_ms']:.1f} ms | "
            + (f"{r['total_cpu_ms']:.1f} ms |" if "total_cpu_ms" in r else "not measured |")
        )
    lines.append("")
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
