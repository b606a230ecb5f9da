"""The flow graph of a ``Snapshot``: one node per code location, edges along calls.

heapprof's flow graph, kept and fixed where it went wrong:

- a node is a code location (``Frame.label``: function, file, line), shared by every stack
  through it; its *self* bytes were allocated on that line, its *cumulative* bytes are those of
  every stack that passes through it. A location that appears several times in one stack
  (recursion) counts that stack once (heapprof counted it once per appearance);
- an edge ``caller -> callee`` carries the bytes of the stacks in which that call appears,
  again once per stack, so no edge is heavier than either end's cumulative bytes. Without
  recursion a node's cumulative bytes are exactly its self bytes plus its out-edges; with
  recursion the same bytes can go round a cycle, and the out-edges may add up to more;
- locations below ``threshold`` of the total, beyond ``max_nodes``, and edges below
  ``threshold`` (except the heaviest edge into each node) are hidden, and what was hidden is
  said in the graph's label. Calls that went through hidden locations are drawn as dashed
  "residual" edges between the visible ends (pprof's idea), so the picture stays connected;
- chains ``a -> b -> c`` where each link is the only way out of its caller and the only way
  into its callee, carrying (almost) all of both, are collapsed into one box that lists them;
- ``compare_to=other`` draws the difference ``snapshot - other``: red for growth, blue for
  shrinking, labels with ``+``/``-`` bytes.

``flow_model`` computes all the numbers (tests use it without graphviz); ``flow_graph`` turns the
model into a ``graphviz.Digraph``; ``render_svg`` runs ``dot -Tsvg``.
"""

from __future__ import annotations

import html
import math
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import add, mul
from typing import TYPE_CHECKING, Any, Sequence

from .._units import format_bytes
from ..digest.model import Frame, Snapshot
from .frames import KIND_OTHER, NO_FRAME, Labels, kind, short_name
from .frames import label as frame_label

if TYPE_CHECKING:
    import graphviz

__all__ = ["FlowNode", "FlowEdge", "FlowModel", "flow_model", "flow_graph", "render_svg"]

_CHAIN_SHARE = 0.99  # a link is collapsed when it carries at least this share of both ends

_DOT_MISSING = (
    "the graphviz 'dot' program was not found on PATH; install Graphviz: "
    "`apt-get install graphviz` (Debian/Ubuntu), `conda install graphviz` (conda) or "
    "`brew install graphviz` (macOS)"
)


@dataclass(frozen=True, slots=True)
class FlowNode:
    """One box of the flow graph: a code location, or a collapsed chain of them.

    ``frames`` lists the locations caller first (one unless a chain was collapsed); ``key`` is
    the label of the first. ``self_bytes`` is the bytes allocated in these frames,
    ``cum_bytes`` the bytes of every stack through the first frame, counted once per stack. In
    compare mode both are differences (this snapshot minus the other), and ``base_self`` /
    ``base_cum`` hold the other snapshot's values (``None`` otherwise).
    """

    key: str
    frames: tuple[Frame, ...]
    self_bytes: float
    cum_bytes: float
    base_self: float | None = None
    base_cum: float | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(map(frame_label, self.frames))


@dataclass(frozen=True, slots=True)
class FlowEdge:
    """Bytes flowing along calls from ``caller`` to ``callee`` (node keys).

    ``residual`` edges stand for calls that passed through hidden locations only.
    """

    caller: str
    callee: str
    bytes: float
    residual: bool = False
    base_bytes: float | None = None


