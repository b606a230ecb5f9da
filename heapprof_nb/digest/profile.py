"""A profile: one heapprof_nb log, digested, with the memory-over-time views on it.

``read(path)`` returns a :class:`Profile`. Its views:

- :meth:`Profile.history` -> :class:`History`: live bytes (total, per top site, other), RSS,
  the sampling error and the markers, against seconds from the start of the run;
- :meth:`Profile.peak` -> ``(time, bytes)``: the largest estimated live heap (exact in mode 2);
- :meth:`Profile.snapshot_at` -> :class:`~heapprof_nb.digest.model.Snapshot`: bytes live at a time;
- :meth:`Profile.window` -> :class:`Window`: for a span (t0, t1], live at t1, allocated in the
  span and kept, allocated and freed in it (temporary), and the growth from t0 to t1.

Times are seconds since the run started (``start_ns`` of the log). The state at time ``t``
includes every event logged at or before ``t``, so ``window(t0, t1)`` covers events after t0 up
to and including t1. Estimates follow the "Weights" section of ``docs/log-format.md``; ``error``
fields are one-sigma sampling errors (0 when every allocation was traced, mode 2).

The work happens in :mod:`heapprof_nb.digest.thread` (the background thread and the C digest).
Snapshot and window queries are answered from the digest's in-memory interval index (24 bytes
per sampled allocation, capped at ``index_limit``); without it they re-read the log with the C
decoder. Frames of notebook cells are named from the log's META facts: ``cell_label:<file>``
gives ``Frame.cell`` (``In [N]``) and ``cell_source:<file>`` gives ``Frame.source``, the text of
the frame's line.
"""

from __future__ import annotations

import math
import os
import threading
from array import array
from dataclasses import dataclass
from itertools import compress
from operator import add
from typing import Any, Sequence, overload

from .. import _digest
from .._format import TRAILER_FIELDS  # names of the TRAILER counters, in file order
from ..sampling import standard_error
from .model import Frame, Snapshot, StackStat
from .thread import Digest

__all__ = ["Profile", "History", "Window", "Marker", "read", "TRAILER_FIELDS", "MARKER_KINDS"]

#: MARKER.kind -> name.
MARKER_KINDS: dict[int, str] = {0: "label", 1: "cell_start", 2: "cell_end"}

_NS = 1e9
_ALL_POINTS = 1 << 62


@dataclass(frozen=True, slots=True)
class Marker:
    """A MARKER record: ``kind`` 0 = user label, 1 = cell start, 2 = cell end."""

    time: float
    kind: int
    label: str

    @property
    def kind_name(self) -> str:
        """``label``, ``cell_start``, ``cell_end`` (or ``kind N`` for an unknown kind)."""
        return MARKER_KINDS.get(self.kind, f"kind {self.kind}")


@dataclass(slots=True, eq=False, repr=False)
class History:
    """Memory over time, one value per point (the end of a group of digest buckets).

    All series are ``array('d')`` of the same length as ``times``:

    - ``times``: seconds from the start; a point holds the state at its time (the last point is
      the time of the last record read, so the final partial bucket is always there);
    - ``total``: estimated live bytes; ``max``: the largest live bytes inside the point's span;
    - ``objects``: estimated live blocks; ``error``: one-sigma sampling error of ``total``;
    - ``rss``: the process resident set size last recorded (NaN before the first reading);
    - ``by_site``: the ``sites`` largest allocation sites (full stacks, leaf first), each its
      live bytes, largest peak first; ``other`` is ``total`` minus their sum. A site that was
      below the digest's precision at a point counts in ``other`` there.

    ``markers`` are the profile's markers (cell starts and ends, user labels); ``bucket`` is the
    span of one point in seconds.
    """

    times: array[float]
    total: array[float]
    max: array[float]  # noqa: A003 - the natural name of the series
    objects: array[float]
    error: array[float]
    rss: array[float]
    by_site: dict[tuple[Frame, ...], array[float]]
    other: array[float]
    markers: list[Marker]
    bucket: float

    def __len__(self) -> int:
        return len(self.times)

    def __repr__(self) -> str:
        peak = max(self.max) if len(self.max) else 0.0
        end = self.times[-1] if len(self.times) else 0.0
        return (
            f"<History {len(self.times)} points over {end:.3f} s, peak {peak:,.0f} B, "
            f"{len(self.by_site)} sites>"
        )


