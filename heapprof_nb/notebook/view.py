"""The interactive view of a profile: select a span of the time plot, see what it holds.

``ProfileView(profile)`` (also ``profile.view()``, and what ``%%heapprof`` shows) is an
ipywidgets layout:

- the time plot (:func:`heapprof_nb.views.plot.draw_history`): estimated live heap stacked by the top
  allocation sites, the total with its one-sigma band, process RSS, cells as labelled bands, the
  peak. With ipympl installed it is an interactive matplotlib canvas (created directly, no
  ``%matplotlib widget`` needed): drag a span with the mouse (a ``SpanSelector``), or click to
  select one moment. Without ipympl the plot is an image and a range slider selects the span;
- a measure: live at the end of the span, allocated in the span and kept, temporary (allocated
  and freed in the span), growth across the span. A moment ``t`` is the span ``(0, t]``: "live
  at end" is then the snapshot at ``t``;
- "Peak" selects the moment of the largest live heap, "Whole run" the span of the whole run;
- for the selection: the flame graph (:func:`heapprof_nb.views.flame.flame_html`), the flow graph
  (graphviz, laid out in a background thread when its tab is open) and the top sites;
- exports next to the profile file: flame graph HTML, collapsed stacks, speedscope JSON, pprof
  (buttons, and the ``save_*`` methods).

The flame graph is computed first and sent at once; the table, the flow graph and the redrawn
plot follow. Selections arrive from the browser only while the kernel is idle (Jupyter runs one
message at a time), so while a ``--live`` cell runs the plot updates about once a second from a
background thread (messages to the browser may come from any thread) and selecting works once
the cell has finished. A profile still being digested (``read(path, wait=False)``) shows a
progress bar and becomes usable when the digest is done, the kernel free meanwhile.

Displayed, the view also leaves a static fallback in the output: a PNG of the plot and an HTML
output with the flame graph of the whole run (live at its peak) and the top sites. The live view
hides them with a scoped ``:has()`` rule; a saved notebook, GitHub, nbviewer or an HTML export
show them instead.

Heavy modules (ipywidgets, matplotlib, ipympl) are imported when a view is built, never when
:mod:`heapprof_nb` is.
"""

from __future__ import annotations

import base64
import html
import importlib
import io
import math
import os
import threading
import time
import uuid
from typing import Any, Callable, Iterator

from .._units import format_bytes
from ..views.frames import shown
from ..views.table import sites_table
from .canvas import ipympl_canvas
from .quiet import Quiet, quietly
from . import static
from . import view_html as H

__all__ = ["ProfileView", "MEASURES", "available"]

#: measure name -> (button label, description). Names are ``Window.MEASURES``.
MEASURES: dict[str, tuple[str, str]] = {
    "live_at_end": ("live at end", "live at the end of the span"),
    "allocated_kept": ("allocated & kept", "allocated in the span and still live at its end"),
    "allocated_freed": ("temporary", "allocated and freed inside the span"),
    "growth": ("growth", "live at the end minus live at the start, per stack"),
}

SELECTION_COLOR = "#e67e22"
_CLICK_PX = 4  # a press and release closer than this (pixels) is a click, not a span
_GRAB_PX = 6  # how close to an edge of the span a press grabs that edge
_LIVE_INTERVAL = 1.0  # seconds between plot updates of a live view
_POLL = 0.1  # seconds between looks at the digest's progress

_FLAME, _FLOW, _TABLE = 0, 1, 2

