"""Overhead of heapprof_nb and its competitors on pyperformance benchmarks.

    python overhead.py wall       [--quick] [--out FILE]   # wall time, interleaved rounds
    python overhead.py callgrind  [--quick] [--out FILE]   # instruction counts (deterministic)
    python overhead.py breakdown  [--quick] [--out FILE]   # where heapprof_nb's instructions go

Every measurement is one process (overhead_worker.py): benchmark setup, then the profiler is
started, then a warm-up and the timed values. Wall time: each round runs every configuration of
a benchmark one after the other in a rotated order (plus a second no-profiler run, the A/A
control that shows the noise), so each ratio compares runs taken side by side. Callgrind: the
timed loops are bracketed by client requests (cgmark.c), so only benchmark iterations count.
Raw results go to JSON (written after every process, so an interrupted run keeps its data);
report.py turns them into tables and plots.
"""

from __future__ import annotations

import argparse
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

import profilers  # noqa: E402
from rawjson import load_json, save_json  # noqa: E402
import suite  # noqa: E402

WORKER = os.path.join(HERE, "overhead_worker.py")
RAW = os.path.join(HERE, "results", "raw")
SLOW = {"hp:1", "tm1", "tm25"}
#: far slower than the rest, and far from the targets: measured in the first round only, one value
ONCE = {"tm1", "tm25"}
#: callgrind configurations: the rate sweep (which contains the default rate), exact, competitors
CG_CONFIGS = ["none"] + [f"hp:{r}" for r in profilers.RATES] + [
    "hp:1", "tm1", "tm25", "memray", "memray_py", "mprofile"]
#: callgrind runs about 50x slower than native: a run predicted above this many instructions
#: (tracemalloc on a benchmark with long iterations) is skipped and reported so
CG_MAX_INSTR = 5e9
#: rough slowdowns, to predict the cost of a run from the no-profiler one
CG_PREDICT = {"tm1": 15, "tm25": 60, "hp:1": 4, "memray": 5, "memray_py": 6, "mprofile": 1.3}
#: configurations run on the CALLGRIND_HEAVY benchmarks (the rate sweep uses the others): the
#: default rate (heapprof_nb._api.DEFAULT_RATE), exact mode and the competitors
CG_HEAVY_CONFIGS = {profilers.DEFAULT_CONFIG, "hp:1", "tm1", "tm25", "memray", "memray_py", "mprofile"}


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = REPO + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.pop("HEAPPROF_NB_SEED", None)
    e["PYTHONHASHSEED"] = "0"  # the same dict/set layouts in every process: repeatable counts
    return e


def run_worker(args: list[str], prefix: list[str] | None = None, timeout: float = 900) -> dict[str, Any]:
    cmd = (prefix or []) + [sys.executable, WORKER, *args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "wall": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            out = json.loads(line[7:])
            out["wall"] = wall
            out["stderr"] = proc.stderr[-4000:]
            return out
    tail = (proc.stderr or proc.stdout)[-1500:]
    return {"error": f"exit {proc.returncode}: {tail.strip()}", "wall": wall}


def calibrate(benches: list[str], target: float) -> dict[str, dict[str, Any]]:
    cal = {}
    for b in benches:
        r = run_worker([b, "none", "--calibrate", str(target)])
        if "error" in r:
            raise SystemExit(f"calibration of {b} failed: {r['error']}")
        cal[b] = {"loops": r["loops"], "per_loop": r["seconds"] / r["loops"]}
        print(f"  calibrated {b}: {r['loops']} loops, {r['seconds'] / r['loops'] * 1e3:.2f} ms/loop",
              flush=True)
    return cal


def engine_id() -> dict[str, str]:
    """Which build of the engine was measured: the extension's hash and the tree's commit."""
    import hashlib

    so = next((os.path.join(REPO, "heapprof_nb", f) for f in sorted(os.listdir(os.path.join(REPO, "heapprof_nb")))
               if f.startswith("_native") and f.endswith(".so")), None)
    digest = hashlib.sha256(open(so, "rb").read()).hexdigest()[:12] if so else "missing"
    head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "native"],
                           capture_output=True, text=True).stdout.strip()
    return {"so_sha256": digest, "commit": head, "native_dirty": bool(dirty)}


def unavailable() -> dict[str, str]:
    out = {}
    for c in ("memray", "mprofile"):
        why = profilers.available(c)
        if why:
            out[c] = why
    return out


