"""Flame graph renderers: the HTML fragment's embedded tree, folded stacks, speedscope."""

from __future__ import annotations

import json
import json.scanner
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from heapprof_nb.views import exports, flame
from heapprof_nb.digest.model import Frame, Snapshot, StackStat

from .frames import CELL, LOAD, MOD, PARSE, READ, REC


def known() -> Snapshot:
    return Snapshot(
        [
            StackStat((READ, LOAD, MOD), 6000.4, 6, 3),
            StackStat((PARSE, LOAD, MOD), 3000, 3, 2),
            StackStat((LOAD, MOD), 1000, 1, 1),
            StackStat((REC, REC, REC, MOD), 500, 1, 1),
            StackStat((LOAD, CELL), 200, 1, 1),
            StackStat((), 100, 1, 1),
        ],
        title="live at 1.0 s",
    )


DATA_RE = re.compile(
    r'<script type="application/json" class="hpnb-flame-data">(.*?)</script>', re.S
)


def tree_of(html: str) -> dict[str, Any]:
    found = DATA_RE.findall(html)
    assert len(found) == 1
    # json's pure-Python scanner: its recursion follows sys.setrecursionlimit, while the C
    # scanner's is capped by the C recursion limit on 3.12+ (too shallow for test_deep_stack).
    decoder = json.JSONDecoder()
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    tree: dict[str, Any] = decoder.decode(found[0])
    return tree