@dataclass(slots=True)
class FlowModel:
    """The numbers behind a flow graph.

    ``total`` is the snapshot's total (the difference in compare mode) and ``scale`` the
    denominator of every share: the sum of ``|self bytes|`` over all locations (equal to
    ``total`` when no stack is negative). ``roots`` maps the outermost frame of each stack to
    the bytes of the stacks starting there, over all locations, before pruning (it adds up to
    ``total``). ``hidden_nodes``/``hidden_bytes`` count the hidden locations and the self bytes
    allocated in them; ``hidden_edges`` the edges between visible nodes that were too light.
    """

    nodes: list[FlowNode]
    edges: list[FlowEdge]
    total: float
    scale: float
    roots: dict[str, float]
    hidden_nodes: int
    hidden_bytes: float
    hidden_edges: int
    threshold: float
    compare: bool = False
    title: str = ""
    collapsed_chains: int = 0
    _by_label: dict[str, FlowNode] = field(default_factory=dict, repr=False)

    def node(self, label: str) -> FlowNode:
        """The visible node whose frames include ``label`` (``KeyError`` if hidden)."""
        if not self._by_label:
            for n in self.nodes:
                for lab in n.labels:
                    self._by_label[lab] = n
        return self._by_label[label]

    def edge(self, caller: str, callee: str) -> FlowEdge | None:
        """The edge between the nodes holding these labels, if it is drawn."""
        a, b = self.node(caller).key, self.node(callee).key
        for e in self.edges:
            if e.caller == a and e.callee == b:
                return e
        return None

    def share(self, value: float) -> float:
        return value / self.scale if self.scale else 0.0


# --------------------------------------------------------------------------------------------
# Accumulation


@dataclass(slots=True)
class _Totals:
    self_: defaultdict[int, float]
    cum: defaultdict[int, float]
    edges: defaultdict[tuple[int, int], float]
    roots: defaultdict[int, float]
    total: float


def _paths(snapshot: Snapshot, labels: Labels) -> list[tuple[list[int], float]]:
    out = []
    for e in snapshot.entries:
        if e.bytes == 0:
            continue
        keys = labels.indexes(e.stack) if e.stack else [labels.index(NO_FRAME)]
        out.append((keys, e.bytes))
    return out


def _accumulate(paths: Sequence[tuple[list[int], float]], n_loc: int) -> _Totals:
    self_: defaultdict[int, float] = defaultdict(float)
    cum: defaultdict[int, float] = defaultdict(float)
    codes: defaultdict[int, float] = defaultdict(float)  # caller * n_loc + callee -> bytes
    roots: defaultdict[int, float] = defaultdict(float)
    for keys, b in paths:  # keys are leaf first
        self_[keys[0]] += b
        roots[keys[-1]] += b
        if len(keys) == 1:
            cum[keys[0]] += b
            continue
        for li in set(keys):  # recursion: once per stack
            cum[li] += b
        # each (caller, callee) once per stack; a direct self-call is no edge
        for code in set(map(add, map(mul, keys[1:], repeat(n_loc)), keys)):
            codes[code] += b
    edges: defaultdict[tuple[int, int], float] = defaultdict(float)
    for code, b in codes.items():
        caller, callee = divmod(code, n_loc)
        if caller != callee:
            edges[(caller, callee)] = b
    return _Totals(self_, cum, edges, roots, math.fsum(b for _, b in paths))


def _visible_edges(
    paths: Sequence[tuple[list[int], float]], visible: set[int]
) -> tuple[defaultdict[tuple[int, int], float], set[tuple[int, int]], set[tuple[int, int]]]:
    """Edges between consecutive visible frames of each stack, once per stack.

    Returns the bytes per (caller, callee), the pairs seen as a direct call, and the pairs seen
    across hidden frames (a "residual" call).
    """
    weight: defaultdict[tuple[int, int], float] = defaultdict(float)
    direct: set[tuple[int, int]] = set()
    through: set[tuple[int, int]] = set()
    shown = visible.__contains__
    for keys, b in paths:
        where = list(compress(range(len(keys)), map(shown, keys)))  # visible positions
        if len(where) < 2:
            continue
        seen: set[tuple[int, int]] = set()
        last = where[0]
        callee = keys[last]
        for at in where[1:]:  # leaf to root
            li = keys[at]
            if li != callee:
                pair = (li, callee)
                if pair not in seen:
                    seen.add(pair)
                    weight[pair] += b
                (direct if at == last + 1 else through).add(pair)
                callee = li
            last = at
    return weight, direct, through


# --------------------------------------------------------------------------------------------
# The model


