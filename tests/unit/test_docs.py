"""The README and docs/ say what the code does: paths they name exist, magic lines a reader
copies into a cell run, and the option tables of docs/notebooks.md match the magics' parsers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_magic_lines_hold_no_comments(doc: Path) -> None:
    # IPython passes a magic's whole line to it: a trailing "# note" becomes an argument and the
    # copied cell fails (for %load_ext, with a ModuleNotFoundError).
    bad = [line for block in _python_blocks(doc.read_text()) for line in block.splitlines()
           if line.startswith("%") and "#" in line]
    assert bad == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_repository_paths_exist(doc: Path) -> None:
    text = doc.read_text()
    named = set(re.findall(r"`((?:docs|notebooks|benchmarks|tests|native|heapprof_nb|fuzz)/"
                           r"[\w./-]*\w)`", text))
    named |= {m for m in re.findall(r"\]\(([\w./-]+)\)", text) if not m.startswith("http")}
    base = doc.parent
    missing = sorted(p for p in named
                     if not (base / p).exists() and not (REPO / p).exists())
    assert missing == []


def _documented_options(section: str) -> set[str]:
    """Options of the table rows (`| `--rate R` | ...`) in one section of docs/notebooks.md."""
    text = (REPO / "docs" / "notebooks.md").read_text()
    body = text.split(section, 1)[1].split("\n## ", 1)[0]
    return {m for m in re.findall(r"^\| `(-[-\w]+)", body, flags=re.M)}


def _parser_options(magic: str) -> set[str]:
    pytest.importorskip("IPython")
    from heapprof_nb.notebook.magics import HeapprofMagics

    parser = getattr(HeapprofMagics, magic).parser
    return {s for action in parser._actions for s in action.option_strings} - {"-h", "--help"}


@pytest.mark.parametrize("section, magic", [
    ("## `%%heapprof`: profile one cell", "heapprof"),
    ("## `%%heapprof_stats`: choose a rate", "heapprof_stats"),
])
def test_option_tables_match_the_magics(section: str, magic: str) -> None:
    assert _documented_options(section) == _parser_options(magic)


def test_readme_library_example_runs(tmp_path: Path) -> None:
    """The README's library block, with a ``run()`` that keeps 20 MB of small objects, runs as
    written and prints the site it allocated at the top."""
    from conftest import run_python

    text = (REPO / "README.md").read_text()
    section = text.split("## Library and command line", 1)[1]
    example = _python_blocks(section)[0]
    run = ("def run():\n"
           "    global keep\n"
           "    keep = [bytearray(1000) for _ in range(20_000)]\n")
    result = run_python(run + example, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    top = result.stdout.splitlines()[0]
    # run() or, before Python 3.12 inlined comprehensions, its <listcomp>
    assert "MiB ±" in top and re.search(r"\brun\b", top), result.stdout
    for name in ("run.hpnb", "temporaries.html", "peak.pb.gz"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_the_architecture_picture_names_real_folders() -> None:
    """docs/architecture.md draws the data flow hooks -> log -> digest -> model -> views ->
    notebook/cli, each box naming its folder: every folder it names exists, and every stage is
    drawn."""
    text = (REPO / "docs" / "architecture.md").read_text()
    picture = re.findall(r"```\n(.*?)```", text, flags=re.S)[0]
    folders = set(re.findall(r"\b((?:native|heapprof_nb)/(?:[\w]+/)*)", picture))
    assert {"native/", "native/digest/", "heapprof_nb/digest/", "heapprof_nb/views/",
            "heapprof_nb/notebook/"} <= folders
    assert sorted(f for f in folders if not (REPO / f).is_dir()) == []
    stages = ["hooks", "log", "digest", "model", "views", "notebook / cli"]
    assert all(re.search(rf"│ {re.escape(s)} ", picture) for s in stages), stages
