"""Flow graph: the numbers of flow_model, the Digraph built from them, and dot rendering."""

from __future__ import annotations

import math
import re
import shutil
import sys

import pytest

from heapprof_nb.views import graph
from heapprof_nb.digest.model import Frame, Snapshot, StackStat

M = Frame("/app/main.py", "<module>", 1)
A = Frame("/app/main.py", "load", 10)
B = Frame("/usr/lib/python3.11/site-packages/pandas/io.py", "read_csv", 200)
C = Frame("/app/main.py", "parse", 20)
R = Frame("/app/main.py", "rec", 30)
X = Frame("/app/main.py", "helper", 40)


def known() -> Snapshot:
    return Snapshot(
        [
            StackStat((B, A, M), 6000, 6, 3),
            StackStat((C, A, M), 3000, 3, 2),
            StackStat((A, M), 1000, 1, 1),
            StackStat((R, R, R, M), 500, 1, 1),  # direct recursion
            StackStat((B, A, X, A, M), 400, 1, 1),  # load appears twice
        ],
        title="known",
    )


def edge_bytes(model: graph.FlowModel) -> dict[tuple[str, str], float]:
    return {(e.caller, e.callee): e.bytes for e in model.edges}


def test_self_cumulative_and_edges() -> None:
    m = graph.flow_model(known(), threshold=0, collapse=False)
    assert m.total == 10900 and m.scale == 10900
    self_ = {n.key: n.self_bytes for n in m.nodes}
    cum = {n.key: n.cum_bytes for n in m.nodes}
    assert self_ == {M.label: 0, A.label: 1000, B.label: 6400, C.label: 3000, R.label: 500, X.label: 0}
    # recursion counted once per stack: load's cumulative is not 10,800
    assert cum == {
        M.label: 10900, A.label: 10400, B.label: 6400, C.label: 3000, R.label: 500, X.label: 400
    }
    assert edge_bytes(m) == {
        (M.label, A.label): 10400,
        (A.label, B.label): 6400,
        (A.label, C.label): 3000,
        (M.label, R.label): 500,
        (A.label, X.label): 400,
        (X.label, A.label): 400,
    }  # no rec -> rec self edge
    assert not any(e.residual for e in m.edges)
    # nodes largest first
    assert [n.key for n in m.nodes][:2] == [M.label, A.label]
    assert m.node(B.label).labels == (B.label,)
    edge = m.edge(A.label, B.label)
    assert edge is not None and edge.bytes == 6400


def test_flow_invariants() -> None:
    m = graph.flow_model(known(), threshold=0, collapse=False)
    out: dict[str, float] = {}
    for e in m.edges:
        out[e.caller] = out.get(e.caller, 0.0) + e.bytes
        assert e.bytes <= m.node(e.caller).cum_bytes and e.bytes <= m.node(e.callee).cum_bytes
    for n in m.nodes:
        assert n.cum_bytes >= out.get(n.key, 0.0), n.key
        assert n.cum_bytes >= n.self_bytes
        if n.key in (M.label, B.label, C.label):  # not on a cycle: bytes in = self + out
            assert n.cum_bytes == n.self_bytes + out.get(n.key, 0.0)
    assert m.roots == {M.label: 10900}
    assert math.isclose(sum(m.roots.values()), known().total)


def test_pruning_reports_what_is_hidden() -> None:
    m = graph.flow_model(known(), threshold=0.05, collapse=False)  # 5% of 10,900 = 545 B
    assert {n.key for n in m.nodes} == {M.label, A.label, B.label, C.label}
    assert m.hidden_nodes == 2  # rec (500) and helper (400)
    assert m.hidden_bytes == 500  # what those locations allocated themselves
    # load -> helper -> load collapses to load once helper is hidden: no self edge appears
    assert edge_bytes(m) == {
        (M.label, A.label): 10400,
        (A.label, B.label): 6400,
        (A.label, C.label): 3000,
    }
    assert math.isclose(sum(m.roots.values()), m.total)  # roots are counted before pruning
    g = graph.flow_graph(known(), threshold=0.05, collapse=False)
    assert "2 nodes below 5% (500 B) hidden" in g.source


def test_residual_edges_through_hidden_frames() -> None:
    tiny = Frame("/app/glue.py", "glue", 5)
    snap = Snapshot(
        [StackStat((B, tiny, M), 50, 1, 1), StackStat((B, A, M), 1000, 1, 1)]
        + [StackStat((B, Frame("/app/g.py", f"g{i}", i), M), 50, 1, 1) for i in range(10)]
    )
    m = graph.flow_model(snap, threshold=0.1, collapse=False)
    assert {n.key for n in m.nodes} == {M.label, A.label, B.label}
    edges = {(e.caller, e.callee): e for e in m.edges}
    residual = edges[(M.label, B.label)]
    assert residual.residual and residual.bytes == 550
    assert not edges[(M.label, A.label)].residual
    g = graph.flow_graph(snap, threshold=0.1, collapse=False)
    assert "dashed" in g.source and "calls through hidden frames" in g.source


def test_max_nodes() -> None:
    m = graph.flow_model(known(), threshold=0, max_nodes=2, collapse=False)
    assert [n.key for n in m.nodes] == [M.label, A.label]
    assert m.hidden_nodes == 4
    assert m.hidden_bytes == 6400 + 3000 + 500


def test_chains_collapse() -> None:
    P = Frame("/app/p.py", "p", 1)
    Q = Frame("/app/q.py", "q", 2)
    L = Frame("/app/l.py", "leaf", 3)
    Z = Frame("/app/z.py", "z", 4)
    snap = Snapshot([StackStat((L, Q, P, M), 1000, 1, 1), StackStat((Z, M), 1000, 1, 1)])
    m = graph.flow_model(snap, threshold=0)
    assert m.collapsed_chains == 1
    chain = m.node(Q.label)
    assert chain.frames == (P, Q, L) and chain.key == P.label
    assert chain.cum_bytes == 1000 and chain.self_bytes == 1000
    assert edge_bytes(m) == {(M.label, P.label): 1000, (M.label, Z.label): 1000}
    # a link that does not carry (almost) all of both ends is kept
    snap2 = Snapshot([StackStat((L, Q, P, M), 1000, 1, 1), StackStat((Q, P, M), 500, 1, 1),
                      StackStat((Z, M), 10, 1, 1)])
    m2 = graph.flow_model(snap2, threshold=0)
    assert m2.node(P.label).frames == (P, Q)
    assert m2.node(L.label).frames == (L,)
    assert edge_bytes(m2)[(P.label, L.label)] == 1000
    g = graph.flow_graph(snap, threshold=0)
    assert g.source.count("<B>") == 5  # <module>, z, and p, q, leaf in one box


def test_compare_to() -> None:
    before = Snapshot(
        [StackStat((B, A, M), 4000, 4, 2), StackStat((C, A, M), 5000, 5, 2), StackStat((A, M), 1000, 1, 1)]
    )
    m = graph.flow_model(known(), compare_to=before, threshold=0, collapse=False)
    assert m.compare
    assert m.total == 10900 - 10000
    b, c = m.node(B.label), m.node(C.label)
    assert (b.cum_bytes, b.base_cum) == (2400, 4000)
    assert (c.cum_bytes, c.base_cum) == (-2000, 5000)
    assert m.node(R.label).base_cum == 0
    assert edge_bytes(m)[(A.label, C.label)] == -2000
    assert math.isclose(sum(m.roots.values()), m.total)
    g = graph.flow_graph(known(), compare_to=before, threshold=0)
    src = g.source

    def fill(label_text: str) -> tuple[int, int, int]:
        line = next(x for x in src.splitlines() if f"<B>{label_text}</B>" in x)
        colour = re.search(r'fillcolor="#([0-9a-f]{6})"', line)
        assert colour
        h = colour.group(1)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)

    r, _, bl = fill("read_csv")
    assert r > bl  # grew: red
    r, _, bl = fill("parse")
    assert bl > r  # shrank: blue
    assert "+2.3 KiB" in src and "-2.0 KiB" in src


def test_missing_python_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match="pip install graphviz"):
        graph.flow_graph(known())
    # the model needs no graphviz
    assert graph.flow_model(known()).nodes


def test_missing_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph.shutil, "which", lambda _name: None)
    with pytest.raises(RuntimeError) as err:
        graph.render_svg("digraph { a -> b }")
    for hint in ("apt-get install graphviz", "conda install graphviz", "brew install graphviz"):
        assert hint in str(err.value)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        graph.flow_model(known(), threshold=1.5)
    with pytest.raises(ValueError):
        graph.flow_model(known(), max_nodes=0)
    with pytest.raises(TypeError):
        graph.flow_model(known(), compare_to="nope")  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")
def test_render_svg() -> None:
    odd = Frame("C:\\app\\odd \"quoted\".py", "<lambda>", 3)
    bad = Frame("/app/caf\udce9.py", "undecodable", 4)
    snap = Snapshot(
        list(known().entries) + [StackStat((odd, M), 3000, 1, 1), StackStat((bad, M), 2000, 1, 1)],
        title="a <title>",
    )
    svg = graph.render_svg(graph.flow_graph(snap))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    for text in ("read_csv", "load", "parse", "&lt;module&gt;", "&lt;lambda&gt;", "a &lt;title&gt;",
                 "undecodable"):
        assert text in svg, text
    # the Snapshot method builds the same graph
    assert "read_csv" in graph.render_svg(snap.flow_graph(threshold=0.02))
    # DOT text is accepted too
    assert "<svg" in graph.render_svg("digraph { a -> b }")
