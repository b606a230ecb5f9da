"""The view in a real browser: JupyterLab 4 (and Notebook 7) in headless Chromium.

One hermetic ``jupyter lab`` (a free localhost port, a token, HOME and every Jupyter directory in a
temporary folder, a ``python3`` kernelspec running this interpreter) and one Chromium driven by
Playwright from the system's executable. Requests that leave localhost are refused and counted:
the view must need none (no CDN).

- ``notebooks/demo.ipynb`` (a copy) runs through Run > Run All Cells; the mouse drags across the
  first view's ipympl canvas; the flame graph of the span must appear and name ``load_signals``;
  the time from the mouse release to the rendered flame graph is measured; the view is
  photographed in the light and the dark theme.
- A generated profile of about a million events over 50,000 stacks: three drags, the
  release-to-flame-graph time of each measured and reported (not asserted).
- Notebook 7 shows the same view.

Measurements are printed in the terminal summary. ``HEAPPROF_NB_SCREENSHOTS=<dir>`` also writes
the screenshots there (``tests/browser/refresh_screenshots.py`` sets it to ``docs/images``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from . import _lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_why_not = _lab.missing()
if _why_not is not None:
    pytest.skip(_why_not, allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

DEMO = _lab.REPO / "notebooks" / "demo.ipynb"
LONG = 240_000  # ms: running the demo takes tens of seconds on a loaded machine

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""

ALL_RAN = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k || k.status !== 'idle' || !w.content) { return false; }
  return w.content.widgets.filter(c => c.model.type === 'code')
    .every(c => c.model.executionCount !== null && c.model.executionCount !== undefined);
}"""

# Resolves with {ms, id, title, data} once a flame graph not seen before is drawn in view #index.
WATCH_FLAME = """(index) => {
  const view = document.querySelectorAll('.heapprof-view')[index];
  const seen = new Set(Array.from(view.querySelectorAll('.hpnb-flame')).map(e => e.id));
  window.__hpnb = {};
  window.addEventListener('mouseup', () => { window.__hpnb.up = performance.now(); },
                          {capture: true, once: true});
  const check = () => {
    for (const f of view.querySelectorAll('.hpnb-flame[data-hpnb-ready]')) {
      if (!seen.has(f.id) && f.querySelector('.hpnb-f') && window.__hpnb.up !== undefined) {
        window.__hpnb.flame = performance.now();
        window.__hpnb.id = f.id;
        window.__hpnb.title = f.querySelector('.hpnb-title').textContent;
        window.__hpnb.stacks = Number(f.getAttribute('data-stacks'));
        window.__hpnb.data = f.querySelector('script.hpnb-flame-data').textContent;
        return true;
      }
    }
    return false;
  };
  const obs = new MutationObserver(() => { if (check()) { obs.disconnect(); } });
  obs.observe(view, {subtree: true, childList: true, attributes: true});
}"""


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_lab.LabServer]:
    server = _lab.LabServer(tmp_path_factory.mktemp("lab"))
    with server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as pw:
        b = _lab.launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A browser page on the Lab server that refuses (and counts) requests leaving localhost."""

    def __init__(self, browser: Any, lab: _lab.LabServer) -> None:
        self.lab = lab
        self.context = browser.new_context(viewport={"width": 1500, "height": 1700})
        self.external: list[str] = []
        self.errors: list[str] = []

        def route(r: Any) -> None:
            url = r.request.url
            if re.match(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/", url) or \
                    url.startswith(("data:", "blob:", "about:")):
                r.continue_()
            else:
                self.external.append(url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, notebook: str) -> None:
        self.page.goto(self.lab.url(notebook))
        self.page.wait_for_function(KERNEL_IDLE, timeout=LONG)
        # the notebook gets the width (the file browser is closed)
        self.page.evaluate("() => { const app = window.jupyterapp;"
                           " if (!app.shell.leftCollapsed) {"
                           " return app.commands.execute('application:toggle-left-area'); } }")

    def run_all(self) -> None:
        """Run > Run All Cells, through the menu bar."""
        p = self.page
        p.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        p.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
        p.wait_for_function(ALL_RAN, timeout=LONG, polling=500)

    def view(self, index: int = 0) -> Any:
        v = self.page.locator(".heapprof-view").nth(index)
        v.locator(".hpnb-flame[data-hpnb-ready] .hpnb-f").first.wait_for(timeout=LONG)
        v.locator(".jupyter-matplotlib-canvas-div canvas").first.wait_for(timeout=LONG)
        return v

    def drag(self, index: int, t0: float, t1: float) -> dict[str, Any]:
        """Drag across view #index's plot from time t0 to t1 (seconds); returns what the page
        saw: the new flame graph and the milliseconds from the mouse release to it."""
        p = self.page
        view = self.view(index)
        axes = json.loads(view.locator(".hpnb-v-axes").get_attribute("data-axes"))
        canvas = view.locator(".jupyter-matplotlib-canvas-div canvas").last
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None

        def x_of(t: float) -> float:
            f = axes["x0"] + (t - axes["tmin"]) / (axes["tmax"] - axes["tmin"]) * (
                axes["x1"] - axes["x0"])
            return box["x"] + f * box["width"]

        y = box["y"] + (1 - (axes["y0"] + axes["y1"]) / 2) * box["height"]
        p.evaluate(WATCH_FLAME, index)
        p.mouse.move(x_of(t0), y)
        p.mouse.down()
        p.mouse.move((2 * x_of(t0) + x_of(t1)) / 3, y, steps=6)
        p.mouse.move(x_of(t1), y, steps=6)
        p.mouse.up()
        p.wait_for_function("() => window.__hpnb && window.__hpnb.flame !== undefined",
                            timeout=LONG)
        seen = p.evaluate("window.__hpnb")
        seen["ms"] = seen["flame"] - seen["up"]
        return seen

    def status_ms(self, index: int) -> float | None:
        """The kernel's own time for the selection (query + flame HTML), from the status line."""
        text = self.page.locator(".heapprof-view").nth(index).locator(".hpnb-v-status").inner_text()
        m = re.search(r"(\d+) ms", text)
        return float(m.group(1)) if m else None

    def errors_in_outputs(self) -> list[str]:
        return self.page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
        ).all_inner_texts()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any, lab: _lab.LabServer) -> Iterator[Page]:
    p = Page(browser, lab)
    try:
        yield p
    finally:
        p.close()


