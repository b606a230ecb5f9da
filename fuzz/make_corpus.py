"""Write the fuzzers' seed corpus: a few small, real logs written by the engine.

    PYTHONPATH=. python3 fuzz/make_corpus.py OUT_DIR     # OUT_DIR/logs/*.hpnb, OUT_DIR/dumps/*.dump

Each seed is a real profile (the engine, not a hand-built log) kept small, since fuzzers mutate
small inputs best: exact mode (rate=1) with a shallow stack limit, byte sampling, per-size
probabilities, markers and META facts, several threads, a log cut short by a hard exit (no
TRAILER) and a log cut in the middle of a record. The digests of these logs, dumped as the
`<log>.digest` cache holds them, seed the fuzzer of the cache loader. The profiled regions are tiny and the
interpreter's own allocations are the rest. Every run is a subprocess, so the seeds do not
depend on the state of the caller, and a fixed seed makes the sampling repeatable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = """
import os, sys, threading, heapprof_nb
from heapprof_nb import _api
def work(n, size):
    keep = [bytes(size) for _ in range(n)]
    del keep[: n // 2]
    return keep
"""

# name -> body (the path is in `PATH`); each stays well under 64 KiB of log.
SEEDS: dict[str, str] = {
    "exact": """
        heapprof_nb.start(PATH, rate=1, max_frames=4, seed=1)
        k = work(20, 300)
        heapprof_nb.mark("half way")
        k2 = work(10, 5000)
        heapprof_nb.stop()
    """,
    "bytes": """
        heapprof_nb.start(PATH, rate=4096, max_frames=16, seed=2)
        k = work(200, 1000)
        heapprof_nb.stop()
    """,
    "sizes": """
        heapprof_nb.start(PATH, sampling={128: 0.01, 1024: 0.2, 8192: 1.0}, max_frames=8, seed=3)
        k = work(200, 700) + work(5, 20000)
        heapprof_nb.stop()
    """,
    "cells": """
        heapprof_nb.start(PATH, rate=2048, max_frames=8, seed=4)
        _api._mark_cell(1, "In [1]")
        _api._add_meta("cell_source:<ipython-input-1-x>", "k = work(50, 900)\\n")
        _api._add_meta("cell_label:<ipython-input-1-x>", "In [1]")
        k = work(50, 900)
        _api._mark_cell(2, "In [1]")
        heapprof_nb.mark("\\u00e9t\\u00e9 \\U0001f600")
        heapprof_nb.stop()
    """,
    "threads": """
        heapprof_nb.start(PATH, rate=1024, max_frames=6, seed=5)
        ts = [threading.Thread(target=work, args=(100, 500)) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        heapprof_nb.stop()
    """,
    "killed": """
        import time
        heapprof_nb.start(PATH, rate=1, max_frames=4, seed=6)
        k = work(30, 400)
        time.sleep(0.25)   # past the 100 ms flush
        os._exit(0)        # no stop(): no TRAILER
    """,
}


def _package_parent() -> str:
    """Where the heapprof_nb this interpreter imports lives (an installed build, or a source tree
    with the extensions built in place); the source tree itself as a last resort."""
    try:
        import heapprof_nb
    except ImportError:
        return str(ROOT)
    return str(Path(heapprof_nb.__file__).resolve().parents[1])


def write_seed(name: str, body: str, out: Path) -> Path:
    path = out / f"{name}.hpnb"
    if path.exists():
        path.unlink()
    code = PRELUDE + f"PATH = {str(path)!r}\n" + textwrap.dedent(body)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in [_package_parent(), os.environ.get("PYTHONPATH")] if p))
    # cwd: `python -c` puts the working directory first on sys.path, and a source tree there
    # (no extensions built in place) would shadow the build under test.
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60, cwd=out)
    return path


def write_dumps(logs: list[Path], out: Path) -> list[Path]:
    if _package_parent() not in sys.path:
        sys.path.insert(0, _package_parent())
    from heapprof_nb import _digest
    from heapprof_nb.errors import ProfileFormatError

    written = []
    for log in logs:
        d = _digest.Digester(max_buckets=8)
        try:
            d.feed(log.read_bytes())
        except ProfileFormatError:
            continue
        if d.header() is None:  # a cut header: nothing to dump
            continue
        path = out / (log.stem + ".dump")
        path.write_bytes(d.dump())
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    top = Path(argv[1] if len(argv) > 1 else "build/fuzz/seeds")
    out = top / "logs"
    out.mkdir(parents=True, exist_ok=True)
    written = [write_seed(name, body, out) for name, body in SEEDS.items()]
    # A record cut in half (a reader caught the file mid-write) and a header cut short.
    exact = (out / "exact.hpnb").read_bytes()
    (out / "cut_record.hpnb").write_bytes(exact[: len(exact) - 3])
    (out / "cut_header.hpnb").write_bytes(exact[:20])
    written += [out / "cut_record.hpnb", out / "cut_header.hpnb"]
    dumps = top / "dumps"
    dumps.mkdir(exist_ok=True)
    written += write_dumps(written, dumps)
    for p in written:
        print(f"{p}: {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
