"""The interactive view (heapprof_nb.notebook.view.ProfileView), driven the way a user drives it.

A profile with known contents is recorded once at ``rate=1`` (every allocation, exact):

    t_a   alloc_kept()   3,000,000 bytes, kept until t_d
    t_b   alloc_temp()   200 x 10,000 bytes, freed before it returns
    t_c   alloc_late()   1,000,000 bytes, kept
    t_d   release_kept() frees the 3,000,000 bytes

with a marker after each step. The tests set spans and moments programmatically, press the
measure buttons, "Peak" and "Whole run", drag and click on the ipympl canvas with the same
messages the browser sends, move the range slider of the static variant, and check the flame
graph, flow graph, table and exports of what is selected.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")
pytest.importorskip("IPython")

import heapprof_nb  # noqa: E402
from heapprof_nb import _api  # noqa: E402

pytestmark = pytest.mark.ipython

KEPT, TEMP_EACH, TEMP_N, LATE = 3_000_000, 10_000, 200, 1_000_000
MB = 1_000_000


def alloc_kept() -> bytearray:
    return bytearray(KEPT)


def alloc_temp() -> int:
    blocks = [bytearray(TEMP_EACH) for _ in range(TEMP_N)]
    return len(blocks)


def alloc_late() -> bytearray:
    return bytearray(LATE)


class Known:
    """The recorded profile and the times of its markers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.profile = heapprof_nb.read(str(path))
        self.t = {m.label: m.time for m in self.profile.markers if m.kind == 0}


def _record(path: Path) -> None:
    heapprof_nb.start(str(path), rate=1)
    try:
        time.sleep(0.05)
        kept = alloc_kept()
        heapprof_nb.mark("a")
        time.sleep(0.05)
        alloc_temp()
        heapprof_nb.mark("b")
        time.sleep(0.05)
        late = alloc_late()
        heapprof_nb.mark("c")
        time.sleep(0.05)
        del kept
        heapprof_nb.mark("d")
        time.sleep(0.05)
    finally:
        heapprof_nb.stop()
    del late


@pytest.fixture(scope="module")
def known_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("view") / "known.hpnb"
    _record(path)
    return path


@pytest.fixture
def known(known_path: Path, tmp_path: Path) -> Known:
    """A fresh copy per test, so exports land in the test's own directory."""
    path = tmp_path / "known.hpnb"
    shutil.copyfile(known_path, path)
    return Known(path)


@pytest.fixture
def view(known: Known) -> Iterator[Any]:
    from heapprof_nb.notebook.view import ProfileView

    v = ProfileView(known.profile)
    yield v
    v.close()


def names(html: str) -> str:
    return html  # the flame graph's JSON carries every frame label


def canvas_event(view: Any, kind: str, t: float, *, buttons: int = 1) -> None:
    """Send the canvas the message the browser sends for a mouse event at time ``t``."""
    ax = view._ax
    y_mid = sum(ax.get_ylim()) / 2
    x, y = ax.transData.transform((t, y_mid))
    height = view._canvas.get_renderer().height
    content = {"type": kind, "x": float(x), "y": float(height - y), "button": 0,
               "buttons": buttons, "modifiers": [], "guiEvent": {}}
    view._canvas._handle_message(view._canvas, content, [])


def drag(view: Any, t0: float, t1: float) -> None:
    canvas_event(view, "button_press", t0)
    canvas_event(view, "motion_notify", (2 * t0 + t1) / 3)
    canvas_event(view, "motion_notify", (t0 + 2 * t1) / 3)  # the last move the kernel sees
    canvas_event(view, "button_release", t1, buttons=0)     # released further on


def one_pixel(view: Any) -> float:
    return view._px_to_time(1.0)


# -- building, the initial selection ------------------------------------------------------------