def screenshot(locator: Any, name: str, folder: Path) -> Path:
    path = folder / name
    locator.screenshot(path=str(path), animations="disabled")
    target = os.environ.get("HEAPPROF_NB_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / name)
    _lab.REPORT.append(f"screenshot {name}: {path}" + (f" (copied to {target})" if target else ""))
    return path


# -- the tests ------------------------------------------------------------------------------------


def test_demo_drag_a_span_see_its_flame_graph(page: Page, lab: _lab.LabServer,
                                             tmp_path: Path) -> None:
    shutil.copyfile(DEMO, lab.notebooks / "demo.ipynb")
    page.open("demo.ipynb")
    page.run_all()
    assert page.errors_in_outputs() == []
    assert page.page.locator(".heapprof-view").count() >= 2  # %%heapprof and %heapprof stop
    view = page.view(0)
    # the static fallback outputs are in the document, hidden while the live view renders
    static = page.page.locator(".heapprof-static").first
    assert static.count() == 1 and not static.is_visible()
    axes = json.loads(view.locator(".hpnb-v-axes").get_attribute("data-axes"))
    end = axes["tmax"]
    seen = page.drag(0, 0.15 * end, 0.7 * end)
    assert "live at" in seen["title"]
    assert "load_signals" in seen["data"], seen["title"]
    status = view.locator(".hpnb-v-status").inner_text()
    assert "span (" in status
    _lab.REPORT.append(
        f"demo: mouse release -> flame graph {seen['ms']:.0f} ms "
        f"(kernel: {page.status_ms(0)} ms; {seen['stacks']} stacks)")
    time.sleep(1.0)  # the plot's span and the table settle
    screenshot(view, "view-light.png", tmp_path)
    page.page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.page.wait_for_selector("body[data-jp-theme-light='false']", state="attached",
                            timeout=60_000)
    time.sleep(1.5)
    screenshot(view, "view-dark.png", tmp_path)
    page.page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
    assert page.external == [], page.external
    assert not page.errors, page.errors


def test_latency_on_a_million_events_and_50000_stacks(page: Page, lab: _lab.LabServer) -> None:
    from . import _biglog

    log = lab.root / "big.hpnb"
    facts = _biglog.write_log(log, n_events=1_200_000)
    (lab.notebooks / "big.ipynb").write_text(json.dumps(_lab.notebook_json([
        f"import heapprof_nb\nbig = heapprof_nb.read({str(log)!r})\nbig.view()",
    ])))
    page.open("big.ipynb")
    page.run_all()
    assert page.errors_in_outputs() == []
    view = page.view(0)
    axes = json.loads(view.locator(".hpnb-v-axes").get_attribute("data-axes"))
    end = axes["tmax"]
    times, kernel = [], []
    for a, b in ((0.25, 0.75), (0.5, 0.9), (0.1, 0.6)):
        seen = page.drag(0, a * end, b * end)
        assert seen["stacks"] > 10_000, seen["stacks"]
        times.append(seen["ms"])
        page.page.wait_for_function(KERNEL_IDLE, timeout=LONG)
        kernel.append(page.status_ms(0) or float("nan"))
    _lab.REPORT.append(
        f"{facts['events']:,} events, {facts['stacks']:,} stacks: mouse release -> flame graph "
        f"{', '.join(f'{t:.0f}' for t in times)} ms (median {statistics.median(times):.0f} ms, "
        f"target 250 ms, not asserted); of which the kernel's query + flame HTML "
        f"{', '.join(f'{t:.0f}' for t in kernel)} ms")
    assert page.external == [], page.external


def test_notebook7_shows_the_view(page: Page, lab: _lab.LabServer) -> None:
    (lab.notebooks / "nb7.ipynb").write_text(json.dumps(_lab.notebook_json([
        "%load_ext heapprof_nb",
        "%%heapprof --rate 1\nkeep = [bytearray(100_000) for _ in range(40)]",
    ])))
    p = page.page
    p.goto(f"http://127.0.0.1:{lab.port}/notebooks/nb7.ipynb?token={lab.token}")
    p.wait_for_selector(".jp-NotebookPanel", timeout=LONG)
    deadline = time.monotonic() + LONG / 1000
    view = p.locator(".heapprof-view")
    while view.count() == 0 and time.monotonic() < deadline:
        # the kernel may still be starting: Run All again until the view is there
        p.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        p.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
        try:
            view.first.wait_for(timeout=20_000)
        except Exception:  # noqa: BLE001 - try again
            pass
    view.first.locator(".hpnb-flame[data-hpnb-ready] .hpnb-f").first.wait_for(timeout=LONG)
    view.first.locator(".jupyter-matplotlib-canvas-div canvas").first.wait_for(timeout=LONG)
    assert "In [" in view.first.locator(".hpnb-flame").first.inner_text()
    assert page.external == [], page.external
