"""The flame graph of a ``Snapshot``: the merged call tree, and the interactive HTML that draws it.

``flame_html`` builds one self-contained HTML fragment (a ``<div>`` with scoped ``<style>``, the
tree as JSON in ``<script type="application/json" class="hpnb-flame-data">`` and a small inline
script that draws it). Nothing is fetched from the network, so the same text works inside a
Jupyter output cell, in VS Code, and saved as a file (``flame_page`` wraps it in a document).

Its style and script are ``flame_assets/flame.css`` and ``flame_assets/flame.js``, read once and
inlined into every graph. Only the stacks of one sign are drawn, with whole-byte weights
(``signed``, shared with the exports): the stacks a "growth" snapshot lost are counted and
reported in the header and in ``data-`` attributes; ``negative=True`` draws the other side.
"""

from __future__ import annotations

import functools
import html
import json
import re
import threading
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from importlib import resources
from itertools import accumulate, repeat
from operator import is_, itemgetter
from typing import Any, Iterable

from .._units import format_bytes
from ..digest.model import Frame, Snapshot
from .frames import KIND_OTHER, NO_FRAME, Labels, kind, short_name
from .signed import signed_stacks, signed_weights

__all__ = ["flame_html", "flame_page", "flame_tree"]


#: Frames narrower than this share of the total are folded into a "(N small frames)" sibling.
DEFAULT_MIN_SHARE = 0.001

Node = dict[str, Any]

_NO_FRAME_STACK: tuple[Frame, ...] = (NO_FRAME,)


class _StackTable:
    """A profile's stacks as tuples of label indexes (``Labels``), leaf first: built once per
    profile and extended as the profile grows, so a selection's flame graph starts from stack ids
    instead of ``Frame`` tuples. The empty stack is ``(index of <no Python frame>,)``.

    ``ambiguous`` is set when two unequal frames share a label (e.g. a cell's ``<module>`` and
    ``<cell line: 0>``): the graph then names the node after the first frame met in the walk,
    which only the general path reproduces, so the fast path is not used for that profile.
    """

    __slots__ = ("stacks", "labels", "keys", "ambiguous", "lock", "_trie")

    def __init__(self, stacks: list[tuple[Frame, ...]]) -> None:
        self.stacks = stacks
        self.labels = Labels()
        self.labels.index(NO_FRAME)
        self.keys: list[tuple[int, ...]] = []
        self.ambiguous = False
        self.lock = threading.Lock()
        self._trie: _Trie | None = None

    def trie(self) -> _Trie:
        """The call tree of every stack the profile has now (rebuilt when it has grown)."""
        keys = self.update()
        with self.lock:
            trie = self._trie
            if trie is None or trie.n != len(keys):
                trie = self._trie = _Trie(keys)
            return trie

    def update(self) -> list[tuple[int, ...]]:
        """The keys of every stack the profile has now (the list grows; it is never changed)."""
        with self.lock:
            keys = self.keys
            stacks = self.stacks
            n = len(stacks)
            if len(keys) < n:
                labels = self.labels
                get = labels.by_id.__getitem__
                no_frame = (labels.by_id[id(NO_FRAME)],)
                for st in stacks[len(keys) : n]:
                    if not st:
                        keys.append(no_frame)
                        continue
                    try:
                        keys.append(tuple(map(get, map(id, st))))
                    except KeyError:
                        keys.append(tuple(map(self._index, st)))
            return keys

    def _index(self, frame: Frame) -> int:
        labels = self.labels
        i = labels.by_id.get(id(frame))
        if i is None:
            i = labels.index(frame)
            first = labels.frames[i]
            if first is not frame and (first is NO_FRAME or first != frame):
                self.ambiguous = True
        return i


def _signed_keys(
    snapshot: Snapshot, negative: bool
) -> tuple[list[int], list[int], int, int, _StackTable] | None:
    """``_signed_stacks`` as stack ids of the profile's ``_StackTable``, from the profile rows a
    snapshot was built from (see ``Snapshot._from_rows``), or None when the snapshot has no such
    rows or the table cannot stand for its frames (``ambiguous``)."""
    source = getattr(snapshot, "_source_rows", None)
    rows = source() if source is not None else None
    if rows is None:
        return None
    table = rows.cache.get("flame")
    if table is None or table.stacks is not rows.stacks:
        table = rows.cache.setdefault("flame", _StackTable(rows.stacks))
    table.update()
    if table.ambiguous:
        return None
    ids, weights, other_bytes, other_n = signed_weights(list(rows.bytes), rows.ids, negative)
    return ids, weights, other_bytes, other_n, table