def test_built_ready_with_the_peak_selected(view: Any, known: Known) -> None:
    assert view.ready and view.interactive
    t_peak, peak = known.profile.peak()
    assert view.is_point and view.selection == (0.0, pytest.approx(t_peak))
    assert peak == pytest.approx(KEPT + TEMP_N * TEMP_EACH, rel=0.05)
    html = view.flame_html
    assert "hpnb-flame" in html and "alloc_kept" in html and "alloc_temp" in html
    assert "Top allocation sites" in view.table_html and "alloc_kept" in view.table_html
    assert "moment" in view.status.value
    assert not view.measure_buttons.disabled and not view.peak_button.disabled
    assert view.header.value.count("known.hpnb") == 1 and "every allocation" in view.header.value


def test_view_method_of_profile(known: Known) -> None:
    from heapprof_nb.notebook.view import ProfileView

    v = known.profile.view(measure="growth")
    try:
        assert isinstance(v, ProfileView) and v.measure == "growth"
    finally:
        v.close()


# -- spans and measures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "measure", "present", "absent", "nbytes"),
    [
        (("a", "b"), "allocated_freed", "alloc_temp", "alloc_kept", TEMP_N * TEMP_EACH),
        (("a", "b"), "live_at_end", "alloc_kept", "alloc_temp", KEPT),
        (("b", "c"), "allocated_kept", "alloc_late", "alloc_kept", LATE),
        (("b", "c"), "growth", "alloc_late", "alloc_temp", LATE),
    ],
)
def test_span_and_measure(view: Any, known: Known, span: tuple[str, str], measure: str,
                          present: str, absent: str, nbytes: int) -> None:
    view.select(known.t[span[0]], known.t[span[1]])
    view.measure = measure
    assert not view.is_point and view.measure == measure
    snap = view.snapshot
    top = snap.top(1)[0]
    assert top.key[0].function.startswith(present)
    assert top.bytes == pytest.approx(nbytes, rel=0.02)
    assert present in view.flame_html and absent not in view.flame_html
    assert present in view.table_html


def test_growth_reports_what_shrank(view: Any, known: Known) -> None:
    view.select(known.t["c"], known.t["d"])
    view.measure = "growth"
    assert view.snapshot.total == pytest.approx(-KEPT, rel=0.02)
    html = view.flame_html
    assert 'data-shrank-bytes="' in html and 'data-shrank-bytes="0"' not in html


def test_measure_buttons_and_order_of_span_ends(view: Any, known: Known) -> None:
    view.select(known.t["b"], known.t["a"])  # reversed: the same span
    assert view.selection == (known.t["a"], known.t["b"])
    view.measure_buttons.value = "allocated_freed"  # what a click on "temporary" does
    assert view.measure == "allocated_freed"
    assert view.snapshot.title.startswith("allocated and freed in")
    assert "alloc_temp" in view.flame_html


def test_moment_with_another_measure_is_the_span_from_the_start(view: Any, known: Known) -> None:
    view.select_time(known.t["b"])
    assert view.is_point and view.selection == (0.0, known.t["b"])
    assert view.snapshot.title.startswith("live at")
    view.measure = "allocated_freed"
    assert "alloc_temp" in view.flame_html  # freed within (0, t_b]


def test_peak_and_whole_run_buttons(view: Any, known: Known) -> None:
    view.select(known.t["c"], known.t["d"])
    view.peak_button.click()
    t_peak, _ = known.profile.peak()
    assert view.is_point and view.selection == (0.0, pytest.approx(t_peak))
    view.all_button.click()
    assert not view.is_point and view.selection == (0.0, known.profile.duration)
    view.measure = "allocated_kept"
    assert "alloc_late" in view.flame_html and "alloc_kept" not in view.flame_html


def test_times_are_clamped_to_the_run(view: Any, known: Known) -> None:
    view.select(-5.0, 1e9)
    assert view.selection == (0.0, known.profile.duration)
    with pytest.raises(ValueError):
        view.select(float("nan"), 1.0)
    with pytest.raises(ValueError):
        view.measure = "bogus"


# -- the mouse on the ipympl canvas -------------------------------------------------------------