def flow_model(
    snapshot: Snapshot,
    *,
    threshold: float = 0.01,
    compare_to: Snapshot | None = None,
    max_nodes: int = 80,
    collapse: bool = True,
) -> FlowModel:
    """Nodes, edges and pruned totals of the flow graph of ``snapshot``.

    See the module docstring for what the numbers mean. ``threshold`` is a share of
    ``FlowModel.scale``: locations whose ``|cumulative bytes|`` and edges whose ``|bytes|`` fall
    below it are hidden (but the heaviest edge into each drawn node is kept), as are locations
    beyond the ``max_nodes`` largest. ``collapse=False`` keeps chains as separate nodes. With
    ``compare_to``, every number is ``snapshot - other``.
    """
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), not {threshold!r}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, not {max_nodes!r}")
    if compare_to is not None and not isinstance(compare_to, Snapshot):
        raise TypeError(f"compare_to needs a Snapshot, not {type(compare_to).__name__}")
    labels = Labels()
    paths = _paths(snapshot, labels)
    base_paths = _paths(compare_to, labels) if compare_to is not None else []
    n_loc = len(labels.labels)
    mine = _accumulate(paths, n_loc)
    base = _accumulate(base_paths, n_loc) if compare_to is not None else None

    def diff(a: dict[int, float], b: dict[int, float] | None, k: int) -> float:
        return a.get(k, 0.0) - (b.get(k, 0.0) if b is not None else 0.0)

    self_d = [diff(mine.self_, base.self_ if base else None, k) for k in range(n_loc)]
    cum_d = [diff(mine.cum, base.cum if base else None, k) for k in range(n_loc)]
    roots_d = {
        labels.labels[k]: diff(mine.roots, base.roots if base else None, k)
        for k in set(mine.roots) | (set(base.roots) if base else set())
    }
    total = mine.total - (base.total if base else 0.0)
    scale = math.fsum(abs(v) for v in self_d)
    limit = threshold * scale

    ranked = sorted(
        (k for k in range(n_loc) if abs(cum_d[k]) >= limit and cum_d[k] != 0),
        key=lambda k: (-abs(cum_d[k]), labels.labels[k]),
    )
    visible = set(ranked[:max_nodes])
    hidden = [k for k in range(n_loc) if k not in visible]
    hidden_bytes = math.fsum(self_d[k] for k in hidden)
    hidden_nodes = sum(1 for k in hidden if self_d[k] != 0 or cum_d[k] != 0)

    weight, direct, through = _visible_edges(paths, visible)
    base_weight: dict[tuple[int, int], float] = {}
    if base is not None:
        base_weight, base_direct, base_through = _visible_edges(base_paths, visible)
        for pair, v in base_weight.items():
            weight[pair] -= v
        direct |= base_direct
        through |= base_through
    # An edge is drawn when it carries the threshold, or when it is the heaviest way into its
    # callee: a node fed by many light calls then still shows where most of it comes from.
    heaviest_in: dict[int, tuple[float, tuple[int, int]]] = {}
    for pair, w in weight.items():
        best = heaviest_in.get(pair[1])
        if w != 0 and (best is None or abs(w) > best[0] or (abs(w) == best[0] and pair < best[1])):
            heaviest_in[pair[1]] = (abs(w), pair)
    feeding = {pair for _, pair in heaviest_in.values()}
    edges_kept: dict[tuple[int, int], float] = {}
    hidden_edges = 0
    for pair, w in weight.items():
        if w != 0 and (abs(w) >= limit or pair in feeding):
            edges_kept[pair] = w
        elif w != 0 or pair in base_weight:
            hidden_edges += 1

    # Chains: a -> b where the link is a's only way out and b's only way in, and carries
    # (almost) all of both, and both ends allocate (almost) nothing else.
    succ: defaultdict[int, list[int]] = defaultdict(list)
    pred: defaultdict[int, list[int]] = defaultdict(list)
    for a, b in edges_kept:
        succ[a].append(b)
        pred[b].append(a)
    nxt: dict[int, int] = {}
    if collapse:
        for a, outs in succ.items():
            if len(outs) != 1:
                continue
            b = outs[0]
            w = abs(edges_kept[(a, b)])
            if (
                len(pred[b]) == 1
                and (a, b) not in through
                and w >= _CHAIN_SHARE * abs(cum_d[a])
                and w >= _CHAIN_SHARE * abs(cum_d[b])
                and (base is None or _chain_ok(base, a, b))
            ):
                nxt[a] = b
    linked = set(nxt.values())
    heads = [k for k in ranked[:max_nodes] if k not in linked]
    members: dict[int, list[int]] = {}
    owner: dict[int, int] = {}
    for h in heads:
        chain = [h]
        while chain[-1] in nxt and nxt[chain[-1]] not in chain:
            chain.append(nxt[chain[-1]])
        members[h] = chain
        for k in chain:
            owner[k] = h
    for k in ranked[:max_nodes]:  # a cycle made only of chain links: break it anywhere
        if k not in owner:
            chain = [k]
            while chain[-1] in nxt and nxt[chain[-1]] not in chain and nxt[chain[-1]] not in owner:
                chain.append(nxt[chain[-1]])
            members[k] = chain
            for m in chain:
                owner[m] = k
    collapsed_chains = sum(1 for c in members.values() if len(c) > 1)

    nodes = []
    for h, chain in members.items():
        nodes.append(
            FlowNode(
                key=labels.labels[h],
                frames=tuple(labels.frames[k] for k in chain),
                self_bytes=math.fsum(self_d[k] for k in chain),
                cum_bytes=cum_d[h],
                base_self=math.fsum(base.self_.get(k, 0.0) for k in chain) if base else None,
                base_cum=base.cum.get(h, 0.0) if base else None,
            )
        )
    nodes.sort(key=lambda n: (-abs(n.cum_bytes), n.key))
    merged: dict[tuple[int, int], list[float]] = {}
    for (a, b), w in edges_kept.items():
        ha, hb = owner[a], owner[b]
        if ha == hb:
            continue  # inside a chain
        acc = merged.setdefault((ha, hb), [0.0, 0.0, 0.0])
        acc[0] += w
        acc[1] += (a, b) in direct
        acc[2] += base_weight.get((a, b), 0.0)
    edges = [
        FlowEdge(
            caller=labels.labels[a],
            callee=labels.labels[b],
            bytes=w,
            residual=not n_direct,
            base_bytes=bw_ if base is not None else None,
        )
        for (a, b), (w, n_direct, bw_) in merged.items()
    ]
    edges.sort(key=lambda e: (-abs(e.bytes), e.caller, e.callee))
    return FlowModel(
        nodes=nodes,
        edges=edges,
        total=total,
        scale=scale,
        roots=roots_d,
        hidden_nodes=hidden_nodes,
        hidden_bytes=hidden_bytes,
        hidden_edges=hidden_edges,
        threshold=threshold,
        compare=compare_to is not None,
        title=snapshot.title,
        collapsed_chains=collapsed_chains,
    )


