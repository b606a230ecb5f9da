"""Flame graph renderers of a ``Snapshot``: interactive HTML, folded stacks, speedscope.

``flame_html`` builds one self-contained HTML fragment (a ``<div>`` with scoped ``<style>``, the
tree as JSON in ``<script type="application/json" class="hpnb-flame-data">`` and a small inline
script that draws it). Nothing is fetched from the network, so the same text works inside a
Jupyter output cell, in VS Code, and saved as a file (``flame_page`` wraps it in a document).

Sign convention, shared by every function here: a flame graph needs widths, so only stacks with
positive estimated bytes are drawn, and the stacks a "growth" snapshot lost (negative bytes) are
counted and reported instead (in the header of the HTML and in ``data-`` attributes).
``negative=True`` draws the other side: the stacks that shrank, sized by how much they shrank.

Bytes are rounded to whole bytes once per stack with a running-total rounding, so the integers
shown everywhere add up exactly: the root of the HTML tree, the sum of the folded lines and the
sum of the speedscope weights all equal ``round(total of the drawn stacks)``.
"""

from __future__ import annotations

import html
import json
import math
import threading
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from itertools import accumulate, compress, repeat
from operator import attrgetter, gt, is_, itemgetter, neg, sub
from typing import Any, Iterable, Sequence

from ..digest.model import Frame, Snapshot, _fmt_bytes

__all__ = ["flame_html", "flame_page", "collapsed", "speedscope_json", "flame_tree"]

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"

#: Frames narrower than this share of the total are folded into a "(N small frames)" sibling.
DEFAULT_MIN_SHARE = 0.001

#: Stand-in frame for a stack without any Python frame (e.g. an allocation at interpreter start).
NO_FRAME_LABEL = "<no Python frame>"
_NO_FRAME = Frame(NO_FRAME_LABEL, NO_FRAME_LABEL, 0)
_NO_FRAME_STACK: tuple[Frame, ...] = (_NO_FRAME,)

# Kinds of frames, used for colour: 0 your code, 1 libraries and the standard library,
# 2 notebook cells, 3 synthetic (root, small frames, no Python frame).
_KIND_USER, _KIND_LIB, _KIND_CELL, _KIND_OTHER = 0, 1, 2, 3
_LIB_MARKERS = ("site-packages", "dist-packages", "/lib/python", "\\lib\\", "<frozen")

Node = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Labels and the signed, rounded stack list shared by the three renderers


def _frame_kind(frame: Frame) -> int:
    if frame is _NO_FRAME:
        return _KIND_OTHER
    if frame.cell is not None or frame.filename.startswith("<ipython-input"):
        return _KIND_CELL
    name = frame.filename
    if any(m in name for m in _LIB_MARKERS):
        return _KIND_LIB
    return _KIND_USER


def _frame_label(frame: Frame) -> str:
    return NO_FRAME_LABEL if frame is _NO_FRAME else frame.label


class _Labels:
    """Interns frames to small integers by their label (``Frame.label``).

    Frames are looked up by object identity first (the reader shares one ``Frame`` object per
    code location, so that is the fast path) and merged by label, so equal locations held in
    distinct objects still become one frame of the graph.
    """

    __slots__ = ("by_id", "by_label", "frames", "labels")

    def __init__(self) -> None:
        self.by_id: dict[int, int] = {}
        self.by_label: dict[str, int] = {}
        self.frames: list[Frame] = []
        self.labels: list[str] = []

    def index(self, frame: Frame) -> int:
        i = self.by_id.get(id(frame))
        if i is None:
            label = _frame_label(frame)
            i = self.by_label.get(label)
            if i is None:
                i = self.by_label[label] = len(self.labels)
                self.labels.append(label)
                self.frames.append(frame)
            self.by_id[id(frame)] = i
        return i

    def indexes(self, frames: Sequence[Frame]) -> list[int]:
        """Label indexes of ``frames`` (C-speed when every frame was seen before)."""
        try:
            return list(map(self.by_id.__getitem__, map(id, frames)))
        except KeyError:
            return [self.index(f) for f in frames]


