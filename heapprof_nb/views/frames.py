"""The frame policy every view follows: how a frame is named, and which frames are hidden.

Naming: a frame is its ``Frame.label``, ``function (file:line)`` for code in files and
``In [7], line 3`` for a notebook cell (``function (In [7], line 3)`` inside a function defined
there), with the cell's line of source beside it where the view has room (the flame graph's
tooltip, the flow graph's box, the top-sites table). ``short_name`` is the name a box has room
for.

Hiding (the default of every view: flame graph, flow graph, top sites, collapsed, speedscope,
pprof and ``Snapshot.statistics``/``top``/``compare_to``), per stack:

- in a stack that runs through a notebook cell, every frame outside its outermost cell frame is
  the kernel carrying the cell to the interpreter (event loop, ``run_cell``), and goes;
- anywhere in a stack, frames of the machinery go: IPython, ipykernel (and traitlets, which
  launches it), tornado, asyncio's event loop, importlib's bootstrap (``_find_and_load``, ``_call_with_frames_removed``...), runpy (the
  command line's ``run``) and heapprof_nb itself. Their bytes stay in the stack, so an
  allocation made inside them counts at the nearest frame that is shown (the line that imported
  a module, the cell line that called ``display``);
- a cell's ``<module>`` frame calling the same cell's ``<module>`` (the ``%%heapprof`` line
  running its body) is one frame;
- a stack with nothing left is ``<hidden frames>``; stacks made equal by hiding are merged.

``all_frames=True`` on those methods (and on ``Profile.view``) shows every frame instead.
"""

from __future__ import annotations

import re
import threading
from array import array
from typing import Sequence

from ..digest.model import NO_FRAME_LABEL, Frame, Snapshot, StackStat, merge_stacks

__all__ = [
    "NO_FRAME", "NO_FRAME_LABEL", "HIDDEN_FRAME", "HIDDEN_LABEL", "KIND_USER", "KIND_LIB",
    "KIND_CELL", "KIND_OTHER", "Labels", "VisibleStacks", "is_hidden", "kind", "label",
    "short_name", "shown", "visible_snapshot", "visible_stack",
]

#: Stand-in frame for a stack without any Python frame, named as ``Statistic.label`` names it.
NO_FRAME = Frame(NO_FRAME_LABEL, NO_FRAME_LABEL, 0)
#: Stand-in frame for a stack whose every frame is hidden (the kernel's own allocations).
HIDDEN_LABEL = "<hidden frames>"
HIDDEN_FRAME = Frame(HIDDEN_LABEL, HIDDEN_LABEL, 0)
_HIDDEN_STACK = (HIDDEN_FRAME,)

# Kinds of frames, used for colour: your code, libraries and the standard library, notebook
# cells, synthetic (a graph's root, folded small frames, the stand-ins above).
KIND_USER, KIND_LIB, KIND_CELL, KIND_OTHER = 0, 1, 2, 3
_LIB_MARKERS = ("site-packages", "dist-packages", "/lib/python", "\\lib\\", "<frozen")

#: Files of the machinery that carries code to the interpreter (see the module doc).
_MACHINERY = re.compile(
    r"[/\\](?:IPython|ipykernel|tornado|traitlets|heapprof_nb)[/\\]"
    r"|[/\\]ipykernel_launcher\.py$"
    r"|[/\\]asyncio[/\\](?:base_events|events|runners)\.py$"
    r"|^<frozen (?:importlib\._bootstrap(?:_external)?|runpy)>$"
    r"|[/\\]importlib[/\\]_bootstrap(?:_external)?\.py$"
    r"|[/\\]runpy\.py$"
    r"|^<decorator-gen-\d+>$"
)
_hidden_files: dict[str, bool] = {}


def is_hidden(frame: Frame) -> bool:
    """True for a frame of the machinery (never for a notebook cell's own frame)."""
    if frame.cell is not None:
        return False
    name = frame.filename
    hidden = _hidden_files.get(name)
    if hidden is None:
        hidden = _hidden_files[name] = _MACHINERY.search(name) is not None
    return hidden


def label(frame: Frame) -> str:
    """The name of a frame in every view: ``Frame.label`` (the stand-ins' too)."""
    return frame.label


def short_name(frame: Frame) -> str:
    """The name of a frame where room is short: the function, or ``In [N], line L`` for a
    cell's top level."""
    if frame is NO_FRAME or frame is HIDDEN_FRAME:
        return frame.function
    name = frame.function
    if frame.cell is not None and (name == "<module>" or name.startswith("<cell")):
        return frame.location
    return name


def kind(frame: Frame) -> int:
    """``KIND_CELL``, ``KIND_LIB``, ``KIND_USER`` or ``KIND_OTHER`` (the stand-ins)."""
    if frame is NO_FRAME or frame is HIDDEN_FRAME:
        return KIND_OTHER
    if frame.cell is not None or frame.filename.startswith("<ipython-input"):
        return KIND_CELL
    if any(m in frame.filename for m in _LIB_MARKERS):
        return KIND_LIB
    return KIND_USER