class _Trie:
    """A profile's stacks as one call tree, root frame first, over label indexes.

    The stacks are sorted by their root-first paths, so the stacks through any node hold a
    contiguous range ``[lo, hi)`` of positions; a selection's bytes under a node are then one
    subtraction of prefix sums over positions, and drawing a flame graph costs the nodes drawn
    and their children, not the frames of every stack. A stack's part that no other stack shares
    is a single "tail" node (``tail`` set) whose remaining frames are read from its path, which
    keeps the tree about as small as the number of stacks. Built once per profile (and again when
    the profile has grown); nodes live in arrays, children as linked lists (``child``,
    ``sibling``; -1 ends a list). Node 0 is the root.
    """

    __slots__ = ("n", "pos", "paths", "label", "depth", "lo", "hi", "child", "sibling", "tail")

    def __init__(self, keys: list[tuple[int, ...]]) -> None:
        n = self.n = len(keys)
        rooted = [k[::-1] for k in keys]
        order = sorted(range(n), key=rooted.__getitem__)
        paths = self.paths = list(map(rooted.__getitem__, order))
        pos = self.pos = [0] * n
        for p, i in enumerate(order):
            pos[i] = p
        # lcp[p]: frames shared by the paths at positions p - 1 and p (0 at both ends)
        lcp = [0] * (n + 1)
        for p in range(1, n):
            a, b = paths[p - 1], paths[p]
            m = min(len(a), len(b))
            k = 0
            while k < m and a[k] == b[k]:
                k += 1
            lcp[p] = k
        label, depth = array("i", [-1]), array("i", [-1])
        lo, hi = array("i", [0]), array("i", [n])
        child, sibling, tail = array("i", [-1]), array("i", [-1]), array("b", [0])

        def add(parent: int, li: int, d: int, start: int, end: int, is_tail: int) -> int:
            nid = len(label)
            label.append(li)
            depth.append(d)
            lo.append(start)
            hi.append(end)
            child.append(-1)
            sibling.append(child[parent])
            tail.append(is_tail)
            child[parent] = nid
            return nid

        open_path = [0]  # open_path[d + 1]: the node at depth d on the path being extended
        for p in range(n):
            path = paths[p]
            shared_before = lcp[p]
            for nid in open_path[shared_before + 1:]:
                hi[nid] = p  # nodes the previous path does not share with this one end here
            del open_path[shared_before + 1:]
            shared = max(shared_before, lcp[p + 1])  # frames shared with a neighbour
            for d in range(shared_before, shared):
                open_path.append(add(open_path[-1], path[d], d, p, n, 0))
            if len(path) > shared:
                add(open_path[-1], path[shared], shared, p, p + 1, 1)
        self.label, self.depth, self.lo, self.hi = label, depth, lo, hi
        self.child, self.sibling, self.tail = child, sibling, tail


def _build_trie_tree(
    table: _StackTable, ids: list[int], weights: list[int], min_share: float
) -> Node:
    """``_build_tree`` from stack ids and whole-byte weights, walking the profile's ``_Trie``."""
    total = sum(weights)
    root = _root(total)
    if not ids:
        return root
    trie = table.trie()
    threshold = max(total * min_share, 1)  # weights are whole bytes >= 1
    at_position = [0] * trie.n
    for p, w in zip(map(trie.pos.__getitem__, ids), weights):
        at_position[p] += w
    prefix = [0, *accumulate(at_position)]
    label, depth, lo, hi = trie.label, trie.depth, trie.lo, trie.hi
    child, sibling, tail, paths = trie.child, trie.sibling, trie.tail, trie.paths
    node_of = _node_maker(table.labels)
    work: list[tuple[int, Node]] = [(0, root)]
    while work:
        nid, node = work.pop()
        drawn: list[tuple[int, int]] = []
        small_n = small_bytes = 0
        c = child[nid]
        while c >= 0:
            b = prefix[hi[c]] - prefix[lo[c]]
            if b >= threshold:
                drawn.append((c, b))
            elif b:
                small_n += 1
                small_bytes += b
            c = sibling[c]
        children = node["children"]
        for c, b in drawn:
            kid = node_of(label[c], b)
            children.append(kid)
            if tail[c]:  # one stack's own frames: a chain with its bytes
                chain = kid
                for li in paths[lo[c]][depth[c] + 1:]:
                    link = node_of(li, b)
                    chain["children"].append(link)
                    chain = link
            elif child[c] >= 0:
                work.append((c, kid))
        _order_children(children, small_n, small_bytes)
    return root


