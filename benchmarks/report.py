"""Turn the raw JSON of overhead.py and accuracy.py into results/*.md tables and *.png plots.

    python report.py [--raw results/raw] [--out results]

Writes overhead.md (wall time and callgrind ratios, where heapprof_nb's instructions go),
accuracy.md (errors per rate), logsize.md, summary.md (headline figures, targets, the
recommended default rate) and the plots overhead_vs_accuracy.png, overhead_wall.png and
accuracy_by_rate.png. Missing inputs are skipped with a note, so a partial run still reports.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import profilers  # noqa: E402
from rawjson import load_json  # noqa: E402

TARGET_GEOMEAN = 1.03
TARGET_MAX = 1.10
TARGET_PEAK = 0.05
TARGET_SHARE_PP = 2.0
DIGEST_LINK = "[digest.md](digest.md) (bench_digest.py, maintained separately)"


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x and x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def fmt(x: float | None, nd: int = 2, suffix: str = "x") -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{nd}f}{suffix}"


def default_rate() -> int:
    """heapprof_nb._api.DEFAULT_RATE (through profilers.py): the harness has no rate of its own."""
    return profilers.default_rate()


def hp_rate(d: dict[str, Any] | None) -> int | None:
    """The rate the ``hp`` runs of a wall or breakdown step recorded (the default when they ran)."""
    if not d:
        return None
    if d.get("rate"):
        return int(d["rate"])
    rates = {r["info"]["rate"] for r in d.get("runs", [])
             if r.get("config") == "hp" and (r.get("info") or {}).get("rate")}
    return rates.pop() if len(rates) == 1 else None


# --------------------------------------------------------------------------- wall time


def n_rounds(wall: dict[str, Any]) -> int:
    """Rounds with data (a run stopped early has fewer than it planned)."""
    return 1 + max((r.get("round", 0) for r in wall["runs"]), default=0)


def wall_tables(wall: dict[str, Any]) -> tuple[str, dict[str, dict[str, float]]]:
    runs = [r for r in wall["runs"] if "values" in r]
    errors = [r for r in wall["runs"] if "error" in r]
    benches = list(dict.fromkeys(r["bench"] for r in wall["runs"]))
    configs = [c for c in wall["configs"] if c != "none"]
    best: dict[tuple[str, str], float] = {}
    per_round: dict[tuple[str, str, int], float] = {}
    for r in runs:
        key = (r["bench"], r["config"])
        v = min(r["values"])
        best[key] = min(best.get(key, v), v)
        per_round[(r["bench"], r["config"], r["round"])] = v
    ratios: dict[str, dict[str, float]] = {c: {} for c in configs + ["none~"]}
    spread: dict[tuple[str, str], tuple[float, float]] = {}
    for b in benches:
        for c in configs + ["none~"]:
            rr = [per_round[(b, c, k)] / per_round[(b, "none", k)]
                  for k in range(n_rounds(wall))
                  if (b, c, k) in per_round and (b, "none", k) in per_round]
            if rr:
                ratios[c][b] = statistics.median(rr)
                spread[(b, c)] = (min(rr), max(rr))
    cols = configs
    lines = [
        "| benchmark | ms/iter (none) | " + " | ".join(profilers.label(c, hp_rate(wall)) for c in cols)
        + " | A/A (none vs none) |",
        "|---|---:|" + "---:|" * (len(cols) + 1),
    ]
    for b in benches:
        base = best.get((b, "none"))
        row = [b, f"{base * 1e3:.2f}" if base else "n/a"]
        for c in cols + ["none~"]:
            x = ratios[c].get(b)
            cell = fmt(x)
            if (b, c) in spread and spread[(b, c)][0] != spread[(b, c)][1]:
                lo, hi = spread[(b, c)]
                cell += f" <sub>({lo:.2f}–{hi:.2f})</sub>"
            row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| **geometric mean** | | " + " | ".join(
        f"**{fmt(geomean(list(ratios[c].values())))}**" for c in cols + ["none~"]) + " |")
    lines.append("| **max** | | " + " | ".join(
        fmt(max(ratios[c].values()) if ratios[c] else None) for c in cols + ["none~"]) + " |")
    text = "\n".join(lines)
    if errors:
        text += "\n\nFailed runs:\n\n" + "\n".join(
            f"- {r['bench']} / {r['config']} (round {r['round']}): `{r['error'][:300]}`" for r in errors)
    aa = [per_round[(b, "none~", k)] / per_round[(b, "none", k)] for b in benches
          for k in range(n_rounds(wall)) if (b, "none~", k) in per_round and (b, "none", k) in per_round]
    ratios["_aa_all"] = {str(i): x for i, x in enumerate(aa)}
    return text, ratios


# --------------------------------------------------------------------------- callgrind


def cg_tables(cg: dict[str, Any]) -> tuple[str, dict[str, dict[str, float]], list[str]]:
    instr: dict[tuple[str, str], int] = {}
    skipped: dict[tuple[str, str], str] = {}
    failed: list[str] = []
    errored: set[tuple[str, str]] = set()
    for r in cg["runs"]:
        if "instructions" in r:
            instr[(r["bench"], r["config"])] = r["instructions"]
        elif "skipped" in r:
            skipped[(r["bench"], r["config"])] = r["skipped"]
        elif "error" in r:
            errored.add((r["bench"], r["config"]))
            failed.append(f"- {r['bench']} / {r['config']}: `{r['error'][:300]}`")
    benches = list(dict.fromkeys(r["bench"] for r in cg["runs"]))
    configs = [c for c in cg["configs"] if c != "none"]
    ratios: dict[str, dict[str, float]] = {c: {} for c in configs}
    lines = ["| benchmark | M instr (none) | " + " | ".join(profilers.label(c) for c in configs) + " |",
             "|---|---:|" + "---:|" * len(configs)]
    for b in benches:
        base = instr.get((b, "none"))
        row = [b, f"{base / 1e6:.0f}" if base else "n/a"]
        for c in configs:
            if base and (b, c) in instr:
                ratios[c][b] = instr[(b, c)] / base
                row.append(fmt(ratios[c][b], 3))
            elif (b, c) in skipped:
                row.append("skipped")
            elif (b, c) in errored:
                row.append("failed")
            else:
                row.append("–")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| **geometric mean** | | " + " | ".join(
        f"**{fmt(geomean(list(ratios[c].values())), 3)}**" for c in configs) + " |")
    lines.append("| **max** | | " + " | ".join(
        fmt(max(ratios[c].values()) if ratios[c] else None, 3) for c in configs) + " |")
    dflt = cg.get("default_rate") or default_rate()
    notes = ["Benchmarks whose single iteration is long (richards, go, nbody, float) are run "
             f"only with the default rate ({profilers.human_rate(dflt)}), exact mode and the "
             "competitors (–: not run); the rate sweep uses the others, and its geometric means "
             "in summary.md compare the same benchmarks. The geometric means and maxima here are "
             "over the benchmarks each column measured: see the count in summary.md."]
    if skipped:
        base = cg.get("max_instr", 5e9)
        limits = {c: v for c, v in (cg.get("max_instr_by_config") or {}).items() if c != "none"}
        final = set(limits.values()) or {base}
        if len(final) == 1:
            limit = f"predicted above {final.pop() / 1e9:.0f} G instructions"
            if limit != f"predicted above {base / 1e9:.0f} G instructions":
                limit += (f"; the first pass used {base / 1e9:.0f} G, a second pass (`--resume "
                          "--max-instr`) ran what the higher limit admits")
        else:
            limit = "predicted above the limit: " + ", ".join(
                f"{profilers.label(c)} {v / 1e9:.0f} G" for c, v in limits.items())
        notes.append(f"Skipped ({limit}; too slow under callgrind, which runs about 50x slower "
                     "than native; the prediction multiplies the no-profiler count by a rough "
                     "slowdown per tool, `CG_PREDICT` in overhead.py): "
                     + ", ".join(f"{b}/{profilers.label(c)} ({why})" for (b, c), why in skipped.items()))
    if failed:
        notes.append("Failed:\n\n" + "\n".join(failed))
    return "\n".join(lines), ratios, notes


def breakdown_table(bd: dict[str, Any]) -> str:
    runs = [r for r in bd["runs"] if "categories" in r]
    if not runs:
        return "(no breakdown data)"
    names = [n for n, _ in runs[0]["categories"]]
    rate = hp_rate(bd)
    head = (f"| where (heapprof_nb at {profilers.human_rate(rate)}, the default when measured) | "
            if rate else "| where (heapprof_nb at the default rate) | ") + " | ".join(r["bench"] for r in runs) + " |"
    lines = [head, "|---|" + "---:|" * len(runs)]
    lines.append("| extra instructions vs no profiler (M) | " + " | ".join(
        f"{r['delta'] / 1e6:.2f} ({(r['hp'] / r['none'] - 1) * 100:.1f} %)" for r in runs) + " |")
    lines.append("| self instructions in _native (M) | " + " | ".join(
        f"{r['native_self'] / 1e6:.2f}" for r in runs) + " |")
    for i, n in enumerate(names):
        cells = []
        for r in runs:
            v = r["categories"][i][1]
            cells.append(f"{v / 1e6:.3f} ({v / r['delta'] * 100:.0f} %)" if r["delta"] > 0 else f"{v / 1e6:.3f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines.append("| hook calls: allocations / frees (thousands) | " + " | ".join(
        f"{r['calls']['alloc'] / 1e3:.0f} / {r['calls']['free'] / 1e3:.0f}" for r in runs) + " |")
    lines.append("| self instructions per allocation call (allocation hooks) | " + " | ".join(
        f"{r['categories'][0][1] / r['calls']['alloc']:.1f}" if r["calls"]["alloc"] else "n/a"
        for r in runs) + " |")
    lines.append("| self instructions per free call (free hooks) | " + " | ".join(
        f"{r['categories'][1][1] / r['calls']['free']:.1f}" if r["calls"]["free"] else "n/a"
        for r in runs) + " |")
    # the engine's functions with the most self cost, over all benchmarks of the breakdown
    agg: dict[str, int] = {}
    files: dict[str, dict[str, int]] = {}
    for r in runs:
        for fn, tot, by_file in r.get("top_self", []):
            agg[fn] = agg.get(fn, 0) + tot
            for f, c in by_file.items():
                files.setdefault(fn, {})
                files[fn][f] = files[fn].get(f, 0) + c
    if agg:
        total = sum(r["delta"] for r in runs)
        lines += ["", "Engine functions by self cost, summed over the benchmarks above (inlined code "
                  "by the file it comes from):", "",
                  "| function | self instructions (M) | share of all extra instructions | by file |",
                  "|---|---:|---:|---|"]
        for fn, tot in sorted(agg.items(), key=lambda kv: -kv[1])[:12]:
            parts = ", ".join(f"{f} {c / 1e6:.2f}" for f, c in sorted(files[fn].items(), key=lambda kv: -kv[1]))
            lines.append(f"| `{fn}` | {tot / 1e6:.2f} | {tot / total * 100:.0f} % | {parts} |")
    return "\n".join(lines)


def sweep_geomeans(cg_ratios: dict[str, dict[str, float]], rates: list[int]) -> dict[int, tuple[float, float]]:
    """rate -> (geomean, max) over the benchmarks measured at every rate of the sweep."""
    cols = [cg_ratios.get(f"hp:{r}") or {} for r in rates]
    common = set.intersection(*(set(c) for c in cols)) if cols else set()
    return {r: (geomean([c[b] for b in common]), max((c[b] for b in common), default=float("nan")))
            for r, c in zip(rates, cols)}


# --------------------------------------------------------------------------- accuracy


def acc_summary(acc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """rate -> figures over all workloads and seeds."""
    out: dict[int, dict[str, Any]] = {}
    for w in acc["workloads"]:
        for r in w.get("runs", []):
            d = out.setdefault(r["rate"], {"peak": [], "share": [], "found": {}, "by": {}})
            d["peak"].append(abs(r["peak_err"]))
            if "share_err_max_pp" in r:
                d["share"].append(r["share_err_max_pp"])
            if "found" in r:
                d["found"].setdefault(w["workload"], []).append(r["found"])
            d["by"].setdefault(w["workload"], []).append(r)
    return out


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def accuracy_tables(acc: dict[str, Any]) -> str:
    summ = acc_summary(acc)
    rates = sorted(summ)
    wl = [w["workload"] for w in acc["workloads"] if "runs" in w]
    out = []
    out.append("### Peak of the live heap: |estimate / truth - 1|, mean and max over seeds\n")
    out.append("Truth: tracemalloc's traced peak (exact). Exact mode (rate 1) checks that the hooks "
               "see the same allocations as tracemalloc.\n")
    out.append("| rate | " + " | ".join(wl) + " | all: mean | all: p90 | all: max |")
    out.append("|---|" + "---:|" * (len(wl) + 3))
    for rate in rates:
        row = [profilers.human_rate(rate)]
        for w in wl:
            rs = [abs(r["peak_err"]) * 100 for r in summ[rate]["by"].get(w, [])]
            row.append(f"{statistics.mean(rs):.2f} % / {max(rs):.2f} %" if rs else "")
        p = [x * 100 for x in summ[rate]["peak"]]
        row += [f"{statistics.mean(p):.2f} %", f"{pct(p, 0.9):.2f} %", f"**{max(p):.2f} %**"]
        out.append("| " + " | ".join(row) + " |")
    out.append("\n### Top-10 sites' shares at the peak mark: max |estimated share - true share| "
               "(percentage points), mean and max over seeds\n")
    out.append("Truth: tracemalloc's per-line statistics (`statistics('lineno')`) at the same mark.\n")
    out.append("| rate | " + " | ".join(wl) + " | all: mean | all: p90 | all: max |")
    out.append("|---|" + "---:|" * (len(wl) + 3))
    for rate in rates:
        row = [profilers.human_rate(rate)]
        for w in wl:
            rs = [r["share_err_max_pp"] for r in summ[rate]["by"].get(w, []) if "share_err_max_pp" in r]
            row.append(f"{statistics.mean(rs):.2f} / {max(rs):.2f}" if rs else "")
        s = summ[rate]["share"]
        row += [f"{statistics.mean(s):.2f}", f"{pct(s, 0.9):.2f}", f"**{max(s):.2f}**"]
        out.append("| " + " | ".join(row) + " |")
    out.append("\n### Leak and spike found at the right site (runs that found it / runs)\n")
    out.append("Leak: the top growth site between the `leak_start` and `leak_end` marks is the line "
               "of `_leak_step`. Spike: the estimated peak falls between `spike_start` and "
               "`spike_end` and its top site is the line of `_spike_burst`.\n")
    out.append("| rate | leak | spike | leak growth: estimate / truth |")
    out.append("|---|---:|---:|---:|")
    for rate in rates:
        f = summ[rate]["found"]
        lk = summ[rate]["by"].get("leak", [])
        g = [r["leak_growth_est"] / r["leak_growth_true"] for r in lk if r.get("leak_growth_true")]
        out.append(f"| {profilers.human_rate(rate)} | "
                   f"{sum(f.get('leak', []))}/{len(f.get('leak', []))} | "
                   f"{sum(f.get('spike', []))}/{len(f.get('spike', []))} | "
                   + (f"{min(g):.3f} – {max(g):.3f}" if g else "") + " |")
    out.append("\n### Workloads\n")
    out.append("| workload | true peak (MiB) | what it is |")
    out.append("|---|---:|---|")
    import workloads

    for w in acc["workloads"]:
        if "runs" in w:
            doc = (workloads.WORKLOADS[w["workload"]].__doc__ or "").strip().splitlines()[0]
            out.append(f"| {w['workload']} | {w['truth_peak'] / 2**20:.1f} | {doc} |")
        else:
            out.append(f"| {w['workload']} | failed | `{w.get('error', '')[-300:]}` |")
    return "\n".join(out)


# --------------------------------------------------------------------------- log size


def logsize_tables(wall: dict[str, Any] | None, acc: dict[str, Any] | None) -> str:
    out = []
    if wall:
        rate = hp_rate(wall)
        out.append(f"### pyperformance benchmarks, {profilers.label('hp', rate)}\n"
                   if rate else "### pyperformance benchmarks, heapprof_nb at the default rate\n")
        out.append("Events are sampled ALLOCs plus the FREEs of sampled blocks; bytes per event "
                   "counts the whole file (header, STRING/FRAME/STACK definitions, RSS ticks, "
                   "trailer) over those events. MB/min uses the time the profiler ran (warm-up "
                   "and timed values), so it is the rate of log growth on that workload.\n")
        out.append("| benchmark | events | log bytes | bytes/event | events/s | MB/min |")
        out.append("|---|---:|---:|---:|---:|---:|")
        per: dict[str, list[tuple[int, int, float]]] = {}
        for r in wall["runs"]:
            if r.get("config") == "hp" and "info" in r and r["info"].get("log_bytes"):
                i = r["info"]
                ev = i.get("samples", 0) + i.get("frees_recorded", 0)
                per.setdefault(r["bench"], []).append((ev, i["log_bytes"], r["elapsed"]))
        mbmin = []
        for b, xs in per.items():
            ev = sum(x[0] for x in xs)
            by = sum(x[1] for x in xs)
            t = sum(x[2] for x in xs)
            mbmin.append(by / t * 60 / 1e6)
            out.append(f"| {b} | {ev} | {by} | {by / max(ev, 1):.1f} | {ev / t:,.0f} | {by / t * 60 / 1e6:.2f} |")
        if mbmin:
            out.append(f"\nMedian over the benchmarks: **{statistics.median(mbmin):.2f} MB/min** "
                       f"(max {max(mbmin):.2f}).")
        exact = {}
        for r in wall["runs"]:
            if r.get("config") == "hp:1" and "info" in r and r["info"].get("log_bytes"):
                i = r["info"]
                ev = i.get("samples", 0) + i.get("frees_recorded", 0)
                e = exact.setdefault(r["bench"], [0, 0, 0.0])
                e[0] += ev
                e[1] += i["log_bytes"]
                e[2] += r["elapsed"]
        if exact:
            out.append("\nExact mode (rate 1) on the same benchmarks, for scale: "
                       + ", ".join(f"{b} {v[1] / max(v[0], 1):.1f} B/event, {v[1] / v[2] * 60 / 1e9:.1f} GB/min"
                                   for b, v in exact.items()) + ".")
        memray = {}
        for r in wall["runs"]:
            if r.get("config") in ("memray", "memray_py") and "info" in r and r["info"].get("log_bytes"):
                m = memray.setdefault((r["bench"], r["config"]), [0, 0.0])
                m[0] += r["info"]["log_bytes"]
                m[1] += r["elapsed"]
        if memray:
            vals = {}
            for (b, c), (by, t) in memray.items():
                vals.setdefault(c, []).append(by / t * 60 / 1e6)
            out.append("\nFor comparison, memray's capture file grows at a median of "
                       + ", ".join(f"{statistics.median(v):.1f} MB/min ({profilers.label(c)})"
                                   for c, v in vals.items()) + " on the same runs.")
    if acc:
        out.append("\n### Accuracy workloads, by rate (all workloads and seeds together)\n")
        out.append("| rate | events per run (median) | bytes/event | log KiB per run (median) | MB/min |")
        out.append("|---|---:|---:|---:|---:|")
        by: dict[int, list[dict[str, Any]]] = {}
        for w in acc["workloads"]:
            for r in w.get("runs", []):
                by.setdefault(r["rate"], []).append(r)
        for rate in sorted(by):
            rs = by[rate]
            ev = sum(r["events"] for r in rs)
            b = sum(r["log_bytes"] for r in rs)
            t = sum(r["duration_s"] for r in rs)
            out.append(f"| {profilers.human_rate(rate)} | {statistics.median(r['events'] for r in rs):,.0f} | "
                       f"{b / max(ev, 1):.1f} | {statistics.median(r['log_bytes'] for r in rs) / 1024:,.0f} | "
                       f"{b / t * 60 / 1e6:,.1f} |")
        out.append("\n(The accuracy workloads allocate hundreds of MB in well under a second, "
                   "far faster than a typical notebook cell: their MB/min is an upper bound.)")
    out.append(f"\nDigest speed: {DIGEST_LINK}.")
    return "\n".join(out)


# --------------------------------------------------------------------------- plots


def plots(out_dir: str, wall_ratios: dict[str, dict[str, float]] | None,
          cg_ratios: dict[str, dict[str, float]] | None, acc: dict[str, Any] | None,
          default: int, hp_rate_wall: int | None = None) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import ScalarFormatter
    except Exception as exc:  # pragma: no cover
        return [f"(plots skipped: {exc})"]
    made = []
    if cg_ratios and acc:
        summ = acc_summary(acc)
        rates = [r for r in profilers.RATES if cg_ratios.get(f"hp:{r}") and r in summ]
        if rates:
            fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
            sw = sweep_geomeans(cg_ratios, rates)
            ov = [(sw[r][0] - 1) * 100 for r in rates]
            ovmax = [(sw[r][1] - 1) * 100 for r in rates]
            for ax, key, lab, target in (
                    (axes[0], "peak", "peak error, p90 over workloads x seeds (%)", TARGET_PEAK * 100),
                    (axes[1], "share", "top-10 share error, p90 (percentage points)", TARGET_SHARE_PP)):
                vals = [pct([x * (100 if key == "peak" else 1) for x in summ[r][key]], 0.9) for r in rates]
                ax.plot(ov, vals, "o-", color="tab:blue", label="geomean overhead")
                ax.plot(ovmax, vals, "s--", color="tab:gray", alpha=0.6, label="max overhead")
                for r, x, y in zip(rates, ov, vals):
                    ax.annotate(profilers.human_rate(r), (x, y), textcoords="offset points",
                                xytext=(6, 4), fontsize=9,
                                fontweight="bold" if r == default else "normal")
                    if r == default:
                        ax.plot([x], [y], "*", ms=16, color="tab:red", label=f"default ({profilers.human_rate(r)})")
                ax.axhline(target, color="tab:red", lw=0.8, ls=":", label="accuracy target")
                ax.axvline((TARGET_GEOMEAN - 1) * 100, color="tab:green", lw=0.8, ls=":",
                           label="geomean target (3 %)")
                ax.set_xlabel("overhead, callgrind instructions vs no profiler (%)")
                ax.set_ylabel(lab)
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(ScalarFormatter())
                ax.yaxis.set_minor_formatter(ScalarFormatter())
                ax.tick_params(axis="y", which="minor", labelsize=7)
                ax.grid(alpha=0.3)
                ax.legend(fontsize=8)
            fig.suptitle("heapprof_nb: overhead against accuracy as the sampling rate varies")
            fig.tight_layout()
            path = os.path.join(out_dir, "overhead_vs_accuracy.png")
            fig.savefig(path, dpi=110)
            plt.close(fig)
            made.append(path)
        # accuracy by rate, per workload
        rates = sorted(summ)
        wl = sorted({w for r in rates for w in summ[r]["by"]})
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for w in wl:
            xs = [r for r in rates if w in summ[r]["by"] and r > 1]
            ax.plot(xs, [max(abs(x["peak_err"]) * 100 for x in summ[r]["by"][w]) for r in xs], "o-", label=w)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.set_xticks(sorted({r for r in rates if r > 1}))
        ax.set_xticklabels([profilers.human_rate(r) for r in sorted({r for r in rates if r > 1})], fontsize=8)
        ax.axhline(TARGET_PEAK * 100, color="tab:red", ls=":", lw=0.8, label="5 % target")
        ax.axvline(default, color="gray", ls="--", lw=0.8)
        ax.set_xlabel("sampling rate R (bytes)")
        ax.set_ylabel("worst peak error over seeds (%)")
        ax.set_title("Peak estimate error by rate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(out_dir, "accuracy_by_rate.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    if wall_ratios:
        cfgs = [c for c in wall_ratios if c != "none~" and wall_ratios[c]]
        benches = sorted({b for c in cfgs for b in wall_ratios[c]})
        fig, ax = plt.subplots(figsize=(12, 5))
        width = 0.8 / max(len(cfgs), 1)
        for k, c in enumerate(cfgs):
            ax.bar([i + k * width for i in range(len(benches))],
                   [wall_ratios[c].get(b, float("nan")) for b in benches], width, label=profilers.label(c, hp_rate_wall))
        ax.set_yscale("log")
        ax.axhline(1.0, color="black", lw=0.6)
        ax.axhline(TARGET_MAX, color="tab:red", lw=0.6, ls=":")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(benches))])
        ax.set_xticklabels(benches, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel("time / time without profiler (log)")
        ax.set_title("Wall-time overhead on pyperformance benchmarks (noisy shared 2-core machine)")
        ax.legend(fontsize=7, ncol=4)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = os.path.join(out_dir, "overhead_wall.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    return made


# --------------------------------------------------------------------------- summary


def recommend(cg_ratios: dict[str, dict[str, float]] | None, acc: dict[str, Any] | None,
              default: int) -> tuple[str, list[str]]:
    if not cg_ratios or not acc:
        return "(needs both callgrind and accuracy results)", []
    summ = acc_summary(acc)
    rows = ["| rate | callgrind geomean | callgrind max | peak error p90 / max | runs with peak within 5 % | share error p90 / max (pp) | runs with shares within 2 pp | overhead targets | accuracy targets |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    ok_both = []
    rates = [r for r in profilers.RATES if cg_ratios.get(f"hp:{r}") and r in summ]
    sw = sweep_geomeans(cg_ratios, rates)
    for r in rates:
        g, m = sw[r]
        pk = [x * 100 for x in summ[r]["peak"]]
        sh = summ[r]["share"]
        over_ok = g <= TARGET_GEOMEAN and m <= TARGET_MAX
        acc_ok = max(pk) <= TARGET_PEAK * 100 and max(sh) <= TARGET_SHARE_PP
        if over_ok and acc_ok:
            ok_both.append(r)
        rows.append(f"| {profilers.human_rate(r)}{' (current default)' if r == default else ''} | "
                    f"{g:.3f}x | {m:.3f}x | {pct(pk, .9):.2f} % / {max(pk):.2f} % | "
                    f"{sum(x <= TARGET_PEAK * 100 for x in pk)}/{len(pk)} | "
                    f"{pct(sh, .9):.2f} / {max(sh):.2f} | {sum(x <= TARGET_SHARE_PP for x in sh)}/{len(sh)} | "
                    f"{'met' if over_ok else 'missed'} | "
                    f"{'met' if acc_ok else 'missed'} |")
    acc_ok = [r for r in rates if max(summ[r]["peak"]) * 100 <= TARGET_PEAK * 100
              and max(summ[r]["share"]) <= TARGET_SHARE_PP]
    text = ["\n".join(rows), ""]
    if acc_ok:
        best = max(acc_ok)
        g_best, g_def = sw[best][0], sw.get(default, (float("nan"),))[0]
        floor = sw[max(rates)][0]
        same = best == default
        text.append(
            f"**Recommended default: {profilers.human_rate(best)}**"
            + (" (the current default)" if same else "") + ", the largest rate at which every "
            f"run met both accuracy targets (peak within {TARGET_PEAK * 100:.0f} % on heaps of "
            f"50 MB or more, top-10 shares within {TARGET_SHARE_PP:.0f} pp; "
            f"{len(summ[best]['peak'])} runs over {len(summ[best]['by'])} workloads). "
            f"Its callgrind geometric mean on the rate-sweep benchmarks is {g_best:.3f}x against "
            + ("" if same else f"{g_def:.3f}x at the current default {profilers.human_rate(default)} and ")
            + f"{floor:.3f}x at "
            f"{profilers.human_rate(max(rates))}: the cost that depends on the rate (the sampled "
            f"path) is {(g_best - floor) * 100:.1f} points of it, the rest is the per-call fast path, "
            "which no rate removes.")
        if not same:
            text.append(f"\n**The current default ({profilers.human_rate(default)}) is not the "
                        "recommended one.**")
    else:
        text.append("No rate met both accuracy targets in every run.")
    return "\n".join(text), [profilers.human_rate(r) for r in ok_both]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", default=os.path.join(HERE, "results", "raw"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    wall = load_json(os.path.join(a.raw, "wall.json"))
    cg = load_json(os.path.join(a.raw, "callgrind.json"))
    bd = load_json(os.path.join(a.raw, "breakdown.json"))
    acc = load_json(os.path.join(a.raw, "accuracy.json"))
    default = default_rate()
    os.makedirs(a.out, exist_ok=True)
    machine = (f"{platform.python_implementation()} {platform.python_version()}, "
               f"{os.cpu_count()} CPUs, {platform.machine()}, generated {time.strftime('%Y-%m-%d %H:%M')}")
    quick = any(d and d.get("quick") for d in (wall, cg, acc))

    wall_text = wall_ratios = None
    aa_all: list[float] = [1.0]
    if wall:
        wall_text, wall_ratios = wall_tables(wall)
        aa_all = list(wall_ratios.pop("_aa_all").values()) or [1.0]
    cg_text = cg_ratios = None
    cg_notes: list[str] = []
    if cg:
        cg_text, cg_ratios, cg_notes = cg_tables(cg)

    ov = ["# Overhead on pyperformance benchmarks", "", f"{machine}." + (" **Quick mode.**" if quick else ""), ""]
    for what, d in (("wall time", wall), ("callgrind", cg), ("breakdown", bd)):
        if d and d.get("engine"):
            e = d["engine"]
            line = (f"Engine measured by the {what} step: `_native` sha256 {e['so_sha256']}, tree at "
                    f"{e['commit']}{' with uncommitted native/ changes' if e.get('native_dirty') else ''}")
            end = d.get("engine_end")
            if end and end.get("so_sha256") != e["so_sha256"]:
                line += f" — **the extension was rebuilt during this step** (ended at {end['so_sha256']})"
            ov.append(line + ".  ")
    ov.append("")
    if cg_text:
        ov += ["## Instructions under callgrind (the headline: deterministic)", "",
               "Ratio of instructions executed in the timed benchmark iterations (bracketed by "
               "callgrind client requests, after a warm-up, profiler already running) to the same "
               "iterations without a profiler. Threads are included (memray's and heapprof_nb's "
               "background threads).", "", cg_text, ""]
        ov += [n + "\n" for n in cg_notes]
    if bd:
        ov += [f"## Where heapprof_nb's instructions go ({profilers.human_rate(hp_rate(bd) or default)})", "",
               "From `callgrind --dump-instr=yes` and `callgrind_annotate`: self cost of the hook "
               "functions (inlined code is attributed to the header it comes from) and inclusive "
               "cost of the slow paths. Percentages are of the extra instructions.", "",
               breakdown_table(bd), ""]
    if wall_text:
        ov += ["## Wall time (noisy)", "",
               f"Each round runs every configuration of a benchmark back to back (rotated order); "
               f"a round's ratio is the best value of the configuration over the best no-profiler "
               f"value of the same round (each value {wall['target_s'] * 1e3:.0f} ms or more of "
               f"iterations). Shown: the median over {n_rounds(wall)} rounds"
               + (f" (of {wall['rounds']} planned: the run was stopped early)" if n_rounds(wall) < wall["rounds"] else "")
               + ", in small print the "
               "range. tracemalloc runs in the first round only (one value: its ratios are far "
               "from any target). The A/A column runs the no-profiler configuration a second time "
               "in the same round: it is the noise floor. The machine is a shared 2-core VM on "
               "which other people compile and run tests at the same time (1-minute load average "
               f"during the run: {min(wall['load']):.1f}–{max(wall['load']):.1f}); A/A ratios of "
               f"single rounds ranged from {min(aa_all):.2f} to {max(aa_all):.2f} (median "
               f"|A/A − 1| = {statistics.median(abs(x - 1) for x in aa_all) * 100:.1f} %), so "
               "wall-time differences of a few percent are noise here: the callgrind figures above "
               "are the ones to trust for small overheads.", "", wall_text, ""]
        if wall.get("unavailable"):
            ov += ["Not run: " + ", ".join(f"{k} ({v})" for k, v in wall["unavailable"].items()), ""]
    with open(os.path.join(a.out, "overhead.md"), "w") as f:
        f.write("\n".join(ov))

    if acc:
        with open(os.path.join(a.out, "accuracy.md"), "w") as f:
            eng = acc.get("engine") or {}
            f.write("\n".join(["# Accuracy of heapprof_nb's estimates", "",
                               f"{machine}." + (" **Quick mode.**" if quick else ""),
                               f"Engine: `_native` sha256 {eng.get('so_sha256', 'n/a')}.", "",
                               f"Rates {', '.join(profilers.human_rate(r) for r in acc['rates'])}; "
                               f"{acc['seeds']} seeds each (seeded sampling, `seed=1..{acc['seeds']}`).",
                               "", accuracy_tables(acc), ""]))
    with open(os.path.join(a.out, "logsize.md"), "w") as f:
        f.write("\n".join(["# Log size", "", f"{machine}.", "", logsize_tables(wall, acc), ""]))

    made = plots(a.out, wall_ratios, cg_ratios, acc, default, hp_rate(wall))
    rec_table, ok = recommend(cg_ratios, acc, default)
    sm = ["# Benchmarks: summary", "", f"{machine}." + (" **Quick mode.**" if quick else ""), "",
          "Details: [overhead.md](overhead.md), [accuracy.md](accuracy.md), [logsize.md](logsize.md), "
          f"digest speed: {DIGEST_LINK}. Plots: " + ", ".join(
              f"[{os.path.basename(p)}]({os.path.basename(p)})" for p in made if p.endswith(".png")), ""]
    if cg_ratios:
        hp = cg_ratios.get(f"hp:{default}") or {}
        ex = cg_ratios.get("hp:1") or {}
        tm25 = cg_ratios.get("tm25") or {}
        n_cg = len({r["bench"] for r in cg["runs"]})
        sm += ["## Targets", "",
               f"- heapprof_nb at the default rate ({profilers.human_rate(default)}), callgrind, "
               f"{len(hp)} of {n_cg} benchmarks: geometric mean "
               f"**{fmt(geomean(list(hp.values())), 3)}** (target ≤ {TARGET_GEOMEAN}), max "
               f"**{fmt(max(hp.values()) if hp else None, 3)}** (target ≤ {TARGET_MAX}).",
               f"- Exact mode below tracemalloc with 25 frames on every benchmark (callgrind): "
               + ("not measured in this run (no benchmark has both: tracemalloc 25 frames is "
                  "skipped where it is predicted too slow under callgrind)" if not any(b in tm25 for b in ex) else
                  ("**yes**" if all(ex[b] < tm25[b] for b in ex if b in tm25) else "**no**")
                  + f" ({sum(1 for b in ex if b in tm25 and ex[b] < tm25[b])}/"
                  f"{sum(1 for b in ex if b in tm25)} benchmarks measured with both).")]
        if wall_ratios:
            hw = wall_ratios.get("hp") or {}
            exw, tmw = wall_ratios.get("hp:1") or {}, wall_ratios.get("tm25") or {}
            sm += [f"- Wall time (noisy), {profilers.label('hp', hp_rate(wall))}: geomean "
                   f"{fmt(geomean(list(hw.values())), 3)}, max "
                   f"{fmt(max(hw.values()) if hw else None, 3)}; exact below tracemalloc-25 on "
                   f"{sum(1 for b in exw if b in tmw and exw[b] < tmw[b])}/{sum(1 for b in exw if b in tmw)} benchmarks."]
        sm.append("")
        # one row per configuration: what the README quotes
        skipped: dict[str, int] = {}
        for r in cg["runs"]:
            if "skipped" in r:
                skipped[r["config"]] = skipped.get(r["config"], 0) + 1
        sm += ["## Callgrind overhead by configuration", "",
               "Instructions in the timed iterations over the same iterations without a profiler "
               "(overhead.md has every benchmark). Each row is over the benchmarks that "
               "configuration measured; the rate sweep's rows compare the same "
               f"{len(set.intersection(*(set(cg_ratios.get(f'hp:{r}') or {}) for r in profilers.RATES)))} "
               "benchmarks in the next section.", "",
               "| configuration | geometric mean | max | benchmarks measured | skipped (too slow under callgrind) |",
               "|---|---:|---:|---:|---:|"]
        for c in [c for c in cg["configs"] if c != "none"]:
            xs = cg_ratios.get(c) or {}
            sm.append(f"| {profilers.label(c)} | {fmt(geomean(list(xs.values())), 3)} | "
                      f"{fmt(max(xs.values()) if xs else None, 3)} | {len(xs)}/{n_cg} | "
                      f"{skipped.get(c, 0)} |")
        sm.append("")
    sm += ["## Rate against overhead and accuracy", "",
           "Overhead: callgrind geometric mean and max over the benchmarks measured at every rate "
           "(the rate sweep). Accuracy: all workloads x seeds of accuracy.md.", "", rec_table, "",
           "Rates meeting every target: " + (", ".join(ok) if ok else "none") + ".", ""]
    sm += ["## Notes on this run", "", "Builds measured (from the raw JSON of each step):", ""]
    for what, d in (("callgrind", cg), ("breakdown", bd), ("wall time", wall), ("accuracy", acc)):
        if not d:
            sm.append(f"- {what}: no results")
            continue
        e = d.get("engine") or {}
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(d["started"])) if d.get("started") else "n/a"
        end = d.get("engine_end")
        sm.append(f"- {what}: `_native` sha256 {e.get('so_sha256', 'n/a')}, tree at "
                  f"{e.get('commit', 'n/a')}, started {when} UTC"
                  + (f" — rebuilt during the step (ended at {end['so_sha256']})"
                     if end and end.get("so_sha256") != e.get("so_sha256") else ""))
    sm.append("")
    notes = os.path.join(a.raw, "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            sm += [f.read().strip(), ""]
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write("\n".join(sm))
    print("\n".join(sm))


if __name__ == "__main__":
    main()