def test_drag_selects_the_span_to_where_the_mouse_was_released(view: Any, known: Known) -> None:
    view.measure = "allocated_freed"
    t0, t1 = known.t["a"], known.t["b"]
    drag(view, t0, t1)
    a, b = view.selection
    assert not view.is_point
    assert a == pytest.approx(t0, abs=2 * one_pixel(view))
    assert b == pytest.approx(t1, abs=2 * one_pixel(view))
    assert "alloc_temp" in view.flame_html and "alloc_kept" not in view.flame_html
    # the span stays drawn on the plot (the selector's rectangle, drawn over the kept pixels)
    assert view._selector is not None and view._selector.extents == pytest.approx((a, b))
    assert view._canvas._hpnb_background is not None or view._canvas._hpnb_animated


def test_dragging_an_edge_moves_only_that_edge(view: Any, known: Known) -> None:
    view.select(known.t["a"], known.t["b"])
    drag(view, known.t["b"], known.t["c"])
    a, b = view.selection
    assert a == pytest.approx(known.t["a"], abs=2 * one_pixel(view))
    assert b == pytest.approx(known.t["c"], abs=2 * one_pixel(view))


def test_click_selects_a_moment(view: Any, known: Known) -> None:
    view.select(known.t["a"], known.t["b"])
    t = (known.t["b"] + known.t["c"]) / 2
    canvas_event(view, "button_press", t)
    canvas_event(view, "button_release", t, buttons=0)
    assert view.is_point
    assert view.selection[1] == pytest.approx(t, abs=2 * one_pixel(view))
    html = view.flame_html
    assert "alloc_kept" in html and "alloc_temp" not in html and "alloc_late" not in html


def test_blitting_draws_the_selection_over_kept_pixels(view: Any, known: Known) -> None:
    canvas = view._canvas
    canvas.draw()
    kept = canvas._hpnb_background
    assert kept is not None
    view.select(known.t["a"], known.t["b"])
    canvas.draw()
    assert canvas._hpnb_background is kept  # not rendered again


# -- without ipympl: an image and a range slider ---------------------------------------------------


def test_static_plot_and_range_slider(known: Known) -> None:
    from heapprof_nb.notebook.view import ProfileView

    v = ProfileView(known.profile, interactive=False)
    try:
        assert not v.interactive and v._canvas is None
        assert v._image.value[:8] == b"\x89PNG\r\n\x1a\n"
        assert v.slider.max == pytest.approx(known.profile.duration)
        before = v._image.value
        v.measure = "allocated_freed"
        v.slider.value = (known.t["a"], known.t["b"])
        a, b = v.selection
        assert a == pytest.approx(known.t["a"], abs=v.slider.step)
        assert b == pytest.approx(known.t["b"], abs=v.slider.step)
        assert "alloc_temp" in v.flame_html
        assert v._image.value != before  # the span is drawn on the image
        v.slider.value = (known.t["c"], known.t["c"])
        assert v.is_point
        v.peak_button.click()
        assert v.slider.value[0] == v.slider.value[1]
    finally:
        v.close()