def _order_children(children: list[Node], small_n: int, small_bytes: int) -> None:
    """Largest first (ties by name, so every path draws the same graph), then the folded
    small frames."""
    if len(children) > 1:
        children.sort(key=_by_bytes_then_name)
    if small_n:
        children.append(_small_node(small_n, small_bytes))


def _by_bytes_then_name(node: Node) -> tuple[int, str]:
    return -node["bytes"], node["name"]


# --------------------------------------------------------------------------------------------
# The tree


def flame_tree(
    snapshot: Snapshot, *, negative: bool = False, min_share: float = DEFAULT_MIN_SHARE
) -> Node:
    """The merged call tree drawn by ``flame_html``, root first, as plain dicts.

    Each node is ``{"name": label, "location": "file:line", "bytes": int, "children": [...],
    "function": short name, "kind": 0..3}`` plus ``"source"`` when the frame kept its source
    line. Children with the same label are merged and sorted by bytes, largest first. A node's
    ``bytes`` is its own (self) bytes plus its children's. Children narrower than ``min_share``
    of the root are folded into one ``"(N small frames)"`` child (``"small": N``) that keeps
    their bytes, so the sums still add up.

    The root is ``{"name": "all", ...}`` and carries the bytes of the drawn stacks.
    """
    return _signed_tree(snapshot, negative, min_share)[0]


def _signed_tree(
    snapshot: Snapshot, negative: bool, min_share: float
) -> tuple[Node, int, int, int]:
    """The tree of the stacks of one sign (the profile's call tree when the snapshot is still
    backed by its rows, the general walk otherwise), the number of those stacks, and the bytes
    and count of the stacks of the other sign."""
    fast = _signed_keys(snapshot, negative)
    if fast is not None:
        ids, weights, other_bytes, other_n, table = fast
        tree = _build_trie_tree(table, ids, weights, min_share)
    else:
        stacks, weights, other_bytes, other_n = signed_stacks(snapshot, negative)
        tree = _build_tree(stacks, weights, min_share)
    return tree, len(weights), other_bytes, other_n


def _root(total: int) -> Node:
    return {
        "name": "all",
        "location": "",
        "bytes": total,
        "children": [],
        "function": "all",
        "kind": KIND_OTHER,
    }


def _small_node(small_n: int, small_bytes: int) -> Node:
    return {
        "name": f"({small_n} small frame{'s' if small_n != 1 else ''})",
        "location": "",
        "bytes": small_bytes,
        "children": [],
        "function": f"({small_n} small)",
        "kind": KIND_OTHER,
        "small": small_n,
    }


def _node_maker(labels: Labels) -> Any:
    """``node_of(label index, bytes)``: a new tree node (the frame's facts computed once)."""
    info: dict[int, tuple[str, str, str | None, int]] = {}

    def node_of(li: int, nbytes: int) -> Node:
        meta = info.get(li)
        if meta is None:
            f = labels.frames[li]
            k = kind(f)
            where = "" if k == KIND_OTHER else f.location  # the stand-ins have no place
            meta = (where, short_name(f), f.source, k)
            info[li] = meta
        node: Node = {
            "name": labels.labels[li],
            "location": meta[0],
            "bytes": nbytes,
            "children": [],
            "function": meta[1],
            "kind": meta[3],
        }
        if meta[2] is not None:
            node["source"] = meta[2]
        return node

    return node_of