def walk(node: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    todo = [(path, node)]
    while todo:
        p, n = todo.pop()
        yield p, n
        for c in n["children"]:
            todo.append((p + (c["name"],), c))


def child(node: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [c for c in node["children"] if c["name"] == name]
    assert len(matches) == 1, (name, [c["name"] for c in node["children"]])
    return matches[0]


def check_sums(tree: dict[str, Any]) -> None:
    for _, n in walk(tree):
        assert set(n) >= {"name", "location", "bytes", "children"}
        assert isinstance(n["bytes"], int) and n["bytes"] >= 0
        assert sum(c["bytes"] for c in n["children"]) <= n["bytes"], n["name"]


# -------------------------------------------------------------------------------------------
# flame_html


def test_embedded_tree_sums_and_names() -> None:
    snap = known()
    tree = tree_of(flame.flame_html(snap))
    assert tree["name"] == "all"
    assert tree["bytes"] == round(snap.total) == 10800
    check_sums(tree)
    mod = child(tree, MOD.label)
    assert mod["bytes"] == 10500
    load = child(mod, LOAD.label)
    assert load["bytes"] == 10000
    assert load["location"] == "/app/main.py:10" and load["function"] == "load"
    assert child(load, READ.label)["bytes"] == 6000
    assert child(load, PARSE.label)["bytes"] == 3000
    # largest child first
    assert [c["name"] for c in load["children"]] == [READ.label, PARSE.label]
    # recursion is a path, not merged: three nested rec frames
    rec = child(mod, REC.label)
    assert child(child(rec, REC.label), REC.label)["bytes"] == 500
    # notebook cell: labelled as the cell, source line kept
    cell = child(tree, "In [3], line 2")
    assert cell["source"] == "df = load('x.csv')" and cell["bytes"] == 200
    assert child(cell, LOAD.label)["bytes"] == 200
    assert child(tree, "<no Python frame>")["bytes"] == 100


def test_identical_frames_merge_under_the_same_parent() -> None:
    twin = Frame("/app/main.py", "load", 10)  # equal to LOAD, another object
    snap = Snapshot(
        [
            StackStat((READ, LOAD, MOD), 100, 1, 1),
            StackStat((PARSE, twin, Frame("/app/main.py", "<module>", 1)), 50, 1, 1),
        ]
    )
    tree = tree_of(flame.flame_html(snap))
    mod = child(tree, MOD.label)
    load = child(mod, LOAD.label)
    assert load["bytes"] == 150
    assert {c["name"] for c in load["children"]} == {READ.label, PARSE.label}


def test_html_is_self_contained() -> None:
    html = flame.flame_html(known())
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"\b(src|href)\s*=", html)
    assert "@import" not in html and "url(" not in html
    assert html.startswith("<div id=\"hpnb-flame-") and html.endswith("</div>")
    uid = re.match(r'<div id="(hpnb-flame-[0-9a-f]+)"', html)
    assert uid
    # styles scoped to this fragment, themes for the OS, JupyterLab and VS Code
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style
    assert f"#{uid.group(1)}" in style.group(1)
    assert "prefers-color-scheme: dark" in style.group(1)
    assert 'body[data-jp-theme-light="false"]' in style.group(1)
    assert 'body[data-jp-theme-light="true"]' in style.group(1)
    for rule in re.findall(r"([^{}]+)\{[^{}]*\}", style.group(1)):
        assert all(uid.group(1) in sel for sel in rule.split(",")), rule
    # a fresh id per call so two graphs in one notebook do not collide
    assert flame.flame_html(known()).split('"')[1] != uid.group(1)


def test_script_close_in_a_name_is_escaped() -> None:
    evil = Frame("/app/x.py", "</script><script>alert('pwned')</script>", 1)
    html = flame.flame_html(
        Snapshot([StackStat((evil, MOD), 10, 1, 1)]), title="<b>title & co</b>"
    )
    # exactly the two closing tags of our own scripts
    assert html.count("</script>") == 2
    assert "<script>alert" not in html
    assert "&lt;b&gt;title &amp; co&lt;/b&gt;" in html
    tree = tree_of(html)
    assert child(child(tree, MOD.label), evil.label)["function"] == evil.function


def test_undecodable_names_survive_utf8() -> None:
    odd = Frame("/app/caf\udce9.py", "f\ud800", 1)  # lone surrogates from undecodable names
    snap = Snapshot([StackStat((odd, MOD), 10, 1, 1)])
    page = flame.flame_page(snap)
    page.encode("utf-8")  # a notebook or a saved file is UTF-8
    assert child(child(tree_of(page), MOD.label), odd.label)["function"] == "f\ud800"
    exports.speedscope_json(snap).encode("utf-8")
    assert all(ord(c) < 128 for c in tree_of_text(page))


def tree_of_text(html: str) -> str:
    found = DATA_RE.findall(html)
    return str(found[0])


def test_header_and_data_attributes() -> None:
    html = flame.flame_html(known())
    assert "live at 1.0 s" in html
    assert 'data-total="10800"' in html
    assert "10.5 KiB" in html  # 10800 B, human
    assert 'data-shrank-stacks="0"' in html


def test_negative_bytes_are_not_drawn_but_reported() -> None:
    growth = Snapshot(
        [
            StackStat((READ, LOAD, MOD), 4096, 4, 2),
            StackStat((PARSE, LOAD, MOD), -2048, -2, 1),
            StackStat((REC, MOD), -1024, -1, 1),
        ],
        title="growth",
    )
    html = flame.flame_html(growth)
    tree = tree_of(html)
    assert tree["bytes"] == 4096
    check_sums(tree)
    names = {n["name"] for _, n in walk(tree)}
    assert PARSE.label not in names and REC.label not in names
    assert 'data-shrank-bytes="3072"' in html and 'data-shrank-stacks="2"' in html
    assert "2 stacks that shrank (-3.0 KiB)" in html
    # the other side: what shrank, sized by how much
    shrank = tree_of(flame.flame_html(growth, negative=True))
    assert shrank["bytes"] == 3072
    assert child(child(shrank, MOD.label), LOAD.label)["bytes"] == 2048


def test_small_frames_are_folded_with_their_bytes() -> None:
    big = Frame("/app/big.py", "big", 1)
    entries = [StackStat((big, MOD), 100_000, 1, 1)]
    tiny = [Frame("/app/tiny.py", f"t{i}", i) for i in range(40)]
    entries += [StackStat((Frame("/app/leaf.py", "leaf", 1), t, MOD), 10, 1, 1) for t in tiny]
    snap = Snapshot(entries)
    tree = flame.flame_tree(snap)  # threshold 0.1% of 100,400 = 100.4 B
    check_sums(tree)
    mod = child(tree, MOD.label)
    small = mod["children"][-1]
    assert small["name"] == "(40 small frames)" and small["small"] == 40
    assert small["bytes"] == 400
    assert mod["bytes"] == tree["bytes"] == 100_400
    assert [c["name"] for c in mod["children"]] == [big.label, "(40 small frames)"]
    # no pruning asked: every frame is there
    full = flame.flame_tree(snap, min_share=0)
    assert len(child(full, MOD.label)["children"]) == 41


def test_rounding_keeps_sums_exact() -> None:
    rnd = random.Random(7)
    frames = [Frame("/app/f.py", f"f{i}", i) for i in range(30)]
    entries = []
    for _ in range(500):
        stack = tuple(rnd.sample(frames, rnd.randint(1, 6))) + (MOD,)
        entries.append(StackStat(stack, rnd.uniform(0.2, 5000.0), 1, 1))
    snap = Snapshot(entries)
    tree = flame.flame_tree(snap, min_share=0)
    assert tree["bytes"] == round(snap.total)
    check_sums(tree)
    # a leaf-and-self decomposition adds up exactly
    self_total = sum(n["bytes"] - sum(c["bytes"] for c in n["children"]) for _, n in walk(tree))
    assert self_total == tree["bytes"]


def test_empty_snapshot() -> None:
    html = flame.flame_html(Snapshot([], title="nothing"))
    tree = tree_of(html)
    assert tree["bytes"] == 0 and tree["children"] == []


def test_deep_stack() -> None:
    depth = 1200
    stack = tuple(Frame("/app/deep.py", "f", i) for i in range(depth))
    html = flame.flame_html(Snapshot([StackStat(stack, 64, 1, 1)]))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10 * depth))
    try:
        tree = tree_of(html)
    finally:
        sys.setrecursionlimit(old)
    n, levels = tree, 0
    while n["children"]:
        n = n["children"][0]
        levels += 1
    assert levels == depth and n["bytes"] == 64


