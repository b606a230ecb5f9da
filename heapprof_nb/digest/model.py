"""Value classes shared by the reader, the digest and the renderers.

A ``Frame`` is one code location; a ``StackStat`` is the estimate for one call stack (leaf
first, like tracemalloc's tracebacks are most-recent-first); a ``Snapshot`` is a set of
``StackStat`` with the queries a person asks of it (tracemalloc-like statistics, top sites,
comparison) and the renderers (flame graph, flow graph, exports) as methods.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from operator import attrgetter, is_
from typing import TYPE_CHECKING, Any, Iterable, Literal, Sequence

from .._units import format_bytes
from ..sampling import standard_error

if TYPE_CHECKING:  # renderers are imported lazily by the methods below
    import graphviz

__all__ = ["Frame", "StackStat", "Statistic", "StatisticDiff", "Snapshot", "NO_FRAME_LABEL"]

StatisticKey = Literal["lineno", "function", "traceback"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One code location.

    ``cell`` is ``"In [N]"`` when the code came from a notebook cell (then ``source`` is the
    text of that line when the profile kept the cell's source), else ``None``.
    """

    filename: str
    function: str
    line: int
    cell: str | None = None
    source: str | None = None

    @property
    def location(self) -> str:
        """``file:line``, or ``In [N], line L`` for a notebook cell."""
        if self.cell is not None:
            return f"{self.cell}, line {self.line}"
        return f"{self.filename}:{self.line}"

    @property
    def label(self) -> str:
        """How the frame is named everywhere: ``function (file:line)`` or ``In [N], line L``
        (a stand-in of the views, with no place, by its name: ``<hidden frames>``)."""
        if self.line == 0 and self.filename == self.function:
            return self.function
        if self.cell is not None:
            if self.function in ("<module>", "<cell line: 0>") or self.function.startswith("<cell"):
                return self.location
            return f"{self.function} ({self.location})"
        return f"{self.function} ({self.filename}:{self.line})"


@dataclass(frozen=True, slots=True)
class StackStat:
    """Estimated bytes and objects for one stack (``stack[0]`` is the allocating frame).

    ``samples`` is how many sampled events contributed; ``variance`` is the estimator's
    variance in bytes squared (sum over samples of ``w * (w - s)``), the source of error bars.
    """

    stack: tuple[Frame, ...]
    bytes: float
    objects: float
    samples: int
    variance: float = 0.0


#: How a stack without any Python frame is named (an allocation at interpreter start, say).
NO_FRAME_LABEL = "<no Python frame>"


class _KeyLabel:
    """``label``: how the group a statistic is about is named, by its first frame."""

    __slots__ = ()
    key: tuple[Frame, ...]

    @property
    def label(self) -> str:
        return self.key[0].label if self.key else NO_FRAME_LABEL


@dataclass(frozen=True, slots=True)
class Statistic(_KeyLabel):
    """Bytes grouped by a key (tracemalloc's ``Statistic``)."""

    key: tuple[Frame, ...]
    bytes: float
    objects: float
    error: float


@dataclass(frozen=True, slots=True)
class StatisticDiff(_KeyLabel):
    """Difference of one key between two snapshots (tracemalloc's ``StatisticDiff``)."""

    key: tuple[Frame, ...]
    bytes: float
    bytes_diff: float
    objects: float
    objects_diff: float


_NO_FRAME: tuple[Frame, ...] = ()


def _group_key(stack: tuple[Frame, ...], key: StatisticKey) -> tuple[Frame, ...]:
    if key == "traceback":
        return stack
    if not stack:
        return _NO_FRAME
    leaf = stack[0]
    if key == "lineno":
        return (leaf,)
    if key == "function":
        return (Frame(leaf.filename, leaf.function, 0, leaf.cell, None),)
    raise ValueError(f"key must be 'lineno', 'function' or 'traceback', not {key!r}")