def _signed_stacks(
    snapshot: Snapshot, negative: bool
) -> tuple[list[tuple[Frame, ...]], list[int], int, int]:
    """Stacks of one sign with whole-byte weights, and the bytes and count of the other sign.

    Weights are rounded on the running total (each within 1 byte of its estimate) so that they
    sum exactly to ``round(sum of the estimates)``; stacks whose weight rounds to 0 are dropped.
    Stacks without a Python frame get the single frame ``<no Python frame>``.
    """
    entries = snapshot.entries
    stacks, weights, other_bytes, other_n = _signed(
        list(map(attrgetter("bytes"), entries)), map(attrgetter("stack"), entries), negative
    )
    if not all(stacks):
        stacks = [st or _NO_FRAME_STACK for st in stacks]
    return stacks, weights, other_bytes, other_n


def _signed(
    values: list[float], stacks: Iterable[Any], negative: bool
) -> tuple[list[Any], list[int], int, int]:
    """``_signed_stacks`` on the bytes and stacks of the entries, in their order."""
    if negative:
        values = list(map(neg, values))
    keep = list(map(gt, values, repeat(0.0)))
    other: list[float] = []
    if all(keep):
        stacks = list(stacks)
        raw = values
    else:
        other = [-b for b in values if b < 0]
        stacks = list(compress(stacks, keep))
        raw = list(compress(values, keep))
    cum = list(map(round, accumulate(raw)))
    weights = list(map(sub, cum, [0, *cum[:-1]]))
    if not all(weights):
        nonzero = list(map(bool, weights))
        stacks = list(compress(stacks, nonzero))
        weights = list(compress(weights, nonzero))
    return stacks, weights, round(math.fsum(other)), len(other)


class _StackTable:
    """A profile's stacks as tuples of label indexes (``_Labels``), leaf first: built once per
    profile and extended as the profile grows, so a selection's flame graph starts from stack ids
    instead of ``Frame`` tuples. The empty stack is ``(index of <no Python frame>,)``.

    ``ambiguous`` is set when two unequal frames share a label (e.g. a cell's ``<module>`` and
    ``<cell line: 0>``): the graph then names the node after the first frame met in the walk,
    which only the general path reproduces, so the fast path is not used for that profile.
    """

    __slots__ = ("stacks", "labels", "keys", "ambiguous", "lock", "_trie")

    def __init__(self, stacks: list[tuple[Frame, ...]]) -> None:
        self.stacks = stacks
        self.labels = _Labels()
        self.labels.index(_NO_FRAME)
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
                no_frame = (labels.by_id[id(_NO_FRAME)],)
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
            if first is not frame and (first is _NO_FRAME or first != frame):
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
    ids, weights, other_bytes, other_n = _signed(list(rows.bytes), rows.ids, negative)
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
        stacks, weights, other_bytes, other_n = _signed_stacks(snapshot, negative)
        tree = _build_tree(stacks, weights, min_share)
    return tree, len(weights), other_bytes, other_n


def _root(total: int) -> Node:
    return {
        "name": "all",
        "location": "",
        "bytes": total,
        "children": [],
        "function": "all",
        "kind": _KIND_OTHER,
    }


def _small_node(small_n: int, small_bytes: int) -> Node:
    return {
        "name": f"({small_n} small frame{'s' if small_n != 1 else ''})",
        "location": "",
        "bytes": small_bytes,
        "children": [],
        "function": f"({small_n} small)",
        "kind": _KIND_OTHER,
        "small": small_n,
    }


def _node_maker(labels: _Labels) -> Any:
    """``node_of(label index, bytes)``: a new tree node (the frame's facts computed once)."""
    info: dict[int, tuple[str, str, str | None, int]] = {}

    def node_of(li: int, nbytes: int) -> Node:
        meta = info.get(li)
        if meta is None:
            f = labels.frames[li]
            if f is _NO_FRAME:
                meta = ("", NO_FRAME_LABEL, None, _KIND_OTHER)
            else:
                short = f.function
                if f.cell is not None and (short == "<module>" or short.startswith("<cell")):
                    short = f.location
                meta = (f.location, short, f.source, _frame_kind(f))
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
    labels = _Labels()
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