def _chain_ok(base: _Totals, a: int, b: int) -> bool:
    """In compare mode a link must also be a clean chain link in the base snapshot."""
    w = base.edges.get((a, b), 0.0)
    return abs(w) >= _CHAIN_SHARE * abs(base.cum.get(a, 0.0)) and abs(w) >= _CHAIN_SHARE * abs(
        base.cum.get(b, 0.0)
    )


# --------------------------------------------------------------------------------------------
# Drawing

# Sequential (light to dark orange-red) and diverging (blue - white - red) palettes, chosen for
# legibility with both dark and white text and for colour-blind readers (ColorBrewer).
_SEQUENTIAL = ["#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801",
               "#a63603", "#7f2704"]
_GROW = ["#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d",
         "#a50f15", "#67000d"]
_SHRINK = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5",
           "#08519c", "#08306b"]
_FONT = "Helvetica,Arial,sans-serif"


def _mix(palette: list[str], t: float) -> str:
    t = min(1.0, max(0.0, t))
    x = t * (len(palette) - 1)
    i = min(int(x), len(palette) - 2)
    f = x - i
    a, b = palette[i], palette[i + 1]
    rgb = [
        round(int(a[j : j + 2], 16) * (1 - f) + int(b[j : j + 2], 16) * f) for j in (1, 3, 5)
    ]
    return "#%02x%02x%02x" % tuple(rgb)