class _Measure:
    """One of a Window's measures as a read-only attribute: its snapshot, built on first access
    (the attribute's name is the measure's)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, window: None, owner: type) -> _Measure: ...

    @overload
    def __get__(self, window: Window, owner: type) -> Snapshot: ...

    def __get__(self, window: Window | None, owner: type) -> Snapshot | _Measure:
        return self if window is None else window._get(self.name)


class Window:
    """The four measures of a span (t0, t1], each a :class:`~heapprof_nb.digest.model.Snapshot`:

    - ``live_at_end``: live at t1;
    - ``allocated_kept``: allocated in the span and still live at t1;
    - ``allocated_freed``: allocated and freed inside the span (temporary memory);
    - ``growth``: live at t1 minus live at t0, per stack (negative where memory was released).

    Snapshots are built on first access.
    """

    __slots__ = ("t0", "t1", "_raw", "_profile", "_built")

    MEASURES: tuple[str, ...] = ("live_at_end", "allocated_kept", "allocated_freed", "growth")

    def __init__(
        self, profile: Profile, t0: float, t1: float, raw: Sequence[_digest.Measure]
    ) -> None:
        self.t0 = t0
        self.t1 = t1
        self._raw = raw
        self._profile = profile
        self._built: dict[str, Snapshot] = {}

    def _get(self, name: str) -> Snapshot:
        snap = self._built.get(name)
        if snap is None:
            i = self.MEASURES.index(name)
            titles = (
                f"live at {self.t1:.6g} s",
                f"allocated in ({self.t0:.6g}, {self.t1:.6g}] s and live at the end",
                f"allocated and freed in ({self.t0:.6g}, {self.t1:.6g}] s",
                f"growth from {self.t0:.6g} s to {self.t1:.6g} s",
            )
            snap = self._profile._snapshot(self._raw[i], titles[i], self.t1)
            self._built[name] = snap
        return snap

    live_at_end = _Measure()
    allocated_kept = _Measure()
    allocated_freed = _Measure()
    growth = _Measure()

    def measures(self) -> dict[str, Snapshot]:
        """All four snapshots by name."""
        return {name: self._get(name) for name in self.MEASURES}

    def __repr__(self) -> str:
        return f"<Window ({self.t0:.6g}, {self.t1:.6g}] s>"


def _check_path(path: str | os.PathLike[str]) -> str:
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(2, "No such profile file", p)
    if os.path.isdir(p):
        raise IsADirectoryError(21, "A profile is a file, not a directory", p)
    return p


class Profile:
    """One log and its digest. Build it with :func:`read`.

    Header facts: ``pid``, ``python_version``, ``mode`` (0 byte sampling, 1 per-size
    probabilities, 2 every allocation), ``rate``, ``size_buckets`` (mode 1), ``max_frames``,
    ``seed``, ``start_ns`` (monotonic clock at start), ``start_wall_ns`` / ``start_wall`` (wall
    clock at start, ns / s since the Unix epoch).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        wait: bool = True,
        follow: bool | None = None,
        bucket: float | None = None,
        max_buckets: int = _digest.AUTO_BUCKETS,
        precision: float = _digest.DEFAULT_PRECISION,
        index_limit: int = _digest.DEFAULT_INDEX_LIMIT,
        strict: bool = False,
        cache: bool = True,
    ) -> None:
        self.path = _check_path(path)
        self.digest = Digest(
            self.path,
            follow=(not wait) if follow is None else follow,
            bucket=bucket,
            max_buckets=max_buckets,
            precision=precision,
            index_limit=index_limit,
            strict=strict,
            cache=cache,
        )
        if wait:
            self.digest.wait()
        else:
            self.digest.wait_header()
        header = self.digest.core.header()
        if header is None:  # the digest ended (cancelled) before the header
            raise self.digest.error or RuntimeError("the digest stopped before the log header")
        self.pid: int = header["pid"]
        self.python_version: str = header["python_version"]
        self.mode: int = header["mode"]
        self.rate: int = header["rate"]
        self.size_buckets: tuple[tuple[int, float], ...] = tuple(header["buckets"])
        self.max_frames: int = header["max_frames"]
        self.seed: int = header["seed"]
        self.start_ns: int = header["start_ns"]
        self.start_wall_ns: int = header["start_wall_ns"]
        self._lock = threading.Lock()
        self._strings: list[str] = [""]
        self._frame_ids: list[tuple[int, int, int]] = [(0, 0, 0)]
        self._frames: list[Frame] = []
        # stack k (k >= 1) is _stack_ids[_stack_offs[k-1]:_stack_offs[k]]; _stack_offs[0] = 0
        self._stack_ids: array[int] = array("I")
        self._stack_offs: array[int] = array("Q", [0])
        self._stacks: list[tuple[Frame, ...]] = []
        # what renderers derive from _stacks (the flame graph's label table), kept across
        # queries; replaced together with _stacks
        self._stack_cache: dict[str, Any] = {}
        self._meta: dict[str, str] = {}
        self._n_meta = 0
        self._n_markers = 0
        self._markers: list[Marker] = []

    # -- facts -----------------------------------------------------------------------------------

    @property
    def start_wall(self) -> float:
        """Wall-clock start of the run, seconds since the Unix epoch."""
        return self.start_wall_ns / _NS

    @property
    def duration(self) -> float:
        """Seconds from the start to the last record read."""
        return int(self.digest.core.info()["end_ns"]) / _NS

    @property
    def complete(self) -> bool:
        """True when the log ended with its TRAILER (the run stopped normally)."""
        return bool(self.digest.core.info()["complete"])

    @property
    def truncated(self) -> bool:
        """True when the log has no TRAILER (the process died, or it is still being written)."""
        return not self.complete

    @property
    def counters(self) -> dict[str, int] | None:
        """The TRAILER counters by name (``allocs_seen``, ``samples``...), or None."""
        t = self.digest.core.trailer()
        return None if t is None else dict(zip(TRAILER_FIELDS, t))

    @property
    def digest_counters(self) -> dict[str, int]:
        """What the digest counted: records, allocs, frees, unmatched_frees, reused_addresses."""
        info = self.digest.core.info()
        keys = ("records", "allocs", "frees", "unmatched_frees", "reused_addresses")
        return {k: int(info[k]) for k in keys}

    @property
    def meta(self) -> dict[str, str]:
        """META facts (last value of each key)."""
        with self._lock:
            self._refresh()
            return dict(self._meta)

    @property
    def markers(self) -> list[Marker]:
        """MARKER records in time order."""
        with self._lock:
            self._refresh()
            return list(self._markers)

    def cells(self) -> list[tuple[float, float, str]]:
        """Cell runs as ``(start, end, label)`` from cell-start/cell-end markers, in time order.

        A cell that has not ended (still running, or the process died) ends at :attr:`duration`.
        """
        spans: list[tuple[float, float, str]] = []
        open_cells: dict[str, float] = {}
        for m in self.markers:
            if m.kind == 1:
                open_cells[m.label] = m.time
            elif m.kind == 2 and m.label in open_cells:
                spans.append((open_cells.pop(m.label), m.time, m.label))
        end = self.duration
        spans.extend((t, end, label) for label, t in open_cells.items())
        spans.sort()
        return spans

    @property
    def frames(self) -> dict[int, Frame]:
        """Frames by id (cell names applied)."""
        with self._lock:
            self._refresh()
            return {i: f for i, f in enumerate(self._frames) if i > 0}

    @property
    def stacks(self) -> dict[int, tuple[Frame, ...]]:
        """Stacks by id, leaf first (id 0: the empty stack of an allocation with no frame)."""
        with self._lock:
            self._refresh()
            return dict(enumerate(self._stacks))

    def stack(self, stack_id: int) -> tuple[Frame, ...]:
        """The frames of one stack, leaf first."""
        with self._lock:
            self._refresh()
            if not 0 <= stack_id < len(self._stacks):
                raise KeyError(stack_id)
            return self._stacks[stack_id]

    def __repr__(self) -> str:
        state = "complete" if self.complete else "truncated"
        return (
            f"<Profile {self.path!r} pid {self.pid}, mode {self.mode}, "
            f"{self.duration:.3f} s, {state}>"
        )

    # -- views -----------------------------------------------------------------------------------

    def history(self, points: int | None = None, *, sites: int = 10) -> History:
        """Memory over time with at most ``points`` points (default: every digest bucket).

        ``sites`` is how many allocation sites get their own series.
        """
        if points is not None and (
            not isinstance(points, int) or isinstance(points, bool) or points <= 0
        ):
            raise ValueError(f"points must be a positive integer, not {points!r}")
        if not isinstance(sites, int) or isinstance(sites, bool) or sites < 0:
            raise ValueError(f"sites must be a non-negative integer, not {sites!r}")
        raw = self.digest.core.history(_ALL_POINTS if points is None else points, sites)
        _group, bucket_ns, t_b, total_b, obj_b, var_b, max_b, _maxt_b, rss_b, top, series_b = raw
        times = array("d", (t / _NS for t in _u64(t_b)))
        total = _f64(total_b)
        variance = _f64(var_b)
        error = array("d", map(standard_error, variance))
        n = len(times)
        series = _f64(series_b)
        other = array("d", total)
        by_site: dict[tuple[Frame, ...], array[float]] = {}
        with self._lock:
            self._refresh()
            stacks = self._stacks
            for i, sid in enumerate(top):
                row = series[i * n : (i + 1) * n]
                key = stacks[sid]
                if key in by_site:
                    prev = by_site[key]
                    row = array("d", (a + b for a, b in zip(prev, row)))
                by_site[key] = row
                for j in range(n):
                    other[j] -= series[i * n + j]
            markers = list(self._markers)
        return History(
            times=times,
            total=total,
            max=_f64(max_b),
            objects=_f64(obj_b),
            error=error,
            rss=_f64(rss_b),
            by_site=by_site,
            other=other,
            markers=markers,
            bucket=bucket_ns / _NS,
        )

    def peak(self) -> tuple[float, float]:
        """``(time, bytes)``: the largest estimated live heap and when it was first reached."""
        t, b = self.digest.core.peak()
        return t / _NS, b

    def snapshot_at(self, t: float) -> Snapshot:
        """Estimated live bytes and objects per stack at time ``t`` (seconds from the start)."""
        t_ns = self._time_ns(t, "t")
        raw = self._query(t_ns, t_ns, live_only=True)
        return self._snapshot(raw[0], f"live at {t:.6g} s", t)

    def window(self, t0: float, t1: float) -> Window:
        """The measures of the span (t0, t1] (see :class:`Window`)."""
        a = self._time_ns(t0, "t0")
        b = self._time_ns(t1, "t1")
        if t0 > t1:
            raise ValueError(f"t0 ({t0!r}) must not be after t1 ({t1!r})")
        return Window(self, t0, t1, self._query(a, b, live_only=False))

    def view(self, **options: Any) -> Any:
        """The interactive view of this profile (``heapprof_nb.notebook.view.ProfileView``; options
        such as ``all_frames=True``, which shows the frames every view hides): the time
        plot, a span selection and its flame graph, flow graph and top sites. Needs ipywidgets
        and matplotlib (ipympl for mouse selection)."""
        from ..notebook.view import ProfileView

        return ProfileView(self, **options)

    # -- internals -------------------------------------------------------------------------------

    def _time_ns(self, t: float, name: str) -> int:
        end_ns = int(self.digest.core.info()["end_ns"])
        duration = end_ns / _NS
        if (
            isinstance(t, bool)
            or not isinstance(t, (int, float))
            or not math.isfinite(t)
            or t < 0
            or t > duration
        ):
            raise ValueError(
                f"{name}={t!r} is outside the profile's time range [0, {duration!r}] s"
            )
        return min(end_ns, round(t * _NS))

    def _query(self, t0_ns: int, t1_ns: int, *, live_only: bool) -> tuple[_digest.Measure, ...]:
        core = self.digest.core
        if core.info()["has_index"]:
            return core.window(t0_ns, t1_ns, live_only)
        with open(self.path, "rb") as f:
            return core.window(t0_ns, t1_ns, live_only, f.fileno())

    def _snapshot(self, raw: _digest.Measure, title: str, time: float) -> Snapshot:
        ids, by, ob, va, sa = raw
        with self._lock:
            self._refresh()
            stacks = self._stacks
            cache = self._stack_cache
        rows = StackRows(stacks, cache, _u64(ids), _f64(by), _f64(ob), _f64(va), _u64(sa))
        return Snapshot._from_rows(rows, title=title, time=time)

    def _refresh(self) -> None:
        """Bring the frame and stack tables up to date with the digest (lock held)."""
        core = self.digest.core
        info = core.info()
        rebuild = False
        if info["n_meta"] > self._n_meta:
            for key, value in core.meta(self._n_meta):
                if key.startswith(("cell_label:", "cell_source:")):
                    rebuild = True
                self._meta[key] = value
            self._n_meta = info["n_meta"]
        if info["n_markers"] > self._n_markers:
            for t, kind, label in core.markers(self._n_markers):
                self._markers.append(Marker(t / _NS, kind, label))
            self._n_markers = info["n_markers"]
        # Stacks, then frames, then strings: the digest may define more while we fetch, and a
        # definition only refers to earlier ones, so everything a fetched stack names is fetched.
        if info["n_stacks"] >= len(self._stack_offs):
            offs_b, ids_b = core.stacks_packed(len(self._stack_offs))
            offs = _u64(offs_b)
            base = len(self._stack_ids)
            self._stack_ids.frombytes(ids_b)
            self._stack_offs.extend(base + o for o in offs[1:])
        if info["n_frames"] >= len(self._frame_ids):
            self._frame_ids.extend(core.frames(len(self._frame_ids)))
        if info["n_strings"] >= len(self._strings):
            self._strings.extend(core.strings(len(self._strings)))
        if rebuild:
            self._frames = []
            self._stacks = []
            self._stack_cache = {}
        if len(self._frames) < len(self._frame_ids):
            cells = _CellNames(self._meta)
            strings = self._strings
            frames = self._frames
            for fid in range(len(frames), len(self._frame_ids)):
                file_id, func_id, line = self._frame_ids[fid]
                filename = strings[file_id]
                cell, source = cells.lookup(filename, line)
                frames.append(Frame(filename, strings[func_id], line, cell, source))
        have, want = len(self._stacks), len(self._stack_offs)
        if have < want:
            # frames of the new stacks in one pass, then cut into tuples
            offs = self._stack_offs
            first = offs[have - 1] if have else 0
            flat = list(map(self._frames.__getitem__, self._stack_ids[first : offs[want - 1]]))
            if not have:
                self._stacks.append(())  # id 0: the empty stack
                have = 1
            self._stacks.extend(
                tuple(flat[offs[k - 1] - first : offs[k] - first]) for k in range(have, want)
            )


