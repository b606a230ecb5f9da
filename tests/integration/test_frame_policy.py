"""The frame policy on a real notebook run: a cell profiled in a real kernel (nbclient), then
every view of its profile written out. By default no frame of the kernel's machinery (IPython,
ipykernel, tornado, asyncio's loop, importlib's bootstrap, heapprof_nb) is in any of them and
every frame of the user's own code is; with ``all_frames=True`` the machinery is back."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("graphviz")

from .nbexec import execute, stderr  # noqa: E402

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

MACHINERY = re.compile(r"IPython[/\\]|ipykernel[/\\_]|tornado[/\\]|asyncio[/\\]|importlib"
                       r"|heapprof_nb[/\\]|runpy")

HELPER = "KEPT = [bytes(700) for _ in range(3000)]\n"

PROFILED = (
    "%%heapprof --rate 1 --no-view --as prof\n"
    "import policy_helper\n"
    "def build(n):\n"
    "    return [bytearray(1000) for _ in range(n)]\n"
    "keep = build(3000)\n"
)

# Every view of the profile's whole run, as text, into view-<name>-<default|all>.txt.
WRITE_VIEWS = r'''
import gzip, json
from heapprof_nb.views.flame import flame_tree
from heapprof_nb.views.frames import shown
from heapprof_nb.views.table import sites_table

def tree_text(node):
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        out.append(n["name"] + " @ " + n["location"])
        todo.extend(n["children"])
    return "\n".join(out)

snap = prof.window(0.0, prof.duration).allocated_kept
for mode, everything in (("default", False), ("all", True)):
    views = {
        "flame": tree_text(flame_tree(shown(snap, everything))) + snap.flame_html(all_frames=everything),
        "flow": str(snap.flow_graph(all_frames=everything).source),
        "top": "\n".join(s.label for s in snap.top(1000, all_frames=everything)),
        "statistics": "\n".join(f.label for s in snap.statistics("traceback", all_frames=everything)
                                for f in s.key),
        "table": sites_table(shown(snap, everything), 1000),
        "collapsed": snap.collapsed(all_frames=everything),
        "speedscope": snap.speedscope_json(all_frames=everything),
    }
    snap.write_pprof(f"policy-{mode}.pb.gz", all_frames=everything)
    with gzip.open(f"policy-{mode}.pb.gz") as f:
        views["pprof"] = f.read().decode("utf-8", "replace")
    view = prof.view(interactive=False, all_frames=everything)
    view.wait(120)
    view.select(0.0, prof.duration)
    view.measure = "allocated_kept"
    views["view"] = view.flame_html + view.table_html + view.flow_html(timeout=120)
    views["view-collapsed"] = open(view.save_collapsed(f"policy-{mode}.txt")).read()
    view.close()
    for name, text in views.items():
        with open(f"view-{name}-{mode}.txt", "w") as f:
            f.write(text)
print("views written")
'''


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    cwd = tmp_path_factory.mktemp("cwd")
    (cwd / "policy_helper.py").write_text(HELPER)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s)
                for s in ("%load_ext heapprof_nb", PROFILED, WRITE_VIEWS)]
    path = cwd / "policy.ipynb"
    nbformat.write(nb, path)
    executed, _ = execute(path, tmp_path_factory.mktemp("jupyter"), cwd, allow_errors=False)
    assert "views written" in "".join(o.get("text", "") for o in executed.cells[2].outputs), \
        stderr(executed.cells[2])
    return executed, cwd


NAMES = ("flame", "flow", "top", "statistics", "table", "collapsed", "speedscope", "pprof",
         "view", "view-collapsed")


def _text(cwd: Path, name: str, mode: str) -> str:
    return (cwd / f"view-{name}-{mode}.txt").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_no_machinery_in_a_default_view(views: tuple[Any, Path], name: str) -> None:
    text = _text(views[1], name, "default")
    assert MACHINERY.findall(text) == [], name


@pytest.mark.parametrize("name", NAMES)
def test_the_users_frames_are_all_there(views: tuple[Any, Path], name: str) -> None:
    nb, cwd = views
    n = nb.cells[1].execution_count
    text = _text(cwd, name, "default")
    if name in ("top", "table", "pprof"):  # sites, not stacks: the allocating lines
        wanted = [f"In [{n}], line 4", "policy_helper.py"]
        if name == "pprof":  # names and files apart: the function, and the cell as the file
            wanted = ["build", f"In [{n}]", "policy_helper.py"]
    else:
        wanted = [f"In [{n}], line 2", f"In [{n}], line 4", f"In [{n}], line 5",
                  "policy_helper.py"]
    missing = [w for w in wanted if w not in text]
    assert missing == [], name


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("top", "table")])
def test_all_frames_brings_the_machinery_back(views: tuple[Any, Path], name: str) -> None:
    text = _text(views[1], name, "all")
    found = set(MACHINERY.findall(text))
    assert "importlib" in found, name  # the cell's import
    assert found & {"IPython/", "ipykernel/", "ipykernel_", "heapprof_nb/"}, name  # the kernel


def test_the_speedscope_frames_of_the_default_view(views: tuple[Any, Path]) -> None:
    doc = json.loads(_text(views[1], "speedscope", "default"))
    files = {f.get("file", "") for f in doc["shared"]["frames"]}
    assert not [f for f in files if MACHINERY.search(f)]


def test_the_pprof_file_is_a_gzip_of_the_same_profile(views: tuple[Any, Path]) -> None:
    with gzip.open(views[1] / "policy-default.pb.gz") as f:
        assert b"policy_helper.py" in f.read()