def _text_colour(fill: str) -> str:
    r, g, b = (int(fill[j : j + 2], 16) / 255 for j in (1, 3, 5))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    # white text when it contrasts better than near-black text
    return "#ffffff" if (1.05 / (lum + 0.05)) > ((lum + 0.05) / 0.0655) else "#1a1a1a"


def _intensity(share: float) -> float:
    """Map a share to palette position: small shares still visibly tinted, 50%+ darkest."""
    return min(1.0, 0.12 + 0.88 * math.sqrt(min(1.0, abs(share) * 2)))


def _short_path(filename: str) -> str:
    parts = filename.replace("\\", "/").rsplit("/", 2)
    return "/".join(parts[-2:]) if len(parts) > 1 else filename


def _frame_lines(frame: Frame) -> tuple[str, str]:
    """A box's two lines for a frame: its name, then where it is (the line's source for a cell's
    top level, which the name already places)."""
    name = short_name(frame)
    if kind(frame) == KIND_OTHER:
        return name, ""
    if frame.cell is not None:
        if name == frame.location:
            return name, (frame.source or "").strip()
        return name, frame.location
    return name, f"{_short_path(frame.filename)}:{frame.line}"


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _signed(v: float) -> str:
    return ("+" if v > 0 else "") + format_bytes(v)


def _pct(v: float, scale: float) -> str:
    if not scale:
        return "0%"
    p = 100 * v / scale
    return f"{p:.1f}%" if abs(p) >= 0.1 or p == 0 else f"{p:.2g}%"


def flow_graph(
    snapshot: Snapshot, *, title: str | None = None, **options: Any
) -> graphviz.Digraph:
    """The flow graph of ``snapshot`` as a ``graphviz.Digraph``: ``flow_model(snapshot,
    **options)`` drawn (``threshold``, ``compare_to``, ``max_nodes``, ``collapse``).

    Boxes show a location's self and cumulative bytes with their shares; fill colour and border
    follow the cumulative share (a sequential palette), font size the self share; edges are
    labelled with the bytes flowing along the call and their width and colour follow its share.
    With ``compare_to`` the colours diverge: red for growth, blue for shrinking. Render it with
    ``render_svg(graph)``, or in a notebook simply display it.
    """
    try:
        import graphviz
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "flow_graph needs the graphviz Python package: pip install graphviz "
            "(and the Graphviz 'dot' program to render it)"
        ) from exc
    model = flow_model(snapshot, **options)
    heading = title if title is not None else (snapshot.title or "Flow graph")
    scale = model.scale
    if model.compare:
        summary = f"change {_signed(model.total)} (red: grew, blue: shrank)"
    else:
        summary = f"total {format_bytes(model.total)}"
    note = _hidden_note(model)
    g = graphviz.Digraph(
        name="heapprof_flow",
        graph_attr={
            "rankdir": "TB",
            "fontname": _FONT,
            "fontsize": "12",
            "labelloc": "t",
            "labeljust": "l",
            # escaped lines, each ended by dot's left-justifying line break
            "label": "".join(
                str(graphviz.escape(x)) + "\\l" for x in (f"{heading}: {summary}", note) if x
            ),
            "nodesep": "0.25",
            "ranksep": "0.35",
            "bgcolor": "white",
            "pad": "0.2",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fontname": _FONT,
            "margin": "0.12,0.06",
        },
        edge_attr={"fontname": _FONT, "fontsize": "10", "arrowsize": "0.7"},
    )
    ids = {n.key: f"n{i}" for i, n in enumerate(model.nodes)}
    max_self = max((abs(n.self_bytes) for n in model.nodes), default=0.0) or 1.0
    for n in model.nodes:
        share = model.share(n.cum_bytes)
        if model.compare:
            fill = _mix(_GROW if n.cum_bytes >= 0 else _SHRINK, _intensity(share))
        else:
            fill = _mix(_SEQUENTIAL, _intensity(share))
        ink = _text_colour(fill)
        border = _mix(_SEQUENTIAL, 1.0) if not model.compare else (
            "#67000d" if n.cum_bytes >= 0 else "#08306b"
        )
        size = 10 + 8 * math.sqrt(abs(n.self_bytes) / max_self)
        g.node(
            ids[n.key],
            label=_node_label(n, model, ink),
            fillcolor=fill,
            fontcolor=ink,
            color=border,
            penwidth=f"{1 + 3 * min(1.0, abs(share)):.2f}",
            fontsize=f"{size:.1f}",
            tooltip=graphviz.escape("\n".join(n.labels)),
        )
    for e in model.edges:
        share = model.share(e.bytes)
        palette = (_GROW if e.bytes >= 0 else _SHRINK) if model.compare else _SEQUENTIAL
        colour = _mix(palette, 0.35 + 0.65 * _intensity(share))
        label = _signed(e.bytes) if model.compare else format_bytes(e.bytes)
        g.edge(
            ids[e.caller],
            ids[e.callee],
            label=graphviz.escape(" " + label),
            color=colour,
            fontcolor="#333333",
            penwidth=f"{1 + 5 * min(1.0, abs(share)):.2f}",
            weight=str(1 + int(100 * min(1.0, abs(share)))),
            style="dashed" if e.residual else "solid",
            tooltip=graphviz.escape(
                f"{e.caller} -> {e.callee}: {label}"
                + (" (through hidden frames)" if e.residual else "")
            ),
        )
    return g


