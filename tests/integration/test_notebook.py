"""notebooks/demo.ipynb executed end to end in a real kernel, its outputs checked.

The kernel is this interpreter (a kernelspec written to a temporary JUPYTER_PATH), with the
package under test first on its path and a fixed sampling seed (tests/integration/nbexec.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .nbexec import (
    NOTEBOOK_MARKS,
    NOTEBOOKS,
    assert_committed_without_outputs,
    cell,
    data,
    execute,
    stderr,
    stdout,
    notebook_stack,
)

notebook_stack()
pytestmark = NOTEBOOK_MARKS

DEMO = NOTEBOOKS / "demo.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, float]:
    return execute(DEMO, tmp_path_factory.mktemp("jupyter"), tmp_path_factory.mktemp("cwd"))


def test_committed_without_outputs() -> None:
    assert_committed_without_outputs(DEMO)


def test_runs_without_errors_within_budget(executed: tuple[Any, float]) -> None:
    nb, seconds = executed
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        errors = [o for o in c.outputs if o.output_type == "error"]
        assert not errors, (c.source, errors)
        assert "heapprof: error" not in stderr(c), c.source
    assert seconds < 120


def test_stats_cell_recommends_a_rate(executed: tuple[Any, float]) -> None:
    c = cell(executed[0], "stats")
    page = "".join(data(c, "text/html"))
    assert "Allocation sizes" in page and "Recommended: %%heapprof --rate" in page
    assert data(c, "image/png")
    assert not [o for o in c.outputs if o.output_type == "execute_result"]  # line form: no value


def test_pipeline_cell_shows_the_view_and_keeps_its_value(executed: tuple[Any, float]) -> None:
    c = cell(executed[0], "pipeline")
    assert len(data(c, "image/png")) == 1
    page = "".join(data(c, "text/html"))
    assert "Top allocation sites" in page and "In [" in page
    values = [o for o in c.outputs if o.output_type == "execute_result"]
    assert values and values[0].data["text/plain"] == "(2000,)"
    assert "in this session it is pipeline" in stdout(c) and "heapprof_nb.read(" in stdout(c)


def test_peak_near_expected(executed: tuple[Any, float]) -> None:
    out = stdout(cell(executed[0], "expected"))
    m = re.search(r"expected peak about (\d+) MB, estimated (\d+) MB \(([-+][\d.]+)%\)", out)
    assert m, out
    expected, estimated, off = float(m.group(1)), float(m.group(2)), float(m.group(3))
    assert 150 <= expected <= 200
    assert abs(off) < 8, out
    peak = stdout(cell(executed[0], "peak"))
    assert "load_signals (In [" in peak and "clean (In [" in peak


def test_spike_is_the_spectrum(executed: tuple[Any, float]) -> None:
    first = stdout(cell(executed[0], "spike")).splitlines()[0]
    assert "_raw_fft" in first or "spectrum (In [" in first, first


def test_leak_site_named_with_its_source(executed: tuple[Any, float]) -> None:
    nb = executed[0]
    out = stdout(cell(nb, "leak"))
    workload = cell(nb, "workload")
    n = workload.execution_count
    assert f"largest: clean (In [{n}], line 19)" in out, out
    assert "_debug_batches.append(z.copy())" in out
    grew = float(re.search(r"grew by (\d+) MB", out).group(1))  # type: ignore[union-attr]
    assert 55 <= grew <= 75  # two runs of 32 MB kept


def test_across_cells_plot_and_reopen(executed: tuple[Any, float]) -> None:
    nb = executed[0]
    runs = cell(nb, "runs")
    assert len(data(runs, "image/png")) == 1
    assert "in this session it is runs" in stdout(runs)
    reopened = stdout(cell(nb, "reopen"))
    assert reopened.startswith("Profile ") and "5 cells" in reopened