class _CellNames:
    """``cell_label:<file>`` and ``cell_source:<file>`` META facts, by filename."""

    def __init__(self, meta: dict[str, str]) -> None:
        self.labels: dict[str, str] = {}
        self.sources: dict[str, list[str]] = {}
        for key, value in meta.items():
            if key.startswith("cell_label:"):
                self.labels[key[len("cell_label:") :]] = value
            elif key.startswith("cell_source:"):
                self.sources[key[len("cell_source:") :]] = value.splitlines()

    def lookup(self, filename: str, line: int) -> tuple[str | None, str | None]:
        cell = self.labels.get(filename)
        lines = self.sources.get(filename)
        source = lines[line - 1] if lines is not None and 1 <= line <= len(lines) else None
        return cell, source


class StackRows:
    """One measure of a query, per stack: the rows a lazy ``Snapshot`` is built from.

    ``stacks`` is the profile's stack list when the query ran (append-only; replaced, not
    changed, when cell names arrive) and ``cache`` what renderers keep about it. Rows with zero
    bytes and zero objects are dropped here, as ``Snapshot`` drops such entries.
    """

    __slots__ = ("stacks", "cache", "ids", "bytes", "objects", "variance", "samples")

    def __init__(
        self,
        stacks: list[tuple[Frame, ...]],
        cache: dict[str, Any],
        ids: array[int],
        by: array[float],
        ob: array[float],
        va: array[float],
        sa: array[int],
    ) -> None:
        if 0.0 in by and not all(map(_nonzero, by, ob)):
            keep = list(map(_nonzero, by, ob))
            ids, sa = (array(a.typecode, compress(a, keep)) for a in (ids, sa))
            by, ob, va = (array(a.typecode, compress(a, keep)) for a in (by, ob, va))
        self.stacks = stacks
        self.cache = cache
        self.ids = ids
        self.bytes = by
        self.objects = ob
        self.variance = va
        self.samples = sa

    def entries(self) -> list[StackStat]:
        return _stack_stats(
            self.stacks, self.ids, self.bytes, self.objects, self.variance, self.samples
        )

    def over(
        self, stacks: list[tuple[Frame, ...]], cache: dict[str, Any], new_ids: Sequence[int]
    ) -> StackRows:
        """These rows over another stack list (a view of the profile's, such as the one the
        frame policy hides frames in): row ``i`` goes to stack ``new_ids[ids[i]]``, and rows
        that land on the same stack are summed into one, as a snapshot holds each stack once."""
        ids = array("Q", map(new_ids.__getitem__, self.ids))
        if len(set(ids)) == len(ids):
            return StackRows(stacks, cache, ids, self.bytes, self.objects, self.variance,
                             self.samples)
        sums: dict[int, list[float]] = {}
        for i, *row in zip(ids, self.bytes, self.objects, self.variance, self.samples):
            sums[i] = list(map(add, sums.get(i, _NO_ROW), row))
        merged = list(sums.values())
        by, ob, va = (array("d", (m[k] for m in merged)) for k in range(3))
        return StackRows(stacks, cache, array("Q", sums), by, ob, va,
                         array("Q", (int(m[3]) for m in merged)))