def available() -> bool:
    """True when ipywidgets and matplotlib are importable (ipympl is optional)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("ipywidgets", "matplotlib"))


def _html_output(text: str, plain: str = "") -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "data": {"text/html": text, "text/plain": plain or "<heapprof_nb view>"},
        "metadata": {},
    }


class ProfileView:
    """The interactive view of a :class:`~heapprof_nb.Profile` (see the module doc).

    Options: ``measure`` (a key of :data:`MEASURES`), ``sites`` (allocation sites stacked on the
    plot), ``points`` (plot points at most), ``interactive`` (``None``: the ipympl canvas when
    ipympl is installed; ``False``: image and range slider), ``live`` (the profile's log is
    still being written: update the plot about once a second until its digest ends), ``width``
    and ``height`` of the plot in inches (100 pixels each), ``all_frames`` (show the notebook's
    and the interpreter's machinery too, which every view hides by default).

    Use it from Python as from the mouse: :meth:`select`, :meth:`select_time`,
    :meth:`select_peak`, :meth:`select_all`, the :attr:`measure` property; what it shows is in
    :attr:`snapshot`, :attr:`flame_html`, :meth:`flow_html`, :attr:`table_html`; the
    ``save_*`` methods export. :attr:`widget` is the ipywidgets layout.
    """

    def __init__(
        self,
        profile: Any,
        *,
        measure: str = "live_at_end",
        sites: int = 6,
        points: int = 800,
        interactive: bool | None = None,
        live: bool = False,
        width: float = 9.4,
        height: float = 3.4,
        all_frames: bool = False,
    ) -> None:
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
        #: Show every frame (no frame policy, see ``heapprof_nb.views.frames``) in the flame
        #: graph, the flow graph, the table and the exports.
        self.all_frames = all_frames
        with Quiet():
            self._init(profile, measure, sites, points, interactive, live, width, height)

    # -- construction --------------------------------------------------------------------------

    def _init(self, profile: Any, measure: str, sites: int, points: int,
              interactive: bool | None, live: bool, width: float, height: float) -> None:
        import ipywidgets as W
        from matplotlib.figure import Figure

        mpl = ipympl_canvas() if interactive in (None, True) else None
        self.profile = profile
        self.uid = "hpnb-view-" + uuid.uuid4().hex[:12]
        self._lock = threading.RLock()
        self._sites = sites
        self._points = points
        self._width, self._height = width, height
        self._live = live
        self._measure = measure
        self._sel: tuple[float, float] | None = None
        self._point = False
        self._key: tuple[Any, ...] | None = None
        self._snapshot: Any = None
        self._snap_cache: dict[tuple[Any, ...], Any] = {}
        self._flame_html = ""
        self._table_html = ""
        self._flow: tuple[tuple[Any, ...], str] | None = None
        self._flow_thread: threading.Thread | None = None
        self._flow_wanted: tuple[Any, Any] | None = None
        self._ready = False
        self._static_png: bytes | None = None
        self._static_ids: list[str] = []
        self._pending_static: list[tuple[Any, Any, str]] = []
        self._watch_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._syncing = False
        self._press: tuple[float, float] | None = None
        self._release_t: float | None = None
        self._clicked = False
        self._selector: Any = None
        self._mark: Any = None
        self._ax: Any = None
        self._span_patch: Any = None
        self._peak_snapshot: Any = None
        self._owns_profile = False  # a live view's own follower (follow())
        self.updates = 0  # plot redraws while live (tests and curious users)
        self.timings: dict[str, float] = {}  # of the last selection, in ms

        if interactive and mpl is None:
            raise ImportError("interactive=True needs ipympl: pip install ipympl")
        self.interactive = mpl is not None
        self._fig = Figure(figsize=(width, height), dpi=100)
        if mpl is not None:
            canvas_cls, manager_cls = mpl
            self._canvas = canvas_cls(self._fig)
            self._canvas._hpnb_lock = self._lock
            self._manager = manager_cls(self._canvas, 0)
            c = self._canvas
            c.header_visible = False
            c.footer_visible = False
            c.toolbar_visible = False
            c.resizable = False
            c.capture_scroll = False
            c.layout.width = f"{int(width * 100) + 4}px"
            c._hpnb_animated = self._animated_artists
            # connected before any SpanSelector, so these see a release before it does
            c.mpl_connect("button_press_event", self._on_press)
            c.mpl_connect("button_release_event", self._on_release)
            plot_children = [c]
            self._image = None
            self.slider = None
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(self._fig)
            self._canvas = None
            self._manager = None
            self._image = W.Image(format="png", layout=W.Layout(width=f"{int(width * 100)}px"))
            self.slider = W.FloatRangeSlider(
                value=(0.0, 0.0), min=0.0, max=1.0, step=0.001, description="span (s)",
                continuous_update=False, readout_format=".3f", disabled=True,
                layout=W.Layout(width=f"{int(width * 100)}px"),
                style={"description_width": "initial"},
            )
            self.slider.observe(quietly(self._on_slider), "value")
            plot_children = [self._image, self.slider]

        self._style = W.HTML(H.view_css(self.uid))
        self.header = W.HTML(H.message("heapprof_nb: reading the profile…"))
        self.progress = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="digesting",
                                        bar_style="info")
        self._progress_label = W.HTML()
        self._progress_box = W.HBox([self.progress, self._progress_label])
        self._plot_box = W.VBox(plot_children)
        self._plot_box.add_class("hpnb-v-plot")
        self.measure_buttons = W.ToggleButtons(
            options=[(label, name) for name, (label, _) in MEASURES.items()],
            tooltips=[desc for _, desc in MEASURES.values()],
            value=measure,
            disabled=True,
            style={"button_width": "auto"},
        )
        self.measure_buttons.observe(quietly(self._on_measure), "value")
        auto = W.Layout(width="auto")
        self.peak_button = W.Button(description="Peak", tooltip="Select the moment of the "
                                    "largest live heap", disabled=True, icon="arrow-up",
                                    layout=auto)
        self.peak_button.on_click(quietly(lambda _b: self.select_peak()))
        self.all_button = W.Button(description="Whole run", tooltip="Select the whole run",
                                   disabled=True, layout=W.Layout(width="auto"))
        self.all_button.on_click(quietly(lambda _b: self.select_all()))
        self.status = W.HTML()
        self.status.add_class("hpnb-v-status")
        self.flame_out = W.Output()
        self.flow_out = W.Output()
        self.table_out = W.Output()
        self.tabs = W.Tab(children=[self.flame_out, self.flow_out, self.table_out])
        for i, title in enumerate(("Flame graph", "Flow graph", "Top sites")):
            self.tabs.set_title(i, title)
        self.tabs.observe(quietly(self._on_tab), "selected_index")
        self.export_buttons = {
            key: W.Button(description=text, disabled=True, icon="download",
                          layout=W.Layout(width="auto"))
            for key, text in (("flame", "flame graph (HTML)"), ("collapsed", "collapsed stacks"),
                              ("speedscope", "speedscope JSON"), ("pprof", "pprof"))
        }
        savers = {"flame": self.save_flame_html, "collapsed": self.save_collapsed,
                  "speedscope": self.save_speedscope, "pprof": self.save_pprof}
        for key, button in self.export_buttons.items():
            button.on_click(quietly(self._export_handler(savers[key])))
            button.tooltip = "Write it next to the profile file"
        self.export_status = W.HTML()
        self.widget = W.VBox([
            self._style,
            self.header,
            self._progress_box,
            self._plot_box,
            W.HBox([self.measure_buttons, self.peak_button, self.all_button],
                   layout=W.Layout(flex_flow="row wrap", align_items="center")),
            self.status,
            self.tabs,
            W.HBox([W.HTML("<span class='hpnb-v-muted'>Save the selection:</span>"),
                    *self.export_buttons.values()],
                   layout=W.Layout(flex_flow="row wrap", align_items="center")),
            self.export_status,
        ])
        self.widget.add_class("heapprof-view")
        self.widget.add_class(self.uid)

        if self.profile.digest.done and not live:
            self._check_digest()
            self._become_ready()
        else:
            self._start_watch()

    @classmethod
    def prepare(cls) -> None:
        """Import what a view needs (ipywidgets, matplotlib, ipympl): ``--live`` calls it
        before the profile starts, so a run does not begin with seconds of imports."""
        with Quiet():
            import ipywidgets  # noqa: F401
            import matplotlib.figure  # noqa: F401
            import matplotlib.widgets  # noqa: F401

            from ..views import flame, plot  # noqa: F401

            ipympl_canvas()

    @classmethod
    def follow(cls, path: str, **options: Any) -> ProfileView:
        """A live view of the log at ``path`` while it is being written (``--live``): its
        digest follows the file; call :meth:`finish` when the run has stopped."""
        with Quiet():
            from ..digest.profile import read

            profile = read(path, wait=False, follow=True, cache=False)
        view = cls(profile, live=True, **options)
        view._owns_profile = True
        return view

    # -- public state --------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the profile is digested and the view accepts selections."""
        return self._ready

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the view is ready (the digest is done) and background work (the flow
        graph) has finished; returns :attr:`ready`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._watch_thread, self._flow_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self._ready

    @property
    def selection(self) -> tuple[float, float] | None:
        """The selected span ``(t0, t1)`` in seconds (``(0, t)`` for a moment ``t``)."""
        return self._sel

    @property
    def is_point(self) -> bool:
        """True when the selection is one moment (a click, the peak) rather than a span."""
        return self._point

    @property
    def measure(self) -> str:
        """The measure shown: ``live_at_end``, ``allocated_kept``, ``allocated_freed``,
        ``growth``. Setting it updates the view like the buttons do."""
        return self._measure

    @measure.setter
    def measure(self, value: str) -> None:
        if value not in MEASURES:
            raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {value!r}")
        self.measure_buttons.value = value  # the observer does the rest
        if self._measure != value:  # no observer ran (e.g. the same value set twice)
            self._set_measure(value)

    @property
    def snapshot(self) -> Any:
        """The :class:`~heapprof_nb.digest.model.Snapshot` of the selection and measure as the
        view shows it (the frame policy's hidden frames gone, unless ``all_frames``), or None
        before the view is ready."""
        return self._snapshot

    @property
    def flame_html(self) -> str:
        """The flame graph HTML shown for the selection."""
        return self._flame_html

    @property
    def table_html(self) -> str:
        """The top-sites table HTML shown for the selection."""
        if not self._table_html and self._snapshot is not None:
            self._table_html = sites_table(self._snapshot)
        return self._table_html

    def flow_html(self, timeout: float | None = None) -> str:
        """The flow graph (an inline SVG in HTML) of the selection, laid out now if it is not
        yet; a one-line message when graphviz or its ``dot`` program is missing."""
        key = self._key
        if key is None:
            return ""
        flow = self._flow
        if flow is None or flow[0] != key:
            thread = self._flow_thread
            if thread is not None and thread.is_alive():
                thread.join(timeout)
            flow = self._flow
            if flow is None or flow[0] != key:
                with Quiet():
                    text = H.flow_html(self._snapshot)
                with self._lock:
                    if self._key == key:
                        self._flow = (key, text)
                        self.flow_out.outputs = (_html_output(text, "<flow graph>"),)
                return text
        return flow[1]

    # -- selecting -----------------------------------------------------------------------------

    def select(self, t0: float, t1: float | None = None) -> None:
        """Select the span ``(t0, t1]`` (seconds from the start), or the moment ``t0`` when
        ``t1`` is None or equal to it. Values are clamped to the run."""
        self._need_ready()
        end = self.profile.duration
        a = _clamp(float(t0), end)
        if t1 is None or float(t1) == float(t0):
            self._apply(0.0, a, point=True)
            return
        b = _clamp(float(t1), end)
        if b < a:
            a, b = b, a
        self._apply(a, b, point=False)

    def select_time(self, t: float) -> None:
        """Select the moment ``t`` (what a click on the plot does)."""
        self.select(t)

    def select_peak(self) -> None:
        """Select the moment of the largest estimated live heap (the "Peak" button)."""
        self._need_ready()
        t, b = self.profile.peak()
        self.select(t if b > 0 else self.profile.duration)

    def select_all(self) -> None:
        """Select the whole run, ``(0, end]`` (the "Whole run" button)."""
        self._need_ready()
        end = self.profile.duration
        if end <= 0:
            self.select(0.0)
        else:
            self._apply(0.0, end, point=False)

    def _need_ready(self) -> None:
        if not self._ready:
            raise RuntimeError("the view is not ready: the profile is still being digested "
                               "(view.wait() blocks until it is)")

    def _set_measure(self, value: str) -> None:
        with self._lock:
            self._measure = value
            if self._ready and self._sel is not None:
                self._apply(*self._sel, point=self._point, force=True)

    def _apply(self, t0: float, t1: float, *, point: bool, force: bool = False) -> None:
        """Compute and show the selection: flame graph first (sent at once), then the status
        line, the table, the plot's marker and (when its tab is open) the flow graph."""
        with Quiet(), self._lock:
            key = (t0, t1, point, self._measure)
            if key == self._key and not force:
                return
            start = time.perf_counter()
            self._sel, self._point, self._key = (t0, t1), point, key
            snap = self._compute(t0, t1, point, self._measure)
            got = time.perf_counter()
            self._snapshot = snap
            from ..views.flame import flame_html

            self._flame_html = flame_html(snap)
            self.flame_out.outputs = (_html_output(self._flame_html, "<flame graph>"),)
            shown = time.perf_counter()
            self._table_html = ""
            self.timings = {"query_ms": (got - start) * 1e3, "flame_ms": (shown - got) * 1e3,
                            "total_ms": (shown - start) * 1e3}
            self.status.value = self._status_text(snap)
            self.table_out.outputs = (_html_output(self.table_html, "<top sites>"),)
            self._sync_controls()
            self._show_selection()
            self._flow = None
            if self.tabs.selected_index == _FLOW:
                self._request_flow()
            else:
                self.flow_out.outputs = (_html_output(
                    H.message("The flow graph is laid out when this tab is open."), ""),)

    def _compute(self, t0: float, t1: float, point: bool, measure: str) -> Any:
        key = (t0, t1, point, measure)
        snap = self._snap_cache.get(key)
        if snap is not None:
            return snap
        if point and measure == "live_at_end":
            raw = self.profile.snapshot_at(t1)
        else:
            raw = getattr(self.profile.window(t0, t1), measure)
        snap = shown(raw, self.all_frames)
        if len(self._snap_cache) >= 8:
            self._snap_cache.pop(next(iter(self._snap_cache)))
        self._snap_cache[key] = snap
        return snap

    def _status_text(self, snap: Any) -> str:
        t0, t1 = self._sel or (0.0, 0.0)
        if self._point:
            where = f"moment {t1:.3f} s"
            if self._measure != "live_at_end":
                where += f" (the span (0, {t1:.3f}] s)"
        else:
            where = f"span ({t0:.3f}, {t1:.3f}] s"
        err = snap.error
        err_text = f" ± {format_bytes(err)}" if err else ""
        return (
            f"<span class='hpnb-v-muted'>{html.escape(where)} · {html.escape(MEASURES[self._measure][1])}:"
            f"</span> <b>{html.escape(format_bytes(snap.total))}</b>{html.escape(err_text)} in "
            f"{len(snap.entries):,} stacks <span class='hpnb-v-muted'>· "
            f"{self.timings.get('total_ms', 0):.0f} ms</span>"
        )

    def _sync_controls(self) -> None:
        if self.slider is not None and self._sel is not None:
            t0, t1 = self._sel
            self._syncing = True
            try:
                self.slider.value = (t1, t1) if self._point else (t0, t1)
            finally:
                self._syncing = False

    # -- events from the widgets ---------------------------------------------------------------

    def _on_measure(self, change: dict[str, Any]) -> None:
        if change["new"] != self._measure:
            self._set_measure(change["new"])

    def _on_slider(self, change: dict[str, Any]) -> None:
        if self._syncing or not self._ready:
            return
        a, b = change["new"]
        self.select(a, b if b != a else None)

    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] == _FLOW and self._ready:
            self._request_flow()

    def _on_span(self, vmin: float, vmax: float) -> None:
        """SpanSelector's callback (the mouse released after a drag). Its extents are those of
        the last mouse move the kernel saw; the span ends where the mouse was released."""
        if not self._ready or self._ax is None or self._clicked:
            return
        a, b = vmin, vmax
        if self._press is not None and self._release_t is not None:
            pressed, released = self._press[1], self._release_t
            a, b = pressed, released
            prev = None if self._point or self._sel is None else self._sel
            grab = self._px_to_time(_GRAB_PX + 1)
            if prev is not None and abs(pressed - prev[0]) <= grab:  # an edge was dragged
                a, b = prev[1], released
            elif prev is not None and abs(pressed - prev[1]) <= grab:
                a, b = prev[0], released
        if abs(b - a) < self._px_to_time(_CLICK_PX):
            return
        self.select(min(a, b), max(a, b))

    def _on_press(self, event: Any) -> None:
        self._clicked = False
        self._release_t = None
        if event.inaxes is self._ax and event.button == 1 and event.xdata is not None:
            self._press = (event.x, float(event.xdata))
        else:
            self._press = None

    def _on_release(self, event: Any) -> None:
        """A release without moving is a click: select that moment. Otherwise remember where
        the mouse was released, for :meth:`_on_span` (called right after this)."""
        press = self._press
        if press is None or not self._ready or event.button != 1 or self._ax is None:
            return
        t = float(self._ax.transData.inverted().transform((event.x, event.y))[0])
        lo, hi = (float(v) for v in self._ax.get_xlim())
        self._release_t = min(max(t, lo), hi)
        if abs(event.x - press[0]) <= _CLICK_PX:
            self._clicked = True
            with Quiet():
                self.select_time(press[1])

    def _px_to_time(self, px: float) -> float:
        ax = self._ax
        lo, hi = ax.get_xlim()
        width = ax.get_window_extent().width or 1.0
        return float(px * (hi - lo) / width)

    def _export_handler(self, saver: Callable[[], str]) -> Callable[[Any], None]:
        def handler(_button: Any) -> None:
            try:
                path = saver()
            except Exception as exc:  # noqa: BLE001 - shown to the user, not raised into the kernel
                self.export_status.value = H.message(f"could not save: {exc}", "error")
            else:
                self.export_status.value = H.message(f"saved {path}")

        return handler

    # -- the flow graph (background) -------------------------------------------------------------

    def _request_flow(self) -> None:
        """Lay out the flow graph of the selection in the background. One worker at a time,
        always on the latest selection: dot can take seconds on a large snapshot, and a burst
        of selections must not start a burst of dot processes."""
        key = self._key
        if key is None or (self._flow is not None and self._flow[0] == key):
            return
        with self._lock:
            self._flow_wanted = (key, self._snapshot)
            self.flow_out.outputs = (_html_output(H.message("Laying out the flow graph…"), ""),)
            if self._flow_thread is None:
                thread = threading.Thread(target=self._flow_worker, name="heapprof_nb-flow",
                                          daemon=True)
                self._flow_thread = thread
                thread.start()

    def _flow_worker(self) -> None:
        with Quiet():
            while True:
                with self._lock:
                    wanted, self._flow_wanted = self._flow_wanted, None
                    if wanted is None:
                        self._flow_thread = None
                        return
                key, snap = wanted
                text = H.flow_html(snap)
                with self._lock:
                    if self._key == key:
                        self._flow = (key, text)
                        self.flow_out.outputs = (_html_output(text, "<flow graph>"),)

    # -- the plot ----------------------------------------------------------------------------------

    def _draw(self) -> None:
        """Draw the time plot of what is digested so far (lock held)."""
        from ..views import plot

        series = plot.history_series(self.profile, sites=self._sites, points=self._points)
        fig = self._fig
        fig.clear()
        ax = fig.add_subplot(1, 1, 1)
        plot.draw_history(series, width=self._width, height=self._height, ax=ax)
        self._ax = ax
        self._mark = ax.axvline(0.0, color=SELECTION_COLOR, lw=1.6, zorder=6, visible=False,
                                animated=self.interactive)
        if self._canvas is not None:
            self._canvas._hpnb_background = None  # the plot changed: render it again
        self._span_patch = None
        if self._selector is not None:
            self._selector.disconnect_events()
            self._selector = None
        if self.interactive and self._ready:
            from matplotlib.widgets import SpanSelector

            self._selector = SpanSelector(
                ax, self._on_span, "horizontal", useblit=False, interactive=True,
                props={"facecolor": SELECTION_COLOR, "alpha": 0.22},
                handle_props={"color": SELECTION_COLOR, "linewidth": 1.2},
                grab_range=_GRAB_PX, minspan=0.0,
            )
            for artist in self._selector.artists:
                artist.set_animated(True)
        if self.slider is not None:
            end = max(series.times[-1] if series.times else 0.0, self.profile.duration)
            self._syncing = True
            try:
                self.slider.max = max(end, 1e-9)
                self.slider.step = max(end / 1000.0, 1e-6)
            finally:
                self._syncing = False

    def _animated_artists(self) -> tuple[Any, ...]:
        """What the canvas draws over its kept pixels: the selection (span and moment)."""
        out: tuple[Any, ...] = () if self._mark is None else (self._mark,)
        if self._selector is not None:
            out = tuple(self._selector.artists) + out
        return out

    def _png(self) -> bytes:
        buf = io.BytesIO()
        self._fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()

    def _show_selection(self) -> None:
        """Mark the selection on the plot and send the plot to the browser (lock held)."""
        if self._ax is None or self._sel is None:
            return
        t0, t1 = self._sel
        if self._selector is not None:
            if self._point:
                self._selector.clear()
            else:
                self._selector.extents = (t0, t1)
                self._selector.set_visible(True)
        else:
            if self._span_patch is not None:
                self._span_patch.remove()
                self._span_patch = None
            if not self._point:
                self._span_patch = self._ax.axvspan(t0, t1, color=SELECTION_COLOR, alpha=0.22,
                                                    lw=0, zorder=1)
        self._mark.set_xdata([t1, t1])
        self._mark.set_visible(self._point)
        self._refresh_plot(background=False)

    def _refresh_plot(self, *, background: bool) -> None:
        """Send the figure to the browser: the canvas redraws on request (``draw_idle``) when
        the kernel is idle; ``background`` pushes the pixels now, as a busy kernel cannot
        answer the browser's request. Without ipympl the image widget gets a new PNG."""
        if self._canvas is not None:
            if background:
                self._canvas.draw()
                self._manager.refresh_all()
            else:
                self._canvas.draw_idle()
        elif self._image is not None:
            self._image.value = self._png()

    def _prime_canvas(self, png: bytes) -> None:
        """What the browser shows before it asks for pixels: ipympl's ``_data_url`` and size
        (as ipympl's own display does); also what a saved widget state keeps."""
        if self._canvas is None:
            return
        self._canvas._data_url = "data:image/png;base64," + base64.b64encode(png).decode()
        self._canvas._size = (int(self._width * 100), int(self._height * 100))

    def _axes_info(self) -> str:
        """Where the axes are in the figure (fractions) and their time range: a hidden element
        for browser tests that drag across the plot."""
        if self._ax is None:
            return ""
        box = self._ax.get_position()
        lo, hi = (float(v) for v in self._ax.get_xlim())
        data = (f'{{"x0":{box.x0:.5f},"x1":{box.x1:.5f},"y0":{box.y0:.5f},"y1":{box.y1:.5f},'
                f'"tmin":{lo!r},"tmax":{hi!r}}}')
        return f"<span class='hpnb-v-axes' hidden data-axes='{data}'></span>"

    def _restyle(self) -> None:
        self._style.value = H.view_css(self.uid, self._static_ids) + self._axes_info()

    # -- digest progress and live updates ---------------------------------------------------------

    def _check_digest(self) -> None:
        error = self.profile.digest.error
        if error is not None:
            raise error

    def _start_watch(self) -> None:
        if self._canvas is not None:  # sized now; the first tick draws the picture
            self._canvas._size = (int(self._width * 100), int(self._height * 100))
        if self._live:
            self.progress.layout.display = "none"
            self.header.value = H.message("heapprof_nb: recording… the plot follows the run; "
                                          "select a span once the cell has finished")
        else:
            self.header.value = H.message(
                f"heapprof_nb: digesting {os.path.basename(self.profile.path)}…")
        self._stop.clear()
        thread = threading.Thread(target=self._watch, name="heapprof_nb-view", daemon=True)
        self._watch_thread = thread
        thread.start()

    def _watch(self) -> None:
        with Quiet():
            try:
                last_draw = 0.0
                last_end = -1.0
                digest = self.profile.digest
                while not self._stop.is_set():
                    if digest.done:
                        break
                    if self._live:
                        now = time.monotonic()
                        end = self.profile.duration
                        if end != last_end and now - last_draw >= _LIVE_INTERVAL:
                            self._live_update(end)
                            last_draw, last_end = now, end
                    else:
                        p = digest.progress
                        self.progress.value = p
                        self._progress_label.value = H.message(f"{p:.0%}")
                    self._stop.wait(_POLL)
                if self._stop.is_set():
                    return
                self._check_digest()
                self._become_ready()
            except Exception as exc:  # noqa: BLE001 - shown in the view; the thread ends
                self._progress_box.layout.display = "none"
                self.status.value = H.message(f"heapprof_nb: {exc}", "error")

    def _live_update(self, end: float) -> None:
        with self._lock:
            try:
                self._draw()
            except Exception:  # noqa: BLE001 - a log being written may be caught mid-definition
                return  # (a stack before its frames, say): the next tick draws again
            self._refresh_plot(background=True)
            self.updates += 1
        hist_total = ""
        try:
            t, b = self.profile.peak()
            hist_total = f", peak so far {format_bytes(b)}" if b > 0 else ""
        except Exception:  # noqa: BLE001 - a status line is not worth failing for
            pass
        self.status.value = H.message(f"recording: {end:.1f} s{hist_total}")

    def _become_ready(self) -> None:
        """The digest is done: draw, select the peak, enable the controls, fill the fallback."""
        with self._lock:
            self._ready = True
            self._snap_cache.clear()
            self._key = None
            self._draw()
            png = self._png()
            self._static_png = png
            self._prime_canvas(png)
            self._restyle()
            self.header.value = H.header_line(self.profile)
            self._progress_box.layout.display = "none"
            for w in (self.measure_buttons, self.peak_button, self.all_button,
                      *self.export_buttons.values()):
                w.disabled = False
            if self.slider is not None:
                self.slider.disabled = False
            t, b = self.profile.peak()
            if b > 0:
                self.select_peak()
            else:
                self.select_all()
                self.status.value = H.message("the profile recorded no allocations")
            if self._watch_thread is not None and self._watch_thread is threading.current_thread():
                self._refresh_plot(background=True)
            pending, self._pending_static = self._pending_static, []
        for png_handle, html_handle, sid in pending:
            png_handle.update(self._static_png_bundle(), raw=True)
            html_handle.update(self._static_html_bundle(sid), raw=True)

    def finish(self, profile: Any = None) -> None:
        """End a live view: stop following, show ``profile`` (the finished run; by default the
        one followed, once its digest ends) and accept selections."""
        with Quiet():
            self._stop.set()
            thread = self._watch_thread
            if thread is not None and thread is not threading.current_thread():
                thread.join()
            self._watch_thread = None
            old = self.profile
            if profile is not None and profile is not old:
                if self._owns_profile:
                    try:
                        old.digest.close()
                    except Exception:  # noqa: BLE001 - the old digest only held a file
                        pass
                self._owns_profile = False
                self.profile = profile
            else:
                self.profile.digest.finish()
                self.profile.digest.wait()
            self._live = False
            self._become_ready()

    def close(self) -> None:
        """Stop background work and close the widgets (and the digest of a live view)."""
        self._stop.set()
        thread = self._watch_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        if self._owns_profile:
            self.profile.digest.close()
        widgets = list(_iter_widgets(self.widget))
        if self._canvas is not None:
            widgets.append(getattr(self._canvas, "toolbar", None))
        for w in widgets:
            if w is not None:
                w.close()

    # -- display and the static fallback ------------------------------------------------------

    def _static_png_bundle(self) -> dict[str, Any]:
        return static.png_bundle(self._static_png)

    def _static_html_bundle(self, sid: str) -> dict[str, Any]:
        if not self._ready:
            return static.pending_html_bundle(sid)
        flame = self._whole_run_flame()
        table = sites_table(self._peak_snapshot) if self._peak_snapshot is not None else ""
        return static.html_bundle(sid, self.profile, flame + table)

    def _whole_run_flame(self) -> str:
        """The flame graph of the whole run: what was live at its peak."""
        from ..views.flame import flame_html

        with self._lock:
            t, b = self.profile.peak()
            if b <= 0:
                self._peak_snapshot = None
                return H.message("heapprof_nb: the profile recorded no allocations")
            snap = self._compute(0.0, _clamp(t, self.profile.duration), True, "live_at_end")
            self._peak_snapshot = snap
            return flame_html(snap, title=f"Whole run: live at its peak, {t:.3f} s")

    def _ipython_display_(self) -> None:
        import IPython.display

        display: Any = IPython.display.display

        with Quiet():
            sid = "hpnb-static-" + uuid.uuid4().hex[:12]
            with self._lock:
                self._static_ids.append(sid)
                self._restyle()
                png_bundle = self._static_png_bundle()
                html_bundle = self._static_html_bundle(sid)
                ready = self._ready
            png_handle = display(png_bundle, raw=True, display_id=True)
            html_handle = display(html_bundle, raw=True, display_id=True)
            display(self.widget)
            if not ready:
                with self._lock:
                    if self._ready:  # became ready while displaying
                        png_handle.update(self._static_png_bundle(), raw=True)
                        html_handle.update(self._static_html_bundle(sid), raw=True)
                    else:
                        self._pending_static.append((png_handle, html_handle, sid))

    def __repr__(self) -> str:
        sel = "no selection" if self._sel is None else (
            f"moment {self._sel[1]:.3f} s" if self._point
            else f"span ({self._sel[0]:.3f}, {self._sel[1]:.3f}] s")
        return f"<ProfileView {os.path.basename(self.profile.path)!r}: {sel}, {self._measure}>"

    # -- exports -------------------------------------------------------------------------------------

    def export_path(self, suffix: str) -> str:
        """``<profile dir>/<profile name>.<measure>.<selection><suffix>``: where exports go."""
        if self._sel is None:
            raise ValueError("nothing is selected")
        base = os.path.abspath(self.profile.path)
        stem = os.path.splitext(os.path.basename(base))[0]
        t0, t1 = self._sel
        sel = f"at-{t1:.3f}s" if self._point else f"{t0:.3f}-{t1:.3f}s"
        return os.path.join(os.path.dirname(base), f"{stem}.{self._measure}.{sel}{suffix}")

    def _current(self) -> Any:
        self._need_ready()
        if self._snapshot is None:
            raise ValueError("nothing is selected")
        return self._snapshot

    def save_flame_html(self, path: str | None = None) -> str:
        """Write the selection's flame graph as a standalone HTML page; returns the path."""
        from ..views.flame import flame_page

        snap = self._current()
        path = path or self.export_path(".flame.html")
        _write_text(path, flame_page(snap))
        return path

    # The selection's snapshot already went through the frame policy (or all_frames asked for
    # none): the exports write it as it is, all_frames=True meaning "hide nothing more".

    def save_collapsed(self, path: str | None = None) -> str:
        """Write the selection's folded stacks (flamegraph.pl, inferno); returns the path."""
        snap = self._current()
        path = path or self.export_path(".collapsed.txt")
        _write_text(path, snap.collapsed(all_frames=True))
        return path

    def save_speedscope(self, path: str | None = None) -> str:
        """Write the selection as a speedscope JSON file; returns the path."""
        snap = self._current()
        path = path or self.export_path(".speedscope.json")
        _write_text(path, snap.speedscope_json(all_frames=True))
        return path

    def save_pprof(self, path: str | None = None) -> str:
        """Write the selection as a gzipped pprof profile; returns the path."""
        snap = self._current()
        path = path or self.export_path(".pb.gz")
        return str(snap.write_pprof(path, all_frames=True))


def _clamp(t: float, end: float) -> float:
    if not math.isfinite(t):
        raise ValueError(f"time must be a finite number, not {t!r}")
    return min(max(t, 0.0), end)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _iter_widgets(widget: Any) -> Iterator[Any]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _iter_widgets(child)