def test_flame_page_and_snapshot_methods(tmp_path: Path) -> None:
    page = flame.flame_page(known())
    assert page.startswith("<!DOCTYPE html>") and "<meta charset=\"utf-8\">" in page
    assert "hpnb-flame-data" in page and page.rstrip().endswith("</html>")
    (tmp_path / "flame.html").write_text(page, encoding="utf-8")
    snap = known()
    assert "hpnb-flame-data" in snap.flame_html(title="x")
    assert snap.collapsed() == exports.collapsed(snap)
    assert json.loads(snap.speedscope_json())["profiles"][0]["unit"] == "bytes"


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_script_draws_frames_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "flame.html"
    page.write_text(flame.flame_page(known()), encoding="utf-8")
    proc = subprocess.run(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,800",
            "--virtual-time-budget=2000", "--dump-dom", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )
    dom = proc.stdout
    assert 'data-hpnb-ready="1"' in dom, proc.stderr[-2000:]
    bars = re.findall(r'<div class="hpnb-f[^"]*"[^>]*>', dom)
    names = {html_unescape(m) for b in bars for m in re.findall(r'data-name="([^"]*)"', b)}
    assert {"all", MOD.label, LOAD.label, READ.label, "In [3], line 2"} <= names
    assert all("data-bytes=" in b for b in bars)
    assert 'class="hpnb-nojs' not in dom  # the fallback text goes once the script runs


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


# -------------------------------------------------------------------------------------------
# collapsed


def parse_folded(text: str) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for line in text.splitlines():
        stack, count = line.rsplit(" ", 1)
        key = tuple(stack.split(";"))
        assert key not in out
        out[key] = int(count)
    return out


def test_collapsed_round_trip() -> None:
    snap = known()
    text = exports.collapsed(snap)
    assert text.endswith("\n")
    folded = parse_folded(text)
    assert sum(folded.values()) == round(snap.total)
    assert folded[(MOD.label, LOAD.label, READ.label)] == 6000
    assert folded[(MOD.label, REC.label, REC.label, REC.label)] == 500
    assert folded[("In [3], line 2", LOAD.label)] == 200
    assert folded[("<no Python frame>",)] == 100
    assert text.splitlines() == sorted(text.splitlines())


