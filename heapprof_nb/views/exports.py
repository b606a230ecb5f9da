"""Folded stacks (flamegraph.pl, inferno) and speedscope documents of a ``Snapshot``.

Both write the stacks of one sign with whole-byte weights (``signed``): only positive stacks,
or with ``negative=True`` the shrinking ones as positive counts, because flamegraph.pl, inferno
and speedscope read only positive counts.
"""

from __future__ import annotations

import json

from ..digest.model import Snapshot
from .frames import KIND_OTHER, Labels, kind, label
from .signed import signed_stacks

__all__ = ["collapsed", "speedscope_json", "SPEEDSCOPE_SCHEMA"]

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def _folded_label(label: str) -> str:
    if ";" in label or "\n" in label or "\r" in label:
        label = label.replace(";", ",").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return label


def _paths(
    snapshot: Snapshot, negative: bool
) -> tuple[Labels, list[tuple[tuple[int, ...], int]]]:
    """Root-first label-index paths with their weights, equal paths merged, in first-seen order."""
    stacks, weights, _, _ = signed_stacks(snapshot, negative)
    labels = Labels()
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
        if kind(f) == KIND_OTHER:  # a stand-in (no Python frame, hidden frames): no place
            frames.append({"name": label(f)})
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