def _hidden_note(model: FlowModel) -> str:
    parts = []
    if model.hidden_nodes:
        pct = f"{100 * model.threshold:.3g}%"
        amount = _signed(model.hidden_bytes) if model.compare else format_bytes(model.hidden_bytes)
        parts.append(
            f"{model.hidden_nodes} node{'s' if model.hidden_nodes != 1 else ''} below {pct} "
            f"({amount}) hidden"
        )
    if model.hidden_edges:
        parts.append(f"{model.hidden_edges} light edge{'s' if model.hidden_edges != 1 else ''} hidden")
    if any(e.residual for e in model.edges):
        parts.append("dashed: calls through hidden frames")
    return "; ".join(parts)


def _node_label(n: FlowNode, model: FlowModel, ink: str) -> str:
    def esc(text: str) -> str:
        return html.escape(text, quote=False)

    rows = []
    for f in n.frames:
        name, where = _frame_lines(f)
        rows.append(f'<TR><TD ALIGN="LEFT"><B>{esc(_clip(name))}</B></TD></TR>')
        if where:
            rows.append(
                f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">{esc(_clip(where, 70))}</FONT>'
                "</TD></TR>"
            )
    if model.compare:
        before_cum = n.base_cum or 0.0
        stats = [
            f"self {_signed(n.self_bytes)}",
            f"cum {_signed(n.cum_bytes)} ({_pct(n.cum_bytes, model.scale)})",
            f"{format_bytes(before_cum)} \u2192 {format_bytes(before_cum + n.cum_bytes)}",
        ]
    else:
        stats = [
            f"self {format_bytes(n.self_bytes)} ({_pct(n.self_bytes, model.scale)})",
            f"cum {format_bytes(n.cum_bytes)} ({_pct(n.cum_bytes, model.scale)})",
        ]
    for s in stats:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">{esc(s)}</FONT></TD></TR>')
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        + "".join(rows)
        + "</TABLE>>"
    )


def render_svg(digraph: graphviz.Digraph | str, *, timeout: float = 60.0) -> str:
    """Lay out ``digraph`` (a Digraph, or DOT source) with ``dot -Tsvg`` and return the ``<svg>``.

    The XML prolog is dropped so the text can be embedded in HTML. Raises ``RuntimeError`` with
    installation instructions when the ``dot`` program is missing.
    """
    source = digraph if isinstance(digraph, str) else str(digraph.source)
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(_DOT_MISSING)
    try:
        proc = subprocess.run(
            [dot, "-Tsvg"],
            input=source.encode("utf-8", "backslashreplace"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RuntimeError(_DOT_MISSING) from exc
    if proc.returncode != 0:
        raise RuntimeError(
            f"dot -Tsvg failed (exit {proc.returncode}): "
            + proc.stderr.decode("utf-8", "replace").strip()
        )
    svg = proc.stdout.decode("utf-8")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg

