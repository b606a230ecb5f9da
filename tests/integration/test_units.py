"""One unit style: every view of a real profile writes sizes in binary units (KiB, MiB, GiB),
never decimal ones (kB, MB, GB)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import heapprof_nb

pytest.importorskip("matplotlib")
pytest.importorskip("graphviz")
pytest.importorskip("IPython")

# a number or an opening bracket before the unit: "12 MB", "(MB)"; not graphviz's rankdir "TB"
DECIMAL = re.compile(r"(?:\d ?|\()(?:kB|KB|MB|GB|TB)\b|\b(?:kilo|mega|giga)bytes?\b")
BINARY = re.compile(r"\b(?:KiB|MiB|GiB)\b")


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("units") / "units.hpnb"
    keep: list[bytearray] = []
    with heapprof_nb.profile(path, rate=4096, seed=7):
        for i in range(60):
            keep.append(bytearray(100_000))  # 6 MB held at the end
            if i % 10 == 0:
                heapprof_nb.mark(f"step {i}")
        temporary = [bytearray(50_000) for _ in range(40)]
        del temporary
    keep.clear()
    return heapprof_nb.read(path, cache=False)


def _figure_text(fig: Any) -> str:
    texts = [t.get_text() for t in fig.findobj(match=lambda a: hasattr(a, "get_text"))]
    for ax in fig.axes:
        fig.canvas.draw()  # tick labels exist once drawn
        texts += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        texts += [ax.get_ylabel(), ax.get_xlabel(), ax.get_title()]
    return "\n".join(texts)


def _views(profile: Any) -> dict[str, str]:
    from heapprof_nb.notebook import magics, view_html
    from heapprof_nb.recommend import recommend
    from heapprof_nb.views import plot
    from heapprof_nb.views.table import sites_table

    t, _ = profile.peak()
    snap = profile.snapshot_at(t)
    growth = profile.window(0.0, profile.duration).growth
    heapprof_nb.gather_stats()
    try:
        _ = [bytearray(2_000_000) for _ in range(3)]
    finally:
        hist = heapprof_nb.stop_stats()
    rec = recommend(hist)
    return {
        "snapshot repr": repr(snap) + repr(profile.history()),
        "snapshot html": snap._repr_html_(),
        "statistics": "\n".join(f"{s.label} {s.bytes}" for s in snap.statistics()),
        "flame graph": snap.flame_html() + growth.flame_html(),
        "flow graph": str(snap.flow_graph().source) + str(growth.flow_graph().source),
        "compare": str(snap.flow_graph(compare_to=growth).source),
        "table": sites_table(snap),
        "magics table": magics.sites_table_html(snap) + magics.histogram_table_html(hist),
        "view header": view_html.header_line(profile),
        "histogram": str(hist),
        "recommendation": f"{rec.rate_text} {rec.reason}",
        "history plot": _figure_text(plot.history_figure(profile, sites=3)),
        "size plot": _figure_text(plot.size_histogram_figure(hist)),
    }


def test_no_view_writes_a_decimal_unit(profile: Any) -> None:
    views = _views(profile)
    decimal = {name: DECIMAL.findall(text) for name, text in views.items()}
    assert {name: found for name, found in decimal.items() if found} == {}
    # and the sizes are there, in binary units (the test reads real text)
    for name in ("snapshot repr", "flame graph", "flow graph", "table", "history plot"):
        assert BINARY.search(views[name]), name


def test_the_decimal_pattern_finds_decimal_units() -> None:
    found = DECIMAL.findall("5.7 MB, 12kB, size (GB), megabytes; not 5 MiB or rankdir=TB")
    assert found == ["7 MB", "2kB", "(GB", "megabytes"]


def test_the_docs_use_binary_units() -> None:
    root = Path(__file__).resolve().parents[2]
    texts = [root / "README.md", *sorted((root / "docs").glob("*.md")),
             *sorted((root / "notebooks").glob("*.ipynb"))]
    allowed = "(B, KiB, MiB, GiB, kB, MB, GB)"  # the units a rate may be typed in
    found = {p.name: DECIMAL.findall(p.read_text().replace(allowed, ""))
             for p in texts}
    assert {name: units for name, units in found.items() if units} == {}