def test_collapsed_sanitises_labels_and_skips_negatives() -> None:
    odd = Frame("/app/a;b.py", "f\nnew;line", 3)
    snap = Snapshot(
        [StackStat((odd, MOD), 1234.6, 1, 1), StackStat((LOAD, MOD), -500, -1, 1)]
    )
    text = exports.collapsed(snap)
    assert text.count("\n") == 1
    (line,) = text.splitlines()
    stack, count = line.rsplit(" ", 1)
    assert count == "1235"
    assert stack.split(";") == [MOD.label, "f new,line (/app/a,b.py:3)"]
    assert parse_folded(exports.collapsed(snap, negative=True)) == {(MOD.label, LOAD.label): 500}


# -------------------------------------------------------------------------------------------
# speedscope


def check_speedscope(doc: dict[str, Any]) -> dict[str, Any]:
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = doc["shared"]["frames"]
    assert all(isinstance(f["name"], str) for f in frames)
    (profile,) = doc["profiles"]
    assert profile["type"] == "sampled" and profile["unit"] == "bytes"
    assert len(profile["samples"]) == len(profile["weights"])
    for stack in profile["samples"]:
        assert stack and all(0 <= i < len(frames) for i in stack)
    assert all(isinstance(w, int) and w > 0 for w in profile["weights"])
    assert profile["startValue"] == 0 and profile["endValue"] == sum(profile["weights"])
    return profile  # type: ignore[no-any-return]


def test_speedscope_structure() -> None:
    snap = known()
    doc = json.loads(exports.speedscope_json(snap))
    profile = check_speedscope(doc)
    assert profile["endValue"] == round(snap.total)
    assert profile["name"] == "live at 1.0 s"
    frames = doc["shared"]["frames"]
    # samples are root first
    stacks = {
        tuple(frames[i]["name"] for i in s): w for s, w in zip(profile["samples"], profile["weights"])
    }
    assert stacks[("<module>", "load", "read_csv")] == 6000
    assert stacks[("In [3], line 2", "load")] == 200
    read = next(f for f in frames if f["name"] == "read_csv")
    assert read == {"name": "read_csv", "file": READ.filename, "line": 200}
    cell = next(f for f in frames if f["name"] == "In [3], line 2")
    assert cell["file"] == "In [3]"
    # frames are shared, not repeated
    assert len(frames) == len({json.dumps(f, sort_keys=True) for f in frames})


# -------------------------------------------------------------------------------------------
# speed


def big_snapshot(n: int = 50_000, depth: int = 20, seed: int = 1) -> Snapshot:
    """``n`` distinct stacks of depth ``depth`` +- 5 through a branching call tree."""
    rnd = random.Random(seed)
    pool = [
        Frame(f"/usr/lib/python3.11/site-packages/pkg{i % 50}/mod{i % 300}.py", f"func_{i}", i % 997 + 1)
        for i in range(3000)
    ]
    prefix = [Frame("/home/u/app.py", "<module>", 1), Frame("/home/u/app.py", "main", 10),
              Frame("/home/u/app.py", "run", 20)]
    seen: set[tuple[int, ...]] = set()
    entries = []
    while len(entries) < n:
        stack = list(prefix)
        h = 0
        for k in range(rnd.randint(depth - 5, depth + 5) - len(prefix)):
            h = (h * 31 + rnd.randrange(2 + k)) % len(pool)
            stack.append(pool[h])
        key = tuple(id(f) for f in stack)
        if key in seen:
            continue
        seen.add(key)
        entries.append(StackStat(tuple(reversed(stack)), rnd.expovariate(1 / 4096), 1.0, 1))
    return Snapshot(entries, title="50k stacks")


def test_speed_50k_stacks() -> None:
    snap = big_snapshot()
    wall = cpu = float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        html = flame.flame_html(snap)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    tree = tree_of(html)
    nodes = sum(1 for _ in walk(tree))
    print(
        f"\nflame_html, 50,000 stacks of depth ~20: {wall * 1000:.0f} ms wall, "
        f"{cpu * 1000:.0f} ms CPU (best of 3), {len(html) / 1e6:.2f} MB, {nodes} nodes"
    )
    assert tree["bytes"] == round(snap.total)
    check_sums(tree)