def _build_tree(stacks: list[tuple[Frame, ...]], weights: list[int], min_share: float) -> Node:
    # Built top-down, one depth at a time: the stacks through a node are split by their frame
    # at the next depth, and a group under the threshold is folded without being looked at
    # deeper. The cost follows the drawn tree, not the number of frames in the snapshot, and
    # levels where every stack goes through the same frame object take one C-speed check.
    total = sum(weights)
    root = _root(total)
    if not stacks:
        return root
    threshold = total * min_share if min_share > 0 else 0
    labels = Labels()
    node_of = _node_maker(labels)

    # Stacks are addressed by their index in one list sorted longest first, so the stacks of a
    # group that go deeper than depth d are the indexes below reach[d + 1] (a bisection).
    order = sorted(range(len(stacks)), key=list(map(len, stacks)).__getitem__, reverse=True)
    S = [stacks[i] for i in order]
    W = [weights[i] for i in order]
    s_get = S.__getitem__
    w_get = W.__getitem__
    lens = [len(st) for st in reversed(S)]  # ascending
    n_all = len(S)
    max_depth = lens[-1]
    # reach[d]: how many stacks have a frame at depth d (are longer than d); they come first.
    reach = [n_all - bisect_right(lens, d) for d in range(max_depth + 2)]

    # A work item: the children list to fill, the depth of those children (0 = the outermost
    # frame), the indexes of the stacks that have a frame at that depth, and their bytes.
    work: list[tuple[list[Node], int, list[int], int]] = [
        (root["children"], 0, list(range(n_all)), total)
    ]
    while work:
        children, depth, idx, gsum = work.pop()
        col = list(map(itemgetter(-1 - depth), map(s_get, idx)))
        first = col[0]
        n = len(col)
        parts: list[tuple[int, list[int], int]]
        if col[-1] is first and all(map(is_, col, repeat(first))):
            parts = [(labels.index(first), idx, gsum)]  # one callee for all: the common case
        else:
            groups: defaultdict[int, list[int]] = defaultdict(list)
            for i, k in zip(idx, map(id, col)):
                groups[k].append(i)
            by_label: dict[int, list[int]] = {}
            merged: list[int] = []
            for g in groups.values():
                li = labels.index(S[g[0]][-1 - depth])
                prev = by_label.get(li)
                if prev is None:
                    by_label[li] = g
                else:  # the same label in another Frame object: one frame of the graph
                    prev.extend(g)
                    merged.append(li)
            for li in merged:
                by_label[li].sort()
            parts = [(li, g, sum(map(w_get, g))) for li, g in by_label.items()]
        small_n = 0
        small_bytes = 0
        nxt = depth + 1
        limit = reach[nxt]
        for li, g, gbytes in parts:
            if gbytes < threshold:
                small_n += 1
                small_bytes += gbytes
                continue
            child = node_of(li, gbytes)
            children.append(child)
            # Stacks with a frame at depth + 1 go on; the rest end here (this frame's self bytes).
            if g[-1] < limit:
                work.append((child["children"], nxt, g, gbytes))
            else:
                cut = bisect_left(g, limit)
                if cut:
                    deeper = g[:cut]
                    work.append((child["children"], nxt, deeper, sum(map(w_get, deeper))))
        _order_children(children, small_n, small_bytes)
    return root


# --------------------------------------------------------------------------------------------
# HTML


def _script_json(value: object) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` survive unescaped."""
    # ASCII only: names with lone surrogates (undecodable file names) must not break the UTF-8
    # encoding of the notebook or the saved file.
    try:
        text = json.dumps(value, separators=(",", ":"))
    except RecursionError:  # a very deep tree (deep recursion in the profiled code)
        text = "".join(_iter_json(value))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _iter_json(value: object) -> Iterable[str]:
    """Iterative JSON encoder for trees too deep for ``json.dumps``'s recursion guard."""
    dumps = json.dumps
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _Raw):
            yield v.text
        elif isinstance(v, dict):
            yield "{"
            items = list(v.items())
            pending: list[Any] = [_Raw("}")]
            for i in range(len(items) - 1, -1, -1):
                k, x = items[i]
                pending.append(x)
                pending.append(_Raw(("," if i else "") + dumps(str(k)) + ":"))
            stack.extend(pending)
        elif isinstance(v, list):
            yield "["
            pending = [_Raw("]")]
            for i in range(len(v) - 1, -1, -1):
                pending.append(v[i])
                if i:
                    pending.append(_Raw(","))
            stack.extend(pending)
        else:
            yield dumps(v)


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_OPENING_COMMENT = re.compile(r"\A(?:/\*.*?\*/|(?://[^\n]*\n)+)\s*", re.S)


@functools.lru_cache(maxsize=None)
def _asset(name: str) -> str:
    """A file of ``flame_assets/`` (read once), without the comment that opens it: inlined into
    every graph, so the graph works offline."""
    folder = resources.files(__name__.rpartition(".")[0]).joinpath("flame_assets")
    text = folder.joinpath(name).read_text(encoding="utf-8")
    return _OPENING_COMMENT.sub("", text, count=1)


def flame_html(
    snapshot: Snapshot,
    *,
    title: str | None = None,
    negative: bool = False,
    min_share: float = DEFAULT_MIN_SHARE,
) -> str:
    """A self-contained, interactive icicle flame graph of ``snapshot`` as an HTML fragment.

    The root is on top and each frame's width is its bytes (the bytes of every stack through
    it). Click a frame to zoom into it, click the top bar, "Reset" or press Escape to zoom out.
    Hovering shows the frame's label, bytes, share of the total (and of the zoomed view), self
    bytes, ``file:line`` and, for notebook cells, the source line. The search box highlights
    frames whose label or source contains the text and shows the share they hold (nested
    matches counted once).

    The fragment is one ``<div id="hpnb-flame-...">`` (a fresh id per call) holding its scoped
    ``<style>``, the tree as JSON in ``<script type="application/json"
    class="hpnb-flame-data">`` (see ``flame_tree``; ``<``, ``>`` and ``&`` are escaped) and an
    inline script that draws ``<div class="hpnb-f" data-name=... data-bytes=...>`` bars. No
    network access and no external fonts; colours follow the light or dark theme of JupyterLab,
    VS Code or the operating system.

    Negative bytes: only stacks with positive bytes are drawn; the bytes and count of stacks
    that shrank (a "growth" snapshot) are shown in the header and in the ``data-shrank-bytes``
    and ``data-shrank-stacks`` attributes. ``negative=True`` draws the shrinking stacks instead,
    sized by how much they shrank. Frames narrower than ``min_share`` of the drawn total are
    merged into a "(N small frames)" sibling that keeps their bytes.
    """
    tree, n_stacks, other_bytes, other_n = _signed_tree(snapshot, negative, min_share)
    uid = "hpnb-flame-" + uuid.uuid4().hex[:12]
    title_text = title if title is not None else (snapshot.title or "Flame graph")
    esc = html.escape
    total = tree["bytes"]
    what = "shrank by" if negative else "total"
    summary = f"{what} {format_bytes(total)} in {n_stacks:,} stack{'s' if n_stacks != 1 else ''}"
    err = snapshot.error
    if err > 0 and not negative:
        summary += f" (\u00b1{format_bytes(err)})"
    note = ""
    if other_n:
        side = "grew" if negative else "shrank"
        sign = "+" if negative else "-"
        note = (
            f'<span class="hpnb-muted">not drawn: {other_n:,} stack'
            f"{'s' if other_n != 1 else ''} that {side} ({sign}{format_bytes(other_bytes)})</span>"
        )
    attrs = (
        f'id="{uid}" class="hpnb-flame" data-total="{total}" data-stacks="{n_stacks}" '
        f'data-min-share="{min_share!r}" data-shrank-bytes="{0 if negative else other_bytes}" '
        f'data-shrank-stacks="{0 if negative else other_n}"'
    )
    return "".join(
        [
            f"<div {attrs}>",
            f"<style>{_asset('flame.css').replace('__ID__', uid)}</style>",
            '<div class="hpnb-head">',
            f'<span class="hpnb-title">{esc(title_text)}</span>',
            f'<span class="hpnb-muted">{esc(summary)}</span>',
            note,
            '<span class="hpnb-ctrl">',
            '<input type="search" placeholder="Search frames" aria-label="Search frames" '
            'spellcheck="false" autocomplete="off" data-lm-suppress-shortcuts="true">',
            '<button type="button" disabled title="Zoom out to the whole graph (Esc)">'
            "Reset zoom</button>",
            "</span></div>",
            '<div class="hpnb-status" aria-live="polite"></div>',
            f'<div class="hpnb-chart" role="img" aria-label="Flame graph: {esc(summary)}"></div>',
            '<div class="hpnb-tip" hidden></div>',
            '<div class="hpnb-nojs hpnb-empty">The interactive flame graph needs JavaScript: '
            "trust the notebook (or open the saved HTML file) to see it.</div>",
            f'<script type="application/json" class="hpnb-flame-data">{_script_json(tree)}</script>',
            f"<script>{_asset('flame.js').replace('__ID__', uid)}</script>",
            "</div>",
        ]
    )


def flame_page(snapshot: Snapshot, *, title: str | None = None, **options: Any) -> str:
    """``flame_html`` wrapped in a complete HTML document, for saving to a ``.html`` file."""
    title_text = title if title is not None else (snapshot.title or "Flame graph")
    body = flame_html(snapshot, title=title_text, **options)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{html.escape(title_text)} \u2014 heapprof_nb</title>"
        "<style>body{margin:16px;background:Canvas;color:CanvasText}</style>"
        f"</head><body>{body}</body></html>\n"
    )
