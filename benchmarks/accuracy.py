"""Accuracy of heapprof_nb's estimates against known truths, for each sampling rate and seed.

    python accuracy.py [--quick] [--out FILE] [--jobs N]

For every workload in workloads.py, one process:

1. runs it under tracemalloc (1 frame, exact), the second truth: the traced peak, per-line sizes
   at the ``peak`` mark, per-line growth between ``leak_start`` and ``leak_end``;
2. runs it under heapprof_nb at each rate and seed (and once in exact mode, rate 1), decodes the
   log with tests/reference_decoder.py and estimates: the peak of the live set (sum of the weights of
   ALLOCs not yet FREEd, over time), the top sites' shares at the ``peak`` mark, the top growth
   site between the leak marks, whether the estimated peak falls inside the spike and which site
   tops it.

Sites are leaf frames (file, line), as in tracemalloc's ``statistics('lineno')``. Writes the raw
figures as JSON; report.py makes the tables.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

import profilers  # noqa: E402
import workloads  # noqa: E402
from rawjson import save_json  # noqa: E402

RAW = os.path.join(HERE, "results", "raw")
Site = tuple[str, int]


def site_line(func_name: str) -> Site:
    """The (file, line) of the first allocating line in workloads.<func_name>."""
    fn = getattr(workloads, func_name)
    lines, first = inspect.getsourcelines(fn)
    for i, text in enumerate(lines):
        if "bytes(" in text and "def " not in text:
            return (inspect.getsourcefile(fn) or "", first + i)
    raise ValueError(func_name)


# --------------------------------------------------------------------------- truth


def truth(name: str, scale: float) -> dict[str, Any]:
    import tracemalloc

    run = workloads.WORKLOADS[name]
    marks: dict[str, dict[Site, int]] = {}
    state = {"peak": 0}

    def mark(label: str) -> None:
        cur, pk = tracemalloc.get_traced_memory()
        state["peak"] = max(state["peak"], pk)
        if label in ("peak", "leak_start", "leak_end"):
            snap = tracemalloc.take_snapshot()
            by_line: dict[Site, int] = {}
            for st in snap.statistics("lineno"):
                fr = st.traceback[0]
                by_line[(fr.filename, fr.lineno)] = st.size
            marks[label] = by_line
            marks[label + ":current"] = cur  # type: ignore[assignment]
            del snap
        tracemalloc.reset_peak()

    gc.collect()
    tracemalloc.start(1)
    run(scale, mark)
    state["peak"] = max(state["peak"], tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
    return {"peak": state["peak"], "marks": marks}


# --------------------------------------------------------------------------- estimates


def analyze(path: str) -> dict[str, Any]:
    # The pure-Python reference decoder, which lives with the tests.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import reference_decoder as reader

    log = reader.read_log(path)
    header = log.header
    kinds, sizes, refs, stacks = log.kind, log.size, log.ref, log.stack_id
    n = len(log)
    leaf: dict[int, Site] = {0: ("<no Python frame>", 0)}
    wcache: dict[int, float] = {}
    W = [0.0] * n
    cur = peak = 0.0
    peak_i = -1
    markers: dict[str, int] = {}
    for i in range(n):
        k = kinds[i]
        if k == 0:
            s = sizes[i]
            w = wcache.get(s)
            if w is None:
                w = wcache[s] = reader.weight(header, s)[0]
            W[i] = w
            cur += w
            if cur > peak:
                peak, peak_i = cur, i
        elif k == 1:
            cur -= W[refs[i]]
        elif k == 3:
            markers.setdefault(log.markers[i][1], i)

    def site(i: int) -> Site:
        sid = stacks[i]
        got = leaf.get(sid)
        if got is None:
            fid = log.stacks[sid][0]
            file_id, _func, line = log.frames[fid]
            got = leaf[sid] = (log.strings.get(file_id, ""), line)
        return got

    def snapshot(at: int) -> dict[Site, float]:
        out: dict[Site, float] = {}
        for j in range(at + 1):
            if kinds[j] == 0 and (refs[j] < 0 or refs[j] > at):
                key = site(j)
                out[key] = out.get(key, 0.0) + W[j]
        return out

    snaps = {label: snapshot(i) for label, i in markers.items()
             if label in ("peak", "leak_start", "leak_end")}
    trailer = log.trailer or {}
    return {
        "peak": peak, "peak_i": peak_i, "markers": markers, "snaps": snaps,
        "peak_top": _top(snapshot(peak_i), 1) if peak_i >= 0 else [],
        "events": trailer.get("samples", 0) + trailer.get("frees_recorded", 0),
        "samples": trailer.get("samples", 0), "log_bytes": os.path.getsize(path),
        "duration_s": log.end_ns / 1e9,
    }


def _top(by_site: dict[Site, float], k: int) -> list[Site]:
    return [s for s, _ in sorted(by_site.items(), key=lambda kv: -kv[1])[:k]]


def shares(by_site: dict[Site, float]) -> dict[Site, float]:
    total = sum(by_site.values()) or 1.0
    return {s: v / total for s, v in by_site.items()}


def score(name: str, tr: dict[str, Any], est: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "peak_true": tr["peak"], "peak_est": est["peak"],
        "peak_err": est["peak"] / tr["peak"] - 1.0,
        "log_bytes": est["log_bytes"], "events": est["events"], "samples": est["samples"],
        "duration_s": est["duration_s"],
    }
    t_peak = tr["marks"].get("peak")
    e_peak = est["snaps"].get("peak")
    if t_peak is not None and e_peak is not None:
        ts, es = shares(t_peak), shares(e_peak)
        top10 = _top(t_peak, 10)
        diffs = [abs(es.get(s, 0.0) - ts[s]) * 100 for s in top10]
        out["share_err_max_pp"] = max(diffs)
        out["share_err_mean_pp"] = sum(diffs) / len(diffs)
        out["top10_true"] = [[f"{os.path.basename(s[0])}:{s[1]}", ts[s] * 100] for s in top10]
        out["top10_est_pp"] = [es.get(s, 0.0) * 100 for s in top10]
    if name == "leak":
        want = site_line(workloads.SITES["leak"][0])
        a, b = est["snaps"].get("leak_start", {}), est["snaps"].get("leak_end", {})
        growth = {s: b.get(s, 0.0) - a.get(s, 0.0) for s in set(a) | set(b)}
        got = _top(growth, 1)
        ta, tb = tr["marks"]["leak_start"], tr["marks"]["leak_end"]
        tgrowth = {s: tb.get(s, 0) - ta.get(s, 0) for s in set(ta) | set(tb)}
        out["found"] = bool(got) and got[0] == want
        out["truth_found"] = _top(tgrowth, 1) == [want]
        out["leak_growth_est"] = growth.get(want, 0.0)
        out["leak_growth_true"] = tgrowth.get(want, 0)
    if name == "spike":
        want = site_line(workloads.SITES["spike"][0])
        m = est["markers"]
        inside = m.get("spike_start", 1 << 62) <= est["peak_i"] <= m.get("spike_end", -1)
        out["found"] = bool(inside and est["peak_top"] and tuple(est["peak_top"][0]) == want)
        out["peak_inside_spike"] = inside
    return out


def run_workload(name: str, scale: float, rates: list[int], seeds: list[int], exact: bool,
                 workdir: str) -> dict[str, Any]:
    import heapprof_nb

    run = workloads.WORKLOADS[name]
    import numpy  # noqa: F401  (imported before any measurement: its import is not the workload)

    t0 = time.perf_counter()
    tr = truth(name, scale)
    results: list[dict[str, Any]] = []
    plan = [(r, s) for r in rates for s in seeds] + ([(1, 0)] if exact else [])
    for rate, seed in plan:
        path = os.path.join(workdir, f"acc-{name}-{rate}-{seed}.hpnb")
        gc.collect()
        heapprof_nb.start(path, rate=rate, seed=seed)
        run(scale, heapprof_nb.mark)
        heapprof_nb.stop()
        est = analyze(path)
        os.unlink(path)
        res = score(name, tr, est)
        res.update({"rate": rate, "seed": seed})
        results.append(res)
    return {"workload": name, "scale": scale, "truth_peak": tr["peak"], "runs": results,
            "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workloads", nargs="*")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child process: one workload
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rates", default="")
    ap.add_argument("--seeds", type=int, default=0)
    ap.add_argument("--exact", action="store_true")
    a = ap.parse_args()
    if a.one:
        rates = [int(r) for r in a.rates.split(",")]
        res = run_workload(a.one, a.scale, rates, list(range(1, a.seeds + 1)), a.exact,
                           tempfile.mkdtemp(prefix="hpacc-"))
        print("RESULT " + json.dumps(res), flush=True)
        return
    names = a.workloads or list(workloads.WORKLOADS)
    rates = sorted({16384, profilers.DEFAULT_RATE, 262144}) if a.quick else profilers.RATES
    seeds = 2 if a.quick else 6
    out = a.out or os.path.join(RAW, "accuracy.json")
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    def child(name: str) -> dict[str, Any]:
        cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--scale", str(a.scale),
               "--rates", ",".join(map(str, rates)), "--seeds", str(seeds)]
        if not a.quick and name != "threads":
            cmd.append("--exact")
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        for line in p.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        return {"workload": name, "error": (p.stderr or p.stdout)[-2000:]}

    from overhead import engine_id

    data: dict[str, Any] = {"quick": a.quick, "rates": rates, "seeds": seeds, "workloads": [],
                            "engine": engine_id(), "started": time.time()}
    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for res in pool.map(child, names):
            data["workloads"].append(res)
            if "error" in res:
                print(f"  {res['workload']}: ERROR {res['error'][-800:]}", flush=True)
            else:
                print(f"  {res['workload']}: {len(res['runs'])} runs in {res['seconds']:.0f} s, "
                      f"true peak {res['truth_peak'] / 2**20:.1f} MiB", flush=True)
            data["finished"] = time.time()
            save_json(out, data)


if __name__ == "__main__":
    main()