def cmd_wall(a: argparse.Namespace) -> None:
    benches = a.benches or (suite.QUICK if a.quick else suite.ALL)
    rounds = a.rounds or (1 if a.quick else 3)
    target = 0.03 if a.quick else 0.05
    missing = unavailable()
    configs = [c for c in profilers.WALL_CONFIGS if c not in missing]
    out = a.out or os.path.join(RAW, "wall.json")
    print(f"wall: {len(benches)} benchmarks x {len(configs) + 1} runs x {rounds} rounds", flush=True)
    cal = calibrate(benches, target)
    data: dict[str, Any] = {"started": time.time(), "quick": a.quick, "rounds": rounds,
                            "target_s": target, "calibration": cal, "configs": configs,
                            "unavailable": missing, "runs": [], "load": [], "engine": engine_id()}
    workdir = tempfile.mkdtemp(prefix="hpbench-")
    order = ["none", *configs[1:], "none~"]
    for r in range(rounds):
        for i, b in enumerate(benches):
            k = (r * 3 + i) % len(order)
            for c in order[k:] + order[:k]:
                config = "none" if c == "none~" else c
                if config in ONCE and r > 0:
                    continue
                loops = cal[b]["loops"]
                values = "1" if config in ONCE else "2" if config in SLOW else "3"
                warmups = "0" if config in ONCE else "1"
                res = run_worker([b, config, "--loops", str(loops), "--values", values,
                                  "--warmups", warmups, "--warmup-loops", str(max(1, loops // 2)),
                                  "--workdir", workdir])
                res.update({"bench": b, "config": c, "round": r})
                res.pop("stderr", None)
                data["runs"].append(res)
                data["load"].append(os.getloadavg()[0])
                v = min(res["values"]) * 1e3 if "values" in res else float("nan")
                print(f"  r{r} {b:22s} {c:10s} {v:9.3f} ms {res.get('error', '')[:200]}", flush=True)
                save_json(out, data)
    data["finished"] = time.time()
    data["engine_end"] = engine_id()
    save_json(out, data)


def cg_run(b: str, config: str, loops: int, outdir: str, dump_instr: bool = False) -> dict[str, Any]:
    so = cgmark()
    tag = f"{b}.{config.replace(':', '_')}"
    outfile = os.path.join(outdir, f"cg.{tag}.out")
    prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={outfile}"]
    if dump_instr:
        prefix.append("--dump-instr=yes")
    res = run_worker([b, config, "--loops", str(loops), "--values", "1", "--warmups", "1",
                      "--callgrind", so], prefix=prefix, timeout=1800)
    part = outfile + ".1"
    if "error" not in res:
        try:
            with open(part) as f:
                for line in f:
                    if line.startswith("summary:"):
                        res["instructions"] = int(line.split()[1])
                        break
        except OSError as exc:
            res["error"] = f"no callgrind dump: {exc}"
    res.update({"bench": b, "config": config, "loops": loops, "dump": part})
    res.pop("stderr", None)
    if not dump_instr:
        for p in (outfile, part):
            if os.path.exists(p):
                os.unlink(p)
    return res


def cgmark() -> str:
    so = os.path.join(HERE, ".work", "cgmark.so")
    src = os.path.join(HERE, "cgmark.c")
    if not os.path.exists(so) or os.path.getmtime(so) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(so), exist_ok=True)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, src], check=True)
    return so


def cg_loops(cal: dict[str, Any], target: float) -> int:
    return max(1, round(target / cal["per_loop"]))