_NO_ROW = (0.0, 0.0, 0.0, 0)


def _nonzero(b: float, o: float) -> bool:
    return b != 0 or o != 0


_STAT_FIELDS = ("stack", "bytes", "objects", "samples", "variance")


def _slot_setters() -> tuple[Any, ...] | None:
    """The slot descriptors of StackStat, if it is still the frozen slots dataclass we know."""
    if getattr(StackStat, "__slots__", None) != _STAT_FIELDS:
        return None
    try:
        return tuple(StackStat.__dict__[name].__set__ for name in _STAT_FIELDS)
    except (KeyError, AttributeError):
        return None


_SETTERS = _slot_setters()


def _stack_stats(
    stacks: Sequence[tuple[Frame, ...]],
    ids: array[int],
    by: array[float],
    ob: array[float],
    va: array[float],
    sa: array[int],
) -> list[StackStat]:
    """One StackStat per row. A window over 50,000 stacks makes 50,000 of them at once: filling
    the slots directly costs half of going through the frozen dataclass's ``__init__`` (which
    sets each field with ``object.__setattr__``); the result is the same object."""
    if _SETTERS is None:
        return [StackStat(stacks[i], b, o, n, v) for i, b, o, v, n in zip(ids, by, ob, va, sa)]
    set_stack, set_bytes, set_objects, set_samples, set_variance = _SETTERS
    new = object.__new__
    out: list[StackStat] = []
    append = out.append
    for i, b, o, v, n in zip(ids, by, ob, va, sa):
        e = new(StackStat)
        set_stack(e, stacks[i])
        set_bytes(e, b)
        set_objects(e, o)
        set_samples(e, n)
        set_variance(e, v)
        append(e)
    return out


def _u64(b: bytes) -> array[int]:
    a = array("Q")
    a.frombytes(b)
    return a


def _f64(b: bytes) -> array[float]:
    a = array("d")
    a.frombytes(b)
    return a


def read(
    path: str | os.PathLike[str],
    *,
    wait: bool = True,
    follow: bool | None = None,
    bucket: float | None = None,
    cache: bool = True,
    **options: Any,
) -> Profile:
    """Open a log and digest it.

    ``wait=True`` returns once the whole log is digested (a corrupt log raises
    :class:`~heapprof_nb.errors.ProfileFormatError`). ``wait=False`` returns as soon as the
    header is read; the digest goes on in the background and, unless ``follow=False``, keeps
    following the log while it grows: every view shows what has been digested so far
    (``profile.digest.progress``, ``.done``, ``.wait()``, ``.cancel()``). ``bucket`` fixes the
    bucket width in seconds; ``cache`` reuses and writes ``<path>.digest``. Other options
    (``max_buckets``, ``precision``, ``index_limit``, ``strict``) go to :class:`Profile`.
    """
    return Profile(path, wait=wait, follow=follow, bucket=bucket, cache=cache, **options)