class Snapshot:
    """Estimated live (or allocated, or freed) bytes per stack.

    ``entries`` hold one ``StackStat`` per distinct stack. ``title`` says what the snapshot
    measures (e.g. ``live at 12.3 s``); renderers show it.
    """

    __slots__ = ("_entries", "title", "time", "_rows", "_pristine")

    def __init__(self, entries: Iterable[StackStat], title: str = "", time: float | None = None):
        self._entries: list[StackStat] | None = [
            e for e in entries if e.bytes != 0 or e.objects != 0
        ]
        self.title = title
        self.time = time
        self._rows: Any = None
        self._pristine: tuple[StackStat, ...] | None = None

    @classmethod
    def _from_rows(cls, rows: Any, title: str = "", time: float | None = None) -> Snapshot:
        """A snapshot whose ``entries`` are built on first access by ``rows.entries()``.

        ``rows`` is the profile's raw query result (``heapprof_nb.digest.profile.StackRows``: per-stack
        ``ids``, ``bytes``, ``objects``, ``variance``, zero rows already dropped). Until the
        entries are built, and while they are still exactly the ones built, renderers may read
        the rows directly (``_source_rows``): a flame graph of 50,000 stacks then needs no
        ``StackStat`` at all.
        """
        self = cls.__new__(cls)
        self._entries = None
        self.title = title
        self.time = time
        self._rows = rows
        self._pristine = None
        return self

    @property
    def entries(self) -> list[StackStat]:
        """One ``StackStat`` per distinct stack (those with zero bytes and objects left out)."""
        entries = self._entries
        if entries is None:
            entries = self._rows.entries()
            self._pristine = tuple(entries)
            self._entries = entries
        return entries

    @entries.setter
    def entries(self, value: list[StackStat]) -> None:
        self._entries = value
        self._rows = None
        self._pristine = None

    def _source_rows(self) -> Any:
        """The profile rows this snapshot was built from, or None: when it was built from
        entries, or its entries list was changed after it was built (then only the entries
        say what the snapshot holds)."""
        rows = self._rows
        if rows is None:
            return None
        entries = self._entries
        if entries is None:
            return rows
        built = self._pristine
        if built is not None and len(entries) == len(built) and all(map(is_, entries, built)):
            return rows
        return None

    def _n_stacks(self) -> int:
        rows = self._source_rows()
        return len(rows.ids) if rows is not None else len(self.entries)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.entries, self.title, self.time))

    def __repr__(self) -> str:
        return (
            f"<Snapshot {self.title!r}: {format_bytes(self.total)} ± {format_bytes(self.error)} "
            f"in {self._n_stacks()} stacks>"
        )

    def _sum(self, field: str) -> float:
        """The sum of one field (``bytes``, ``objects``, ``variance``) over every stack, from
        the rows while they still say what the snapshot holds."""
        rows = self._source_rows()
        if rows is not None:
            return math.fsum(getattr(rows, field))
        return math.fsum(map(attrgetter(field), self.entries))

    @property
    def total(self) -> float:
        """Estimated bytes, all stacks."""
        return self._sum("bytes")

    @property
    def objects(self) -> float:
        """Estimated number of blocks, all stacks."""
        return self._sum("objects")

    @property
    def error(self) -> float:
        """One-sigma sampling error of ``total`` in bytes (0 when every allocation was traced)."""
        return standard_error(self._sum("variance"))

    def statistics(
        self, key: StatisticKey = "lineno", *, all_frames: bool = False
    ) -> list[Statistic]:
        """Bytes grouped by ``key``, largest first, like ``tracemalloc.Snapshot.statistics``.

        Stacks are seen through the frame policy of every view (notebook and interpreter
        machinery hidden, ``heapprof_nb.views.frames``); ``all_frames=True`` groups the raw
        stacks."""
        groups: dict[tuple[Frame, ...], list[float]] = {}
        for e in self._shown(all_frames).entries:
            acc = groups.setdefault(_group_key(e.stack, key), [0.0, 0.0, 0.0])
            acc[0] += e.bytes
            acc[1] += e.objects
            acc[2] += e.variance
        stats = [
            Statistic(k, b, o, standard_error(v)) for k, (b, o, v) in groups.items()
        ]
        stats.sort(key=lambda s: (-abs(s.bytes), s.label))
        return stats

    def top(
        self, n: int = 10, key: StatisticKey = "lineno", *, all_frames: bool = False
    ) -> list[Statistic]:
        """The ``n`` largest groups by ``key``."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"n must be a non-negative integer, not {n!r}")
        return self.statistics(key, all_frames=all_frames)[:n]

    def compare_to(
        self, other: Snapshot, key: StatisticKey = "lineno", *, all_frames: bool = False
    ) -> list[StatisticDiff]:
        """Per-key difference ``self - other``, largest change first."""
        if not isinstance(other, Snapshot):
            raise TypeError(f"compare_to needs a Snapshot, not {type(other).__name__}")
        mine = {s.key: s for s in self.statistics(key, all_frames=all_frames)}
        theirs = {s.key: s for s in other.statistics(key, all_frames=all_frames)}
        diffs = []
        for k in mine.keys() | theirs.keys():
            a, b = mine.get(k), theirs.get(k)
            ab, ao = (a.bytes, a.objects) if a else (0.0, 0.0)
            bb, bo = (b.bytes, b.objects) if b else (0.0, 0.0)
            diffs.append(StatisticDiff(k, ab, ab - bb, ao, ao - bo))
        diffs.sort(key=lambda d: (-abs(d.bytes_diff), -abs(d.bytes), d.label))
        return diffs

    # Views: each lives in its own module, imported only when asked for. Every one sees the
    # stacks through the same frame policy (heapprof_nb.views.frames); all_frames=True shows
    # every frame.

    def _shown(self, all_frames: bool) -> Snapshot:
        from ..views.frames import shown

        return shown(self, all_frames)

    def flame_html(self, *, title: str | None = None, all_frames: bool = False) -> str:
        """A self-contained HTML flame graph (no network): click to zoom, hover, search."""
        from ..views.flame import flame_html

        return flame_html(self._shown(all_frames), title=title)

    def write_flame_html(
        self, path: str | os.PathLike[str], *, title: str | None = None, all_frames: bool = False
    ) -> str:
        """Write the flame graph as a standalone HTML page (no network needed to open it);
        returns the path."""
        from ..views.flame import flame_page

        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(flame_page(self._shown(all_frames), title=title))
        return path

    def collapsed(self, *, all_frames: bool = False) -> str:
        """Brendan Gregg's folded stacks (root first, ``;``-separated, bytes as the count)."""
        from ..views.exports import collapsed

        return collapsed(self._shown(all_frames))

    def speedscope_json(self, *, all_frames: bool = False) -> str:
        """The snapshot as a speedscope document (JSON text)."""
        from ..views.exports import speedscope_json

        return speedscope_json(self._shown(all_frames))

    def write_pprof(self, path: str, *, all_frames: bool = False) -> str:
        """Write a gzipped pprof profile (objects/count, space/bytes); returns the path."""
        from ..views.pprof import write_pprof

        return write_pprof(self._shown(all_frames), path)

    def flow_graph(self, *, all_frames: bool = False, **options: Any) -> graphviz.Digraph:
        """The flow graph of this snapshot as a ``graphviz.Digraph`` (see
        ``heapprof_nb.views.graph.flow_graph``); a ``compare_to`` snapshot is seen the same way."""
        from ..views.graph import flow_graph

        other = options.get("compare_to")
        if isinstance(other, Snapshot):
            options["compare_to"] = other._shown(all_frames)
        return flow_graph(self._shown(all_frames), **options)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{_html_escape(s.label)}</td><td style='text-align:right'>"
            f"{format_bytes(s.bytes)}</td><td style='text-align:right'>{s.objects:,.0f}</td></tr>"
            for s in self.top(10)
        )
        return (
            f"<div><b>{_html_escape(self.title or 'Snapshot')}</b>: {format_bytes(self.total)} "
            f"± {format_bytes(self.error)}<table><tr><th>site</th><th>bytes</th><th>objects</th>"
            f"</tr>{rows}</table></div>"
        )


def _html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def merge_stacks(entries: Sequence[StackStat]) -> list[StackStat]:
    """Combine entries with equal stacks (sums bytes, objects, samples and variance)."""
    acc: dict[tuple[Frame, ...], list[float]] = {}
    for e in entries:
        a = acc.setdefault(e.stack, [0.0, 0.0, 0.0, 0.0])
        a[0] += e.bytes
        a[1] += e.objects
        a[2] += e.samples
        a[3] += e.variance
    return [StackStat(k, b, o, int(s), v) for k, (b, o, s, v) in acc.items()]