def cmd_callgrind(a: argparse.Namespace) -> None:
    benches = a.benches or (suite.QUICK_CALLGRIND if a.quick else suite.CALLGRIND_SUBSET)
    missing = unavailable()
    configs = a.configs or [c for c in CG_CONFIGS if c.split(":")[0] not in missing]
    out = a.out or os.path.join(RAW, "callgrind.json")
    target = 0.006 if a.quick else 0.012  # seconds of native time per measured run
    print(f"callgrind: {len(benches)} benchmarks x {len(configs)} configurations", flush=True)
    prev = load_json(out) if a.resume else None
    cal = prev["calibration"] if prev else calibrate(benches, 0.03)
    for b in benches:
        if b not in cal:
            cal.update(calibrate([b], 0.03))
    outdir = tempfile.mkdtemp(prefix="hpcg-")
    data: dict[str, Any] = prev or {"started": time.time(), "quick": a.quick, "calibration": cal,
                                    "configs": [], "unavailable": missing, "runs": [],
                                    "engine": engine_id()}
    data["configs"] = list(dict.fromkeys(data["configs"] + configs))
    data["default_rate"] = profilers.DEFAULT_RATE
    # the limit of each configuration's skip rule (a --resume pass may raise it for some)
    limits = data.setdefault("max_instr_by_config", {})
    limits.update({c: a.max_instr for c in configs})
    data["max_instr"] = data.get("max_instr", a.max_instr)
    # on --resume: measured runs are kept; skipped ones of the configurations of this pass are
    # judged again against its --max-instr, those of the others are kept as they were
    done = {(r["bench"], r["config"]): r for r in data["runs"] if "instructions" in r}
    data["runs"] = list(done.values()) + [r for r in data["runs"]
                                          if "skipped" in r and r["config"] not in configs]
    # the no-profiler run of each benchmark first: it predicts the cost of the slow ones
    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        todo = [b for b in benches if (b, "none") not in done]
        base = {b: done[(b, "none")] for b in benches if (b, "none") in done}
        base.update(zip(todo, pool.map(
            lambda b: cg_run(b, "none", cg_loops(cal[b], target), outdir), todo)))
        for b in todo:
            r = base[b]
            data["runs"].append(r)
            print(f"  {b:22s} none       {r.get('instructions', 0) / 1e6:10.1f} M "
                  f"{r.get('error', '')[:200]}", flush=True)
        save_json(out, data)
        jobs = []
        for b in benches:
            for c in configs:
                if c == "none" or (b, c) in done:
                    continue
                if b in suite.CALLGRIND_HEAVY and c not in CG_HEAVY_CONFIGS:
                    continue
                predicted = base[b].get("instructions", 0) * CG_PREDICT.get(c, 1.2)
                if predicted > a.max_instr:
                    data["runs"].append({"bench": b, "config": c, "skipped":
                                         f"predicted {predicted / 1e9:.0f} G instructions",
                                         "limit": a.max_instr})
                    continue
                jobs.append((b, c))

        def one(job: tuple[str, str]) -> dict[str, Any]:
            b, c = job
            return cg_run(b, c, base[b]["loops"], outdir)

        for r in pool.map(one, jobs):
            data["runs"].append(r)
            print(f"  {r['bench']:22s} {r['config']:10s} {r.get('instructions', 0) / 1e6:10.1f} M "
                  f"{r.get('error', '')[:200]}", flush=True)
            save_json(out, data)
    data["finished"] = time.time()
    data["engine_end"] = engine_id()
    save_json(out, data)


# --------------------------------------------------------------------------- breakdown

#: The engine's hook functions, by role (names of both the first and the tail-calling hot path).
ALLOC_HOOKS = {"profile_malloc", "profile_calloc", "profile_realloc", "raw_malloc", "raw_calloc",
               "objmem_malloc", "objmem_calloc", "nesting_malloc", "nesting_calloc",
               "sampled_malloc", "sampled_calloc"}
FREE_HOOKS = {"profile_free", "free_maybe_sampled"}
#: inclusive costs of the slow paths: (row label, function names)
BREAKDOWN_INCL = [
    ("sampled path: hp_events_alloc (inclusive)", "hp_events_alloc"),
    ("  of which frame walk (hp_frames_walk_no_py)", "hp_frames_walk_no_py"),
    ("  of which interning lookups (hp_map_get + hp_stacktab_get + hp_stack_hash)",
     "hp_map_get|hp_stacktab_get|hp_stack_hash"),
    ("  of which line-number resolution (hp_frames_line_no_py)", "hp_frames_line_no_py"),
    ("  of which ALLOC record write (write_alloc_unlocked)", "write_alloc_unlocked"),
    ("  of which live-set insert (hp_liveset_add)", "hp_liveset_add"),
    ("  of which lock (hp_log_lock + hp_log_unlock)", "hp_log_lock|hp_log_unlock"),
    ("sampler slow path: gap draw (hp_sampler_slow, inclusive)", "hp_sampler_slow"),
    ("recorded frees: hp_events_take_live (inclusive)", "hp_events_take_live"),
    ("log flusher thread (flusher_main, inclusive)", "flusher_main"),
]


def _fn(name: str) -> tuple[str, str]:
    """'path/hp_sampler.h:objmem_malloc [obj]' -> ('hp_sampler.h', 'objmem_malloc')."""
    head = name.split(" ")[0]
    path, _, fn = head.rpartition(":")
    return os.path.basename(path), fn.split("'")[0]


def _annotate(path: str, inclusive: bool) -> list[tuple[int, str]]:
    cmd = ["callgrind_annotate", "--threshold=100", "--auto=no",
           f"--inclusive={'yes' if inclusive else 'no'}", path]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0].replace(",", "").isdigit() and "/" in parts[1]:
            name = parts[1]
            if name.startswith("("):  # drop the percentage column
                name = name.split(")", 1)[1].strip()
            rows.append((int(parts[0].replace(",", "")), name))
    return rows


