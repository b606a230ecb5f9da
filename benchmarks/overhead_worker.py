"""One measurement process: one pyperformance benchmark under one profiler configuration.

    python overhead_worker.py BENCH CONFIG --loops N --values V [--warmups W] [--callgrind SO]
    python overhead_worker.py BENCH none --calibrate SECONDS

The benchmark's setup runs first, then the profiler is started (so every tool is measured on the
same steady-state work), then ``--warmups`` untimed values and ``--values`` timed ones, each of
``--loops`` iterations. With ``--callgrind SO`` the timed values are bracketed by callgrind
client requests from that shared library (see cgmark.c). Prints one line ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import profilers  # noqa: E402
import suite  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", choices=sorted(suite.BENCHMARKS))
    ap.add_argument("config")
    ap.add_argument("--loops", type=int, default=1)
    ap.add_argument("--values", type=int, default=3)
    ap.add_argument("--warmups", type=int, default=1)
    ap.add_argument("--warmup-loops", type=int, default=0, help="loops per warm-up (default --loops)")
    ap.add_argument("--calibrate", type=float, default=0.0)
    ap.add_argument("--callgrind", default=None, help="path of cgmark.so")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--seed", type=int, default=12345)
    args = ap.parse_args()

    time_func = suite.load(args.bench)

    if args.calibrate:
        time_func(1)  # warm-up
        loops = 1
        while True:
            dt = time_func(loops)
            if dt >= args.calibrate or loops >= 1 << 20:
                break
            grow = args.calibrate / dt * 1.1 if dt > 0 else 10.0
            loops = max(loops + 1, int(loops * min(10.0, grow)))
        print("RESULT " + json.dumps({"loops": loops, "seconds": dt}), flush=True)
        return

    workdir = args.workdir or tempfile.mkdtemp(prefix="hpbench-")
    cg = ctypes.CDLL(args.callgrind) if args.callgrind else None
    gc.collect()
    stop = profilers.start(args.config, workdir, seed=args.seed)
    t_start = time.perf_counter()
    for _ in range(args.warmups):
        time_func(args.warmup_loops or args.loops)
    values = []
    measured_start = time.perf_counter()
    if cg is not None:
        cg.cg_begin()
    for _ in range(args.values):
        values.append(time_func(args.loops) / args.loops)
    if cg is not None:
        cg.cg_end()
    measured = time.perf_counter() - measured_start
    elapsed = time.perf_counter() - t_start
    info = stop()
    print("RESULT " + json.dumps({
        "bench": args.bench, "config": args.config, "loops": args.loops, "values": values,
        "elapsed": elapsed, "measured": measured, "info": info,
    }), flush=True)


if __name__ == "__main__":
    main()
