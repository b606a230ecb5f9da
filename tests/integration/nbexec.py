"""Executing the notebooks of notebooks/ in a real kernel, and reading their outputs.

Shared by test_notebook.py and test_tuning_notebook.py. The kernel is this interpreter (a
kernelspec written to a temporary JUPYTER_PATH), with the package under test first on its path,
a fixed sampling seed and matplotlib's Agg backend.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import heapprof_nb

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: The marks of every notebook test module (its ``pytestmark``).
NOTEBOOK_MARKS = [pytest.mark.notebook, pytest.mark.slow]
KERNEL = "heapprof-nb-test"
SEED = "12345"


def notebook_stack() -> None:
    """Skip the calling test module unless Jupyter's notebook stack is installed."""
    for name in ("nbformat", "nbclient", "ipykernel", "matplotlib"):
        pytest.importorskip(name)


def assert_committed_without_outputs(notebook: Path) -> None:
    """``notebook`` is a valid notebook whose code cells have no outputs or execution counts."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, c.source


def write_kernelspec(root: Path) -> None:
    """A kernelspec named ``KERNEL`` under ``root/kernels``: this interpreter, the package first."""
    package_root = str(Path(heapprof_nb.__file__).absolute().parents[1])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    spec_dir = root / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "heapprof_nb test kernel",
        "language": "python",
        "env": {"PYTHONPATH": path, "HEAPPROF_NB_SEED": SEED, "MPLBACKEND": "Agg"},
    }))


def execute(notebook: Path, jupyter_root: Path, cwd: Path, *, timeout: int = 240,
            allow_errors: bool = True) -> tuple[Any, float]:
    """Run ``notebook`` in the test kernel with ``cwd`` as its working directory.

    ``jupyter_root`` is an empty folder for the kernelspec. Returns the executed notebook (not
    saved) and the seconds it took. With ``allow_errors=False`` a failing cell raises
    ``nbclient.exceptions.CellExecutionError``.
    """
    import nbclient
    import nbformat

    write_kernelspec(jupyter_root)
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(jupyter_root)
    try:
        read: Any = nbformat.read  # untyped
        nb = read(notebook, as_version=4)
        client = nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name=KERNEL, allow_errors=allow_errors,
            resources={"metadata": {"path": str(cwd)}},
        )
        t0 = time.monotonic()
        client.execute()
        return nb, time.monotonic() - t0
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


def cell(nb: Any, tag: str) -> Any:
    """The first cell whose metadata tags include ``tag``."""
    for c in nb.cells:
        if tag in c.get("metadata", {}).get("tags", []):
            return c
    raise AssertionError(f"no cell tagged {tag!r}")


def stdout(c: Any) -> str:
    return "".join(o.text for o in c.outputs if o.output_type == "stream" and o.name == "stdout")


def stderr(c: Any) -> str:
    return "".join(o.text for o in c.outputs if o.output_type == "stream" and o.name == "stderr")


def data(c: Any, mime: str) -> list[str]:
    """The ``mime`` payloads of a cell's display and result outputs."""
    return [o.data[mime] for o in c.outputs if mime in o.get("data", {})]


def errors(nb: Any) -> list[tuple[str, Any]]:
    """``(source, output)`` of every error output, and of every ``heapprof: error`` line."""
    found = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        found += [(c.source, o) for o in c.outputs if o.output_type == "error"]
        if "heapprof: error" in stderr(c):
            found.append((c.source, stderr(c)))
    return found