def visible_stack(stack: tuple[Frame, ...]) -> tuple[Frame, ...]:
    """``stack`` (leaf first) as the views show it by default; the same object when nothing is
    hidden."""
    outer = len(stack)
    for i in range(outer - 1, -1, -1):
        if stack[i].cell is not None:
            outer = i + 1
            break
    kept: list[Frame] = []
    for f in stack[:outer]:
        if is_hidden(f):
            continue
        if kept and f.cell is not None and f.function == "<module>":
            prev = kept[-1]
            if prev.cell == f.cell and prev.function == "<module>":
                continue
        kept.append(f)
    if len(kept) == len(stack):
        return stack
    return tuple(kept) if kept else _HIDDEN_STACK


class VisibleStacks:
    """A profile's stack list as the views show it, kept in step with the profile's
    (append-only) list: ``stacks`` holds each distinct visible stack once, ``ids[k]`` is the
    position in it of the profile's stack ``k``, and ``cache`` is what renderers keep about
    ``stacks`` (as the profile's own cache is for its list). Built once per profile, so a
    selection's snapshot stays backed by rows and the flame graph keeps its fast path."""

    __slots__ = ("source", "stacks", "ids", "cache", "changed", "_where", "_lock")

    def __init__(self, source: list[tuple[Frame, ...]]) -> None:
        self.source = source
        self.stacks: list[tuple[Frame, ...]] = []
        self.ids: array[int] = array("Q")
        self.cache: dict[str, object] = {}
        self.changed = False  # a stack lost frames, or two stacks became one
        self._where: dict[tuple[Frame, ...], int] = {}
        self._lock = threading.Lock()

    def update(self) -> None:
        """Take in the stacks the profile has gained since the last call."""
        with self._lock:
            source, ids, stacks, where = self.source, self.ids, self.stacks, self._where
            for stack in source[len(ids) : len(source)]:
                shown_stack = visible_stack(stack)
                k = where.get(shown_stack)
                if k is None:
                    k = where[shown_stack] = len(stacks)
                    stacks.append(shown_stack)
                    if shown_stack is not stack:
                        self.changed = True
                else:
                    self.changed = True
                ids.append(k)


def visible_snapshot(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with the policy applied; the same object when it hides nothing.

    A snapshot still backed by the profile's rows stays so (over the profile's
    ``VisibleStacks``, kept in the profile's renderer cache); otherwise the entries are rewritten.
    Either way, stacks that are equal once hidden frames are gone become one."""
    rows = snapshot._source_rows()
    if rows is not None:
        table = rows.cache.get("visible")
        if not isinstance(table, VisibleStacks) or table.source is not rows.stacks:
            table = VisibleStacks(rows.stacks)
            table = rows.cache.setdefault("visible", table)
        table.update()
        if not table.changed:
            return snapshot
        return Snapshot._from_rows(rows.over(table.stacks, table.cache, table.ids),
                                   snapshot.title, snapshot.time)
    out: list[StackStat] = []
    changed = False
    seen: dict[int, tuple[tuple[Frame, ...], tuple[Frame, ...]]] = {}  # stacks are shared
    for e in snapshot.entries:
        hit = seen.get(id(e.stack))
        if hit is None or hit[0] is not e.stack:
            hit = seen[id(e.stack)] = (e.stack, visible_stack(e.stack))
        if hit[1] is not e.stack:
            changed = True
            e = StackStat(hit[1], e.bytes, e.objects, e.samples, e.variance)
        out.append(e)
    # Equal stacks are merged whenever there are any, as the profile-wide table merges them.
    if not changed and len({e.stack for e in out}) == len(out):
        return snapshot
    return Snapshot(merge_stacks(out), snapshot.title, snapshot.time)


def shown(snapshot: Snapshot, all_frames: bool) -> Snapshot:
    """What a view draws of ``snapshot``: every frame, or (the default) the visible ones."""
    return snapshot if all_frames else visible_snapshot(snapshot)


class Labels:
    """Interns frames to small integers by their label (``label``), for the views that merge
    equal locations: the flame graph, the flow graph and the exports.

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
            name = label(frame)
            i = self.by_label.get(name)
            if i is None:
                i = self.by_label[name] = len(self.labels)
                self.labels.append(name)
                self.frames.append(frame)
            self.by_id[id(frame)] = i
        return i

    def indexes(self, frames: Sequence[Frame]) -> list[int]:
        """Label indexes of ``frames`` (C-speed when every frame was seen before)."""
        try:
            return list(map(self.by_id.__getitem__, map(id, frames)))
        except KeyError:
            return [self.index(f) for f in frames]