def test_without_ipympl_the_static_plot_is_chosen(known: Known,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from heapprof_nb.notebook import view as view_module

    monkeypatch.setattr(view_module, "ipympl_canvas", lambda: None)
    v = view_module.ProfileView(known.profile)
    try:
        assert not v.interactive and v.slider is not None
        with pytest.raises(ImportError, match="ipympl"):
            view_module.ProfileView(known.profile, interactive=True)
    finally:
        v.close()


# -- flow graph, table, exports ----------------------------------------------------------------


def test_flow_graph_of_the_selection(view: Any, known: Known) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz 'dot' is not installed")
    pytest.importorskip("graphviz")
    view.select(known.t["a"], known.t["b"])
    view.measure = "allocated_freed"
    html = view.flow_html()
    assert "<svg" in html and "alloc_temp" in html
    assert "hpnb-v-flow" in html


def test_flow_tab_lays_out_in_the_background(view: Any, known: Known) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz 'dot' is not installed")
    pytest.importorskip("graphviz")
    view.select(known.t["b"], known.t["c"])
    assert "when this tab is open" in view.flow_out.outputs[0]["data"]["text/html"]
    view.tabs.selected_index = 1
    view.wait(30)
    shown = view.flow_out.outputs[0]["data"]["text/html"]
    assert "<svg" in shown and "alloc_late" in shown
    view.select(known.t["a"], known.t["b"])  # the open tab follows the selection
    view.measure = "allocated_freed"
    view.wait(30)
    assert "alloc_temp" in view.flow_out.outputs[0]["data"]["text/html"]
    # a burst of selections: one worker at a time, and it ends on the last one
    for span in (("a", "c"), ("b", "d"), ("b", "c")):
        view.select(known.t[span[0]], known.t[span[1]])
        workers = [t for t in threading.enumerate() if t.name == "heapprof_nb-flow"]
        assert len(workers) <= 1
    view.measure = "allocated_kept"
    view.wait(30)
    last = view.flow_out.outputs[0]["data"]["text/html"]
    assert "alloc_late" in last and "alloc_temp" not in last


def test_flow_graph_without_dot_says_so(view: Any, known: Known,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", "")
    view.select(known.t["a"], known.t["b"])
    html = view.flow_html()
    assert "<svg" not in html and "dot" in html and "Graphviz" in html


def test_flame_and_table_in_the_output_widgets(view: Any, known: Known) -> None:
    view.select(known.t["a"], known.t["c"])
    flame = view.flame_out.outputs[0]["data"]["text/html"]
    table = view.table_out.outputs[0]["data"]["text/html"]
    assert flame == view.flame_html
    assert "Top allocation sites" in table and "alloc_kept" in table


def test_exports_next_to_the_profile(view: Any, known: Known) -> None:
    view.select(known.t["a"], known.t["b"])
    view.measure = "allocated_freed"
    for button in view.export_buttons.values():
        button.click()
    assert "saved" in view.export_status.value
    folder = known.path.parent
    stem = "known.allocated_freed."
    made = sorted(p.name for p in folder.iterdir() if p.name.startswith(stem))
    assert len(made) == 4, made
    by_suffix = {name.split("s.", 1)[1] if "s." in name else name: folder / name for name in made}
    page = (folder / [n for n in made if n.endswith(".flame.html")][0]).read_text()
    assert page.startswith("<!DOCTYPE html>") and "alloc_temp" in page
    folded = (folder / [n for n in made if n.endswith(".collapsed.txt")][0]).read_text()
    assert any("alloc_temp" in line for line in folded.splitlines())
    doc = json.loads((folder / [n for n in made if n.endswith(".speedscope.json")][0]).read_text())
    assert doc["profiles"][0]["unit"] == "bytes"
    pprof = (folder / [n for n in made if n.endswith(".pb.gz")][0]).read_bytes()
    assert gzip.decompress(pprof)
    assert by_suffix


def test_export_methods_take_a_path(view: Any, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    assert view.save_collapsed(str(target)) == str(target)
    assert target.read_text().strip()


# -- display and the static fallback -----------------------------------------------------------


def test_display_leaves_a_static_fallback(view: Any) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    with capture_output() as cap:
        display(view)
    kinds = [sorted(o.data) for o in cap.outputs]
    assert kinds == [["image/png", "text/plain"], ["text/html", "text/plain"],
                     ["application/vnd.jupyter.widget-view+json", "text/plain"]]
    png = base64.b64decode(cap.outputs[0].data["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    static = cap.outputs[1].data["text/html"]
    assert "Whole run: live at its peak" in static and "Top allocation sites" in static
    assert "alloc_kept" in static and "hpnb-flame" in static
    sid = static.split("heapprof-static ", 1)[1].split("'", 1)[0]
    # the live view hides exactly these outputs
    assert f".jp-OutputArea-child:has(.{sid})" in view._style.value
    assert f":has(+ .jp-OutputArea-child .{sid})" in view._style.value
    assert view.widget.model_id in json.dumps(cap.outputs[2].data)


def test_dark_theme_rules(view: Any) -> None:
    css = view._style.value
    assert 'body[data-jp-theme-light="false"]' in css and "invert(" in css
    assert view.uid in css and view.uid in view.widget._dom_classes


def test_matplotlib_backend_untouched(known: Known) -> None:
    import matplotlib

    before = matplotlib.rcParams._get_backend_or_none()  # type: ignore[attr-defined]
    v = known.profile.view()
    v.close()
    assert matplotlib.rcParams._get_backend_or_none() == before  # type: ignore[attr-defined]


# -- a profile still being digested: progress, then ready ---------------------------------------


def test_progress_then_ready_when_the_digest_is_done(known_path: Path, tmp_path: Path) -> None:
    from heapprof_nb.notebook.view import ProfileView

    data = known_path.read_bytes()
    path = tmp_path / "growing.hpnb"
    path.write_bytes(data[: len(data) // 2])
    profile = heapprof_nb.read(str(path), wait=False, follow=True, cache=False)
    started = time.monotonic()
    v = ProfileView(profile)
    try:
        assert time.monotonic() - started < 5  # returns at once: the kernel stays free
        assert not v.ready
        assert v._progress_box.layout.display != "none"
        assert "digesting" in v.header.value
        with pytest.raises(RuntimeError, match="still being digested"):
            v.select(0.0, 0.01)
        with open(path, "ab") as f:
            f.write(data[len(data) // 2 :])
        assert v.wait(60)
        assert v._progress_box.layout.display == "none"
        assert v.is_point and "alloc_kept" in v.flame_html
    finally:
        v.close()


def test_display_before_ready_is_updated_when_ready(known_path: Path, tmp_path: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output

    from heapprof_nb.notebook.view import ProfileView

    data = known_path.read_bytes()
    path = tmp_path / "growing.hpnb"
    path.write_bytes(data[: len(data) // 3])
    InteractiveShell.instance()
    with capture_output() as cap:
        v = ProfileView(heapprof_nb.read(str(path), wait=False, follow=True, cache=False))
        display(v)
        with open(path, "ab") as f:
            f.write(data[len(data) // 3 :])
        assert v.wait(60)
    try:
        updates = [o for o in cap.outputs if getattr(o, "update", False)]
        assert len(updates) == 2
        assert "image/png" in updates[0].data and len(updates[0].data["image/png"]) > 5000
        assert "Whole run: live at its peak" in updates[1].data["text/html"]
    finally:
        v.close()


# -- the magics ---------------------------------------------------------------------------------


@pytest.fixture
def ip() -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    with capture_output():
        shell.run_cell("%load_ext heapprof_nb")
    try:
        yield shell
    finally:
        with capture_output():
            shell.run_cell("%unload_ext heapprof_nb")
        if _api.is_running():
            _api.stop()
        InteractiveShell.clear_instance()


def test_magic_shows_the_view(ip: Any) -> None:
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        ip.run_cell("%%heapprof --rate 1\nkeep = bytearray(2_000_000)\n", store_history=True)
    kinds = [sorted(o.data) for o in cap.outputs]
    assert ["application/vnd.jupyter.widget-view+json", "text/plain"] in kinds
    assert sum("image/png" in k for k in kinds) == 1
    assert any("Top allocation sites" in o.data.get("text/html", "") for o in cap.outputs)


def test_live_magic_updates_the_plot_while_the_cell_runs(ip: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.utils.capture import capture_output

    from heapprof_nb.notebook import view as view_module

    made: list[Any] = []
    follow = view_module.ProfileView.follow.__func__  # type: ignore[attr-defined]

    def recording_follow(cls: Any, path: str, **options: Any) -> Any:
        v = follow(cls, path, **options)
        made.append(v)
        return v

    monkeypatch.setattr(view_module.ProfileView, "follow", classmethod(recording_follow))
    seen: list[tuple[int, bool]] = []
    ip.user_ns["_seen"] = seen
    ip.user_ns["_made"] = made
    body = (
        "%%heapprof --live --rate 64KiB\n"
        "import time\n"
        "keep = []\n"
        "for i in range(10):\n"
        "    keep.append(bytearray(1_000_000))\n"
        "    time.sleep(0.3)\n"
        "    _seen.append((_made[0].updates, _made[0].ready))\n"
    )
    with capture_output() as cap:
        result = ip.run_cell(body, store_history=True)
    assert result.success, cap.stderr
    assert len(made) == 1
    v = made[0]
    try:
        # the plot was redrawn while the cell ran (about once a second), not selectable yet
        assert max(n for n, _ in seen) >= 1, seen
        assert not any(ready for _, ready in seen)
        # the cell has finished: the view shows the finished profile and takes selections
        assert v.ready and v.profile is ip.user_ns["_heapprof"]
        assert v.is_point and "In [" in v.flame_html
        profile = v.profile
        v.select_all()
        v.measure = "allocated_kept"
        assert v.snapshot.total == pytest.approx(10 * MB, rel=0.2)
        # the static fallback displayed before the run was filled in at the end
        updates = [o for o in cap.outputs if getattr(o, "update", False)]
        assert len(updates) == 2 and "text/html" in updates[1].data
        # the view's own work (imports, drawing, the watcher thread) is not in the profile
        whole = profile.window(0.0, profile.duration)
        for measure in ("allocated_kept", "allocated_freed"):
            for e in getattr(whole, measure).entries:
                files = " ".join(f.filename for f in e.stack)
                assert "heapprof_nb/notebook/view.py" not in files and "matplotlib" not in files, (
                    measure, [f.label for f in e.stack][:12], e.bytes)
    finally:
        v.close()


# -- imports -------------------------------------------------------------------------------------


def test_heavy_imports_stay_lazy() -> None:
    import subprocess

    code = (
        "import sys, heapprof_nb, heapprof_nb.digest.profile, heapprof_nb.notebook.magics, heapprof_nb.notebook.view\n"
        "heavy = [m for m in ('ipywidgets', 'matplotlib', 'ipympl') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(heapprof_nb.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_cell_stacks_are_trimmed_through_the_rows(ip: Any) -> None:
    """A %%heapprof profile's stacks run through IPython's machinery above the cell; the view
    trims it from the profile's stack list once, so a selection's snapshot stays lazy (no
    entries built, the flame graph's fast path kept) and draws what trimming the entries draws."""
    from IPython.utils.capture import capture_output

    from heapprof_nb.views import flame
    from heapprof_nb.digest.model import Snapshot
    from heapprof_nb.views.frames import visible_snapshot

    with capture_output():
        ip.run_cell("%%heapprof --rate 1 --no-view --as trimmed_profile\n"
                    "def grow(n):\n"
                    "    return [bytearray(1000) for _ in range(n)]\n"
                    "keep = grow(500)\n", store_history=True)
    prof = ip.user_ns["trimmed_profile"]
    v = prof.view(interactive=False)
    assert v.wait(60)
    end = prof.duration
    for measure in ("live_at_end", "allocated_freed"):
        v.measure = measure
        v.select(0.0, end)
        snap = v.snapshot
        assert snap._source_rows() is not None, measure  # still backed by rows
        reference = visible_snapshot(Snapshot(getattr(prof.window(0.0, end), measure).entries))
        assert flame.flame_tree(snap) == flame.flame_tree(reference), measure
        assert snap.total == pytest.approx(reference.total)
    raw = prof.window(0.0, end).live_at_end._source_rows()
    assert raw.cache["visible"].changed  # there was machinery, hidden once for the profile
    outermost = {e.stack[-1].cell is not None for e in v.snapshot.entries if e.stack}
    assert outermost == {True}  # every stack starts at the cell: no IPython frames above it
    v.close()
