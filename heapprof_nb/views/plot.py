"""Static matplotlib pictures of a profile: memory over time, and stats mode's size histogram.

``history_figure(profile)`` draws the estimated live heap (with its one-sigma error band), the
process RSS, every notebook cell as a labelled band and the peak; the interactive view draws on
the same figure. ``size_histogram_figure(hist)`` draws allocation counts and bytes per size.
Figures are made with ``matplotlib.figure.Figure`` directly (no pyplot state, no backend
needed); ``figure_png`` turns one into PNG bytes.
"""

from __future__ import annotations

import bisect
import io
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from .._units import format_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..stats import SizeHistogram

__all__ = [
    "HistorySeries",
    "history_series",
    "draw_history",
    "history_figure",
    "size_histogram_figure",
    "figure_png",
    "byte_scale",
]

#: Colours: the heap estimate, its error band, RSS, cell bands, the peak.
HEAP_COLOR = "#1f5fa8"
RSS_COLOR = "#8c8c8c"
BAND_COLORS = ("#f2efe6", "#e6eef2")
PEAK_COLOR = "#c0392b"
SITE_COLORS = ("#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9", "#f6e8a8")


@dataclass
class HistorySeries:
    """What the history plot draws, in seconds since the profile started and bytes.

    ``cells`` are ``(t0, t1, label)`` spans of cells (``In [N]``), ``marks`` are user markers
    ``(t, label)``; ``peak`` is ``(t, bytes, error)`` or None; ``sites`` are the largest
    allocation sites as ``(label, live bytes at each time)``, drawn stacked under the total.
    """

    times: Sequence[float]
    total: Sequence[float]
    error: Sequence[float]
    rss_times: Sequence[float] = ()
    rss: Sequence[float] = ()
    cells: list[tuple[float, float, str]] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    peak: tuple[float, float, float] | None = None
    title: str = ""
    sites: list[tuple[str, list[float]]] = field(default_factory=list)


def _finite(times: Sequence[float], values: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(float(t), float(v)) for t, v in zip(times, values) if math.isfinite(v)]
    return [t for t, _ in pairs], [v for _, v in pairs]


def history_series(profile: Any, *, sites: int = 0, points: int | None = None) -> HistorySeries:
    """What to draw of ``profile``: its history, cells, markers and peak.

    ``sites`` > 0 adds the series of that many largest allocation sites (drawn stacked);
    ``points`` caps the number of points (default: every digest bucket).
    """
    hist = profile.history(points, sites=4 * sites)
    times = [float(t) for t in hist.times]
    rss_times, rss = _finite(times, hist.rss)
    marks = [(float(m.time), m.label) for m in hist.markers if m.kind == 0]
    peak: tuple[float, float, float] | None = None
    t_peak, b_peak = profile.peak()
    if b_peak > 0:
        i = min(bisect.bisect_left(times, t_peak), len(times) - 1) if times else -1
        err = float(hist.error[i]) if i >= 0 else 0.0
        peak = (float(t_peak), float(b_peak), err)
    by_site = _top_sites(hist.by_site, sites)
    return HistorySeries(
        times=times,
        total=[float(v) for v in hist.total],
        error=[float(v) for v in hist.error],
        rss_times=rss_times,
        rss=rss,
        cells=list(profile.cells()),
        marks=marks,
        peak=peak,
        title=os.path.basename(str(getattr(profile, "path", "") or "")),
        sites=by_site,
    )


def _top_sites(by_stack: Any, n: int) -> list[tuple[str, list[float]]]:
    """The ``n`` largest allocation sites (the allocating frame, over all stacks through it)."""
    sums: dict[str, list[float]] = {}
    for stack, values in by_stack.items():
        label = _site_label(stack[0]) if stack else "<no Python frame>"
        acc = sums.get(label)
        if acc is None:
            sums[label] = [float(v) for v in values]
        else:
            for i, v in enumerate(values):
                acc[i] += float(v)
    ranked = sorted(sums.items(), key=lambda kv: -max(kv[1], default=0.0))[:n]
    return [(label, values) for label, values in ranked]


def _site_label(frame: Any, limit: int = 52) -> str:
    """A legend entry: ``function (file:line)`` with the file's base name, or ``In [N], line L``;
    a long function name is shortened so the location always shows."""
    if getattr(frame, "cell", None) is not None:
        return str(frame.label)
    where = f"({os.path.basename(str(frame.filename)) or frame.filename}:{frame.line})"
    name = str(frame.function)
    room = max(8, limit - len(where) - 1)
    if len(name) > room:
        name = name[: room - 1] + "…"
    return f"{name} {where}"