def _calls(path: str) -> dict[str, int]:
    """Allocation and free calls that went through the hooks, counted as the hooks' calls into
    the allocators they wrap (the hooks end in tail calls, so they have no caller edges)."""
    cmd = ["callgrind_annotate", "--threshold=100", "--tree=calling", path]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    counts = {"alloc": 0, "free": 0}
    role: str | None = None
    for line in text.splitlines():
        s = line.strip()
        if "*  " in s:
            file, fn = _fn(s.split("*  ", 1)[1])
            role = ("alloc" if fn in ALLOC_HOOKS else "free" if fn in FREE_HOOKS else None) \
                if file.startswith("hp_") else None
        elif role and ">   " in s and "/native/" not in s and "x)" in s:
            try:
                counts[role] += int(s.rsplit("(", 1)[1].split("x)")[0].replace(",", ""))
            except ValueError:
                pass
        elif not s:
            role = None
    return counts


def breakdown_of(none_total: int, hp: dict[str, Any]) -> dict[str, Any]:
    path = hp["dump"]
    total = hp["instructions"]
    self_rows = [(c, *_fn(n)) for c, n in _annotate(path, inclusive=False) if "/native/hp_" in n]
    incl_rows = [(c, *_fn(n)) for c, n in _annotate(path, inclusive=True) if "/native/hp_" in n]
    by_fn: dict[str, dict[str, int]] = {}
    for c, file, fn in self_rows:
        by_fn.setdefault(fn, {})
        by_fn[fn][file] = by_fn[fn].get(file, 0) + c
    alloc_self = sum(sum(v.values()) for f, v in by_fn.items() if f in ALLOC_HOOKS)
    free_self = sum(sum(v.values()) for f, v in by_fn.items() if f in FREE_HOOKS)
    cats = [("allocation hooks, self (incl. inlined countdown and checks)", alloc_self),
            ("free hooks, self (incl. inlined live-set filter probe)", free_self)]
    for name, pat in BREAKDOWN_INCL:
        alts = set(pat.split("|"))
        cats.append((name, sum(c for c, _file, fn in incl_rows if fn in alts)))
    top = sorted(((sum(v.values()), fn, v) for fn, v in by_fn.items()), reverse=True)[:12]
    return {"bench": hp["bench"], "config": hp["config"], "none": none_total, "hp": total,
            "delta": total - none_total, "native_self": sum(c for c, _f, _n in self_rows),
            "categories": cats, "calls": _calls(path),
            "top_self": [[fn, tot, v] for tot, fn, v in top]}


def cmd_breakdown(a: argparse.Namespace) -> None:
    benches = a.benches or (["deepcopy"] if a.quick else
                            ["json_dumps", "deepcopy", "unpickle_pure_python", "go", "hexiom",
                             "logging"])
    out = a.out or os.path.join(RAW, "breakdown.json")
    cal = calibrate(benches, 0.03)
    outdir = tempfile.mkdtemp(prefix="hpcgi-")
    results = []
    started = time.time()

    def one(b: str) -> dict[str, Any]:
        loops = cg_loops(cal[b], 0.015)
        none = cg_run(b, "none", loops, outdir)
        hp = cg_run(b, "hp", loops, outdir, dump_instr=True)
        if "error" in none or "error" in hp:
            return {"bench": b, "error": none.get("error") or hp.get("error")}
        res = breakdown_of(none["instructions"], hp)
        os.unlink(hp["dump"])
        return res

    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for res in pool.map(one, benches):
            results.append(res)
            print(f"  {res['bench']}: delta {res.get('delta', 0) / 1e6:.2f} M", flush=True)
            save_json(out, {"runs": results, "engine": engine_id(), "rate": profilers.DEFAULT_RATE,
                       "started": started})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["wall", "callgrind", "breakdown"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--benches", nargs="*")
    ap.add_argument("--configs", nargs="*")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="parallel callgrind processes")
    ap.add_argument("--max-instr", type=float, default=CG_MAX_INSTR,
                    help="callgrind: skip a run predicted above this many instructions")
    ap.add_argument("--resume", action="store_true",
                    help="callgrind: keep the runs already in --out, run only the missing ones")
    a = ap.parse_args()
    {"wall": cmd_wall, "callgrind": cmd_callgrind, "breakdown": cmd_breakdown}[a.what](a)


if __name__ == "__main__":
    main()