_LIGHT = {
    "--hp-bg": "#ffffff",
    "--hp-fg": "#1f2328",
    "--hp-muted": "#59636e",
    "--hp-border": "#d1d9e0",
    "--hp-field": "#f6f8fa",
    "--hp-text": "#14171a",
    "--hp-l": "77%",
    "--hp-dl": "1",
    "--hp-sat": "78%",
    "--hp-gray": "#d4d7db",
    "--hp-match": "#a4348f",
    "--hp-match-text": "#ffffff",
    "--hp-tip-bg": "#ffffff",
    "--hp-tip-shadow": "rgba(31,35,40,.18)",
}
_DARK = {
    "--hp-bg": "#16181c",
    "--hp-fg": "#e6e8eb",
    "--hp-muted": "#a2aab4",
    "--hp-border": "#3a3f47",
    "--hp-field": "#22262c",
    "--hp-text": "#f3f4f6",
    "--hp-l": "28%",
    "--hp-dl": "0.5",
    "--hp-sat": "50%",
    "--hp-gray": "#3f444c",
    "--hp-match": "#e58ad6",
    "--hp-match-text": "#1a0716",
    "--hp-tip-bg": "#22262c",
    "--hp-tip-shadow": "rgba(0,0,0,.5)",
}


def _css(uid: str) -> str:
    s = f"#{uid}"

    def block(sel: str, vars_: dict[str, str]) -> str:
        body = ";".join(f"{k}:{v}" for k, v in vars_.items())
        return f"{sel}{{{body};color-scheme:{'dark' if vars_ is _DARK else 'light'}}}"

    dark_sel = ",".join(
        f"{p} {s}"
        for p in (
            'body[data-jp-theme-light="false"]',
            "body.vscode-dark",
            "body.vscode-high-contrast:not(.vscode-high-contrast-light)",
            "html.hpnb-dark",
        )
    )
    light_sel = ",".join(
        f"{p} {s}"
        for p in (
            'body[data-jp-theme-light="true"]',
            "body.vscode-light",
            "body.vscode-high-contrast-light",
            "html.hpnb-light",
        )
    )
    return "".join(
        [
            block(s, _LIGHT),
            "@media (prefers-color-scheme: dark){" + block(s, _DARK) + "}",
            block(light_sel, _LIGHT),
            block(dark_sel, _DARK),
            f"{s}{{position:relative;box-sizing:border-box;margin:4px 0;padding:8px 10px 10px;"
            "border:1px solid var(--hp-border);border-radius:6px;background:var(--hp-bg);"
            "color:var(--hp-fg);font:12px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,"
            "'Helvetica Neue',Arial,sans-serif;text-align:left}",
            f"{s} *{{box-sizing:border-box}}",
            f"{s} .hpnb-head{{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 12px;"
            "margin-bottom:6px}",
            f"{s} .hpnb-title{{font-weight:600;font-size:13px}}",
            f"{s} .hpnb-muted{{color:var(--hp-muted)}}",
            f"{s} .hpnb-ctrl{{margin-left:auto;display:flex;gap:6px;align-items:center}}",
            f"{s} input,{s} button{{font:inherit;color:var(--hp-fg);"
            "background:var(--hp-field);border:1px solid var(--hp-border);border-radius:4px;"
            "padding:2px 7px;margin:0}",
            f"{s} input{{width:16em}}",
            f"{s} button{{cursor:pointer}}",
            f"{s} button:disabled{{cursor:default;opacity:.5}}",
            f"{s} input:focus-visible,{s} button:focus-visible{{outline:2px solid "
            "var(--hp-match);outline-offset:1px}",
            f"{s} .hpnb-status{{min-height:1.4em;color:var(--hp-muted);margin-bottom:4px;"
            "white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
            f"{s} .hpnb-status b{{color:var(--hp-fg);font-weight:600}}",
            f"{s} .hpnb-chart{{position:relative;width:100%;min-height:126px;overflow:hidden;"
            "-webkit-user-select:none;user-select:none}",
            f"{s} .hpnb-f{{position:absolute;height:17px;padding:0 4px;overflow:hidden;"
            "white-space:nowrap;text-overflow:ellipsis;font-size:11px;line-height:17px;"
            "cursor:pointer;color:var(--hp-text);border-right:1px solid var(--hp-bg);"
            "border-bottom:1px solid var(--hp-bg);"
            "background:hsl(var(--h),var(--hp-sat),calc(var(--hp-l) + var(--d) * "
            "var(--hp-dl) * 1%))}",
            f"{s} .hpnb-f.hpnb-k1{{background:hsl(var(--h),calc(var(--hp-sat) * .7),"
            "calc(var(--hp-l) + var(--d) * var(--hp-dl) * 1%))}",
            f"{s} .hpnb-f.hpnb-k3{{background:var(--hp-gray)}}",
            f"{s} .hpnb-f.hpnb-anc{{opacity:.55}}",
            f"{s} .hpnb-f.hpnb-m{{background:var(--hp-match);color:var(--hp-match-text)}}",
            f"{s} .hpnb-f:hover{{filter:brightness(1.08) saturate(1.15);"
            "outline:1px solid var(--hp-fg);outline-offset:-1px}",
            f"{s} .hpnb-tip{{position:absolute;z-index:10;pointer-events:none;max-width:min(560px,"
            "90%);padding:6px 8px;border:1px solid var(--hp-border);border-radius:5px;"
            "background:var(--hp-tip-bg);box-shadow:0 3px 10px var(--hp-tip-shadow);"
            "font-size:12px;overflow-wrap:anywhere}",
            f"{s} .hpnb-tip[hidden]{{display:none}}",
            f"{s} .hpnb-tip .hpnb-t-name{{font-weight:600;margin-bottom:2px}}",
            f"{s} .hpnb-tip table{{border-collapse:collapse}}",
            f"{s} .hpnb-tip td{{padding:0 8px 0 0;vertical-align:top;border:0;"
            "text-align:left;background:none}",
            f"{s} .hpnb-tip td:first-child{{color:var(--hp-muted)}}",
            f"{s} .hpnb-tip code{{font:11px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"
            "monospace;white-space:pre-wrap;background:var(--hp-field);padding:1px 3px;"
            "border-radius:3px}",
            f"{s} .hpnb-empty{{padding:24px;text-align:center;color:var(--hp-muted)}}",
        ]
    )