def byte_scale(peak: float) -> tuple[float, str]:
    """A divisor and unit name so that ``peak`` reads as a number below 1024."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if peak >= size:
            return float(size), unit
    return 1.0, "B"


def history_figure(profile: Any, *, width: float = 9.0, height: float = 3.6,
                   sites: int = 0, points: int | None = None) -> Figure:
    """Memory over time: live heap estimate ± one sigma, RSS, cells as bands, the peak marked.

    ``sites`` > 0 also stacks that many largest allocation sites under the total; ``points``
    caps the number of points drawn.
    """
    return draw_history(history_series(profile, sites=sites, points=points), width=width,
                        height=height)


def draw_history(series: HistorySeries, *, width: float = 9.0, height: float = 3.6,
                 ax: Axes | None = None) -> Figure:
    """Draw ``series`` on a new figure (or on ``ax``); returns the figure."""
    fig, ax = _figure_and_axes(ax, width, height)
    top = max([0.0, *series.total, *series.rss,
               *(t + e for t, e in zip(series.total, series.error))])
    scale, unit = byte_scale(top)
    t_end = max([0.0, *series.times, *series.rss_times, *(c[1] for c in series.cells)])

    span = t_end if t_end > 0 else 1.0
    for i, (t0, t1, label) in enumerate(series.cells):
        ax.axvspan(t0, t1, color=BAND_COLORS[i % 2], zorder=0, lw=0)
        if (t1 - t0) / span * width < 0.45:  # too narrow for its label (inches)
            continue
        ax.annotate(label, xy=((t0 + t1) / 2, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(0, -2), textcoords="offset points", ha="center", va="top",
                    fontsize=8, color="#555555", clip_on=True)
    if series.rss:
        ax.plot(series.rss_times, [v / scale for v in series.rss], color=RSS_COLOR, lw=1.0,
                label="process RSS", zorder=2)
    if series.times and series.sites:
        ax.stackplot(series.times, *[[v / scale for v in values] for _, values in series.sites],
                     labels=[label for label, _ in series.sites], colors=SITE_COLORS,
                     alpha=0.55, lw=0, zorder=2)
    if series.times:
        total = [v / scale for v in series.total]
        lo = [max(0.0, (v - e)) / scale for v, e in zip(series.total, series.error)]
        hi = [(v + e) / scale for v, e in zip(series.total, series.error)]
        ax.fill_between(series.times, lo, hi, color=HEAP_COLOR, alpha=0.2, lw=0, zorder=3,
                        label="± one sigma")
        ax.plot(series.times, total, color=HEAP_COLOR, lw=1.6, label="live heap (estimated)",
                zorder=4)
    for t, label in series.marks:
        ax.axvline(t, color="#777777", lw=0.8, ls=":", zorder=2)
        ax.annotate(label, xy=(t, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                    fontsize=7, color="#555555", ha="right", va="bottom")
    if series.peak is not None:
        t, b, e = series.peak
        ax.errorbar([t], [b / scale], yerr=[e / scale] if e else None, fmt="o",
                    color=PEAK_COLOR, ms=5, zorder=5, capsize=3)
        text = f"peak {format_bytes(b)}" + (f" ± {format_bytes(e)}" if e else "") + f" at {t:.2f} s"
        ax.annotate(text, xy=(t, b / scale), xytext=(6, 6), textcoords="offset points",
                    color=PEAK_COLOR, fontsize=8, ha="left" if t <= 0.6 * t_end else "right")
    ax.set_xlim(0, t_end if t_end > 0 else 1.0)
    ax.set_ylim(0, (top / scale) * 1.15 if top > 0 else 1.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(unit)
    ax.set_title("Memory over time", fontsize=10, loc="left")
    if series.times or series.rss:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.grid(True, axis="y", lw=0.3, alpha=0.5)
    fig.tight_layout()
    return fig


def size_histogram_figure(hist: SizeHistogram, *, width: float = 9.0,
                          height: float = 3.2) -> Figure:
    """Allocations per power-of-two size bucket: count (left) and bytes (right), log scale."""
    fig, _ = _figure_and_axes(None, width, height, ncols=2)
    ax_count, ax_bytes = fig.axes
    rows = hist.rows()
    labels = [_bucket_label(high) for _, high, _, _ in rows]
    xs = list(range(len(rows)))
    ax_count.bar(xs, [c for _, _, c, _ in rows], color=HEAP_COLOR)
    ax_bytes.bar(xs, [b for _, _, _, b in rows], color="#d08c2c")
    for ax, title in ((ax_count, "allocations"), (ax_bytes, "bytes")):
        ax.set_title(f"{title} by size", fontsize=10, loc="left")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        if rows:
            ax.set_yscale("log")
        ax.set_xlabel("size up to")
        ax.grid(True, axis="y", lw=0.3, alpha=0.5)
    fig.tight_layout()
    return fig


def _bucket_label(high: int) -> str:
    return format_bytes(high).replace(".0 ", " ")


def _figure_and_axes(ax: Axes | None, width: float, height: float,
                     ncols: int = 1) -> tuple[Figure, Axes]:
    if ax is not None:
        fig = ax.figure
        assert fig is not None
        return fig, ax  # type: ignore[return-value]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes[0]


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