_JS = r"""(function () {
  "use strict";
  var script = document.currentScript;
  var box = (script && script.parentNode && script.parentNode.id === "__ID__")
    ? script.parentNode : document.getElementById("__ID__");
  if (!box || box.getAttribute("data-hpnb-ready")) { return; }
  box.setAttribute("data-hpnb-ready", "1");
  var nojs = box.querySelector(".hpnb-nojs");
  if (nojs) { nojs.parentNode.removeChild(nojs); }
  var tree = JSON.parse(box.querySelector("script.hpnb-flame-data").textContent);
  var chart = box.querySelector(".hpnb-chart");
  var tip = box.querySelector(".hpnb-tip");
  var status = box.querySelector(".hpnb-status");
  var input = box.querySelector("input");
  var reset = box.querySelector("button");
  var ROW = 18, total = tree.bytes || 0, nodes = [], focus = tree, query = "";

  (function index() {  // flat list, parent links and depths; iterative (trees may be deep)
    tree.parent = null; tree.depth = 0;
    var todo = [tree];
    while (todo.length) {
      var n = todo.pop();
      n.i = nodes.length; nodes.push(n);
      var ch = n.children || [], sum = 0;
      for (var k = 0; k < ch.length; k++) {
        ch[k].parent = n; ch[k].depth = n.depth + 1; sum += ch[k].bytes; todo.push(ch[k]);
      }
      n.self = Math.max(0, n.bytes - sum);
    }
  })();

  function hash(s) {
    var h = 2166136261;
    for (var k = 0; k < s.length; k++) { h ^= s.charCodeAt(k); h = Math.imul(h, 16777619); }
    return h >>> 0;
  }
  function fileOf(n) {
    var loc = n.location || "", c = loc.lastIndexOf(":");
    return c > 0 ? loc.slice(0, c) : loc;
  }
  function colour(el, n) {
    var k = n.kind, fh = hash(fileOf(n)), nh = hash(n.name);
    var h = k === 2 ? 195 + fh % 30 : k === 1 ? 34 + fh % 22 : fh % 28;
    el.style.setProperty("--h", String(h));
    el.style.setProperty("--d", String((nh % 9) - 4));
  }
  function human(b) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], a = Math.abs(b), i = 0;
    while (a >= 1024 && i < u.length - 1) { a /= 1024; i++; }
    return (b < 0 ? "-" : "") + (i ? a.toFixed(1) : a.toFixed(0)) + " " + u[i];
  }
  function pct(b, of) {
    if (!of) { return "0%"; }
    var p = 100 * b / of;
    return (p >= 10 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toPrecision(2)) + "%";
  }
  function isAncestor(a, n) { while (n) { if (n === a) { return true; } n = n.parent; } return false; }

  function matches(n) {
    if (!query || n.small || n === tree) { return false; }
    var q = query;
    return n.name.toLowerCase().indexOf(q) >= 0 || (n.source || "").toLowerCase().indexOf(q) >= 0;
  }
  function matchedBytes(under) {  // bytes of matched frames, nested matches counted once
    var sum = 0, todo = [under];
    while (todo.length) {
      var n = todo.pop();
      if (n !== under && n.m) { sum += n.bytes; continue; }
      if (n === under && n.m) { return n.bytes; }
      var ch = n.children || [];
      for (var k = 0; k < ch.length; k++) { todo.push(ch[k]); }
    }
    return sum;
  }

  function bar(n, x, w, row, cls, width) {
    var el = document.createElement("div");
    el.className = "hpnb-f hpnb-k" + n.kind + (cls ? " " + cls : "") + (n.m ? " hpnb-m" : "");
    el.style.left = (100 * x) + "%";
    el.style.width = (100 * w) + "%";
    el.style.top = (row * ROW) + "px";
    el.setAttribute("data-name", n.name);
    el.setAttribute("data-bytes", String(n.bytes));
    el.setAttribute("data-i", String(n.i));
    colour(el, n);
    if (w * width >= 28) { el.textContent = n.function || n.name; }
    return el;
  }

  function render() {
    var width = chart.clientWidth || 1000, frag = document.createDocumentFragment(), rows = 0;
    chart.textContent = "";
    if (!total) {
      var e = document.createElement("div");
      e.className = "hpnb-empty";
      e.textContent = "Nothing to draw: no allocations in this snapshot.";
      chart.appendChild(e); chart.style.height = "auto";
      return;
    }
    var anc = [], a = focus;
    while (a) { anc.unshift(a); a = a.parent; }
    for (var r = 0; r < anc.length - 1; r++) { frag.appendChild(bar(anc[r], 0, 1, r, "hpnb-anc", width)); }
    var scale = focus.bytes ? 1 / focus.bytes : 0, minw = 0.5 / width;
    var todo = [[focus, 0, anc.length - 1]];
    while (todo.length) {
      var t = todo.pop(), n = t[0], x = t[1], row = t[2], w = n.bytes * scale;
      frag.appendChild(bar(n, x, w, row, "", width));
      if (row + 1 > rows) { rows = row + 1; }
      var ch = n.children || [], cx = x;
      for (var k = 0; k < ch.length; k++) {
        var cw = ch[k].bytes * scale;
        if (cw >= minw) { todo.push([ch[k], cx, row + 1]); }
        cx += cw;
      }
    }
    chart.style.height = (rows * ROW) + "px";
    chart.appendChild(frag);
    reset.disabled = focus === tree;
    showStatus();
  }

  function showStatus() {
    status.textContent = "";
    var parts = [];
    if (query) {
      var mb = matchedBytes(tree);
      parts.push(["Matched ", human(mb), " = " + pct(mb, total) + " of total"]);
      if (focus !== tree) { parts.push(["", pct(matchedBytes(focus), focus.bytes), " of this view"]); }
    }
    if (focus !== tree) {
      parts.push(["Zoomed to ", focus.function || focus.name, ": " + human(focus.bytes) + " = " +
        pct(focus.bytes, total) + " of total (click the top bar or Reset to zoom out)"]);
    } else if (!query) {
      parts.push(["", "", "Click a frame to zoom in; hover for details."]);
    }
    for (var k = 0; k < parts.length; k++) {
      if (k) { status.appendChild(document.createTextNode(" \u00b7 ")); }
      status.appendChild(document.createTextNode(parts[k][0]));
      if (parts[k][1]) { var b = document.createElement("b"); b.textContent = parts[k][1]; status.appendChild(b); }
      status.appendChild(document.createTextNode(parts[k][2]));
    }
  }

  function row(tbody, label, value, code) {
    var tr = document.createElement("tr"), th = document.createElement("td"), td = document.createElement("td");
    th.textContent = label;
    if (code) { var c = document.createElement("code"); c.textContent = value; td.appendChild(c); }
    else { td.textContent = value; }
    tr.appendChild(th); tr.appendChild(td); tbody.appendChild(tr);
  }
  function showTip(n, ev) {
    tip.textContent = "";
    var name = document.createElement("div");
    name.className = "hpnb-t-name"; name.textContent = n.name; tip.appendChild(name);
    var table = document.createElement("table"), tb = document.createElement("tbody");
    row(tb, "bytes", human(n.bytes) + " (" + Math.round(n.bytes).toLocaleString() + " B)");
    row(tb, "share", pct(n.bytes, total) + " of total" +
      (focus !== tree && isAncestor(focus, n) ? ", " + pct(n.bytes, focus.bytes) + " of view" : ""));
    if (n.self && n !== tree && !n.small) { row(tb, "self", human(n.self) + " (" + pct(n.self, total) + ")"); }
    if (n.location) { row(tb, "location", n.location); }
    if (n.source) { row(tb, "source", n.source.trim(), true); }
    if (n.small) { row(tb, "", "frames under " + pct(threshold(), 1) + " of the total, merged"); }
    table.appendChild(tb); tip.appendChild(table);
    tip.hidden = false;
    moveTip(ev);
  }
  function threshold() { var m = parseFloat(box.getAttribute("data-min-share")); return isNaN(m) ? 0 : m; }
  function moveTip(ev) {  // next to the pointer, kept inside the box (outputs may clip)
    var r = box.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    var w = tip.offsetWidth, h = tip.offsetHeight, x = px + 14, y = py + 16;
    if (x + w > r.width - 4) { x = Math.max(4, px - w - 10); }
    if (y + h > r.height - 4) { y = py - h - 10 >= 0 ? py - h - 10 : Math.max(0, r.height - h - 4); }
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function nodeAt(ev) {
    var el = ev.target;
    while (el && el !== chart) {
      if (el.getAttribute && el.getAttribute("data-i") !== null) { return nodes[+el.getAttribute("data-i")]; }
      el = el.parentNode;
    }
    return null;
  }
  var hovered = null;
  chart.addEventListener("mousemove", function (ev) {
    var n = nodeAt(ev);
    if (!n) { tip.hidden = true; hovered = null; return; }
    if (n !== hovered) { hovered = n; showTip(n, ev); } else { moveTip(ev); }
  });
  chart.addEventListener("mouseleave", function () { tip.hidden = true; hovered = null; });
  chart.addEventListener("click", function (ev) {
    var n = nodeAt(ev);
    if (!n) { return; }
    focus = (n === focus && n.parent) ? n.parent : n;
    tip.hidden = true; hovered = null;
    render();
  });
  reset.addEventListener("click", function () { focus = tree; render(); });
  var timer = null;
  function search() {
    query = input.value.trim().toLowerCase();
    for (var k = 0; k < nodes.length; k++) { nodes[k].m = matches(nodes[k]); }
    render();
  }
  input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(search, 120); });
  input.addEventListener("keydown", function (ev) {
    ev.stopPropagation();  // keep notebook shortcuts out of the search box
    if (ev.key === "Escape") { input.value = ""; search(); }
    if (ev.key === "Enter") { clearTimeout(timer); search(); }
  });
  box.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && focus !== tree) { focus = tree; render(); ev.stopPropagation(); }
  });
  if (typeof ResizeObserver === "function") {
    var lastWidth = chart.clientWidth;
    new ResizeObserver(function () {
      var w = chart.clientWidth;
      if (w && Math.abs(w - lastWidth) > 2) { lastWidth = w; render(); }
    }).observe(chart);
  }
  render();
})();"""


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
    summary = f"{what} {_fmt_bytes(total)} in {n_stacks:,} stack{'s' if n_stacks != 1 else ''}"
    err = snapshot.error
    if err > 0 and not negative:
        summary += f" (\u00b1{_fmt_bytes(err)})"
    note = ""
    if other_n:
        side = "grew" if negative else "shrank"
        sign = "+" if negative else "-"
        note = (
            f'<span class="hpnb-muted">not drawn: {other_n:,} stack'
            f"{'s' if other_n != 1 else ''} that {side} ({sign}{_fmt_bytes(other_bytes)})</span>"
        )
    attrs = (
        f'id="{uid}" class="hpnb-flame" data-total="{total}" data-stacks="{n_stacks}" '
        f'data-min-share="{min_share!r}" data-shrank-bytes="{0 if negative else other_bytes}" '
        f'data-shrank-stacks="{0 if negative else other_n}"'
    )
    return "".join(
        [
            f"<div {attrs}>",
            f"<style>{_css(uid)}</style>",
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
            f"<script>{_JS.replace('__ID__', uid)}</script>",
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


# --------------------------------------------------------------------------------------------
# Folded stacks and speedscope


def _folded_label(label: str) -> str:
    if ";" in label or "\n" in label or "\r" in label:
        label = label.replace(";", ",").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return label


def _paths(
    snapshot: Snapshot, negative: bool
) -> tuple[_Labels, list[tuple[tuple[int, ...], int]]]:
    """Root-first label-index paths with their weights, equal paths merged, in first-seen order."""
    stacks, weights, _, _ = _signed_stacks(snapshot, negative)
    labels = _Labels()
    merged: dict[tuple[int, ...], int] = {}
    get = merged.get
    for stack, w in zip(stacks, weights):
        key = tuple(labels.indexes(stack[::-1]))
        merged[key] = get(key, 0) + w
    return labels, list(merged.items())


def collapsed(snapshot: Snapshot, *, negative: bool = False) -> str:
    """Brendan Gregg's folded stacks: ``root;...;leaf <bytes>``, one line per distinct stack.

    Frames are named by ``Frame.label`` with ``;`` replaced by ``,`` and line breaks by spaces.
    Counts are whole bytes (see the module docstring for the rounding), lines are sorted, and
    only positive stacks are written (``negative=True``: the shrinking ones, as positive
    counts), because flamegraph.pl, inferno and speedscope read only positive counts.
    """
    labels, paths = _paths(snapshot, negative)
    names = [_folded_label(lab) for lab in labels.labels]
    lines = sorted(";".join(map(names.__getitem__, key)) + f" {w}" for key, w in paths)
    return "".join(line + "\n" for line in lines)


def speedscope_json(snapshot: Snapshot, *, negative: bool = False, name: str | None = None) -> str:
    """The snapshot as a speedscope file: one "sampled" profile weighted in bytes.

    Frames are shared (``name`` is the function, or the cell label for notebook cells,
    ``file`` the filename or cell, ``line`` the line); each sample is a root-first list of frame
    indexes and its weight the stack's whole bytes. Same sign rule as ``collapsed``.
    """
    labels, paths = _paths(snapshot, negative)
    frames: list[dict[str, object]] = []
    for f in labels.frames:
        if f is _NO_FRAME:
            frames.append({"name": NO_FRAME_LABEL})
        elif f.cell is not None:
            frames.append({"name": f.label, "file": f.cell, "line": f.line})
        else:
            frames.append({"name": f.function, "file": f.filename, "line": f.line})
    total = sum(w for _, w in paths)
    profile_name = name or snapshot.title or "heapprof_nb snapshot"
    doc = {
        "$schema": SPEEDSCOPE_SCHEMA,
        "version": "0.0.1",
        "exporter": "heapprof_nb",
        "name": profile_name,
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": profile_name,
                "unit": "bytes",
                "startValue": 0,
                "endValue": total,
                "samples": [list(key) for key, _ in paths],
                "weights": [w for _, w in paths],
            }
        ],
    }
    return json.dumps(doc, separators=(",", ":"))
