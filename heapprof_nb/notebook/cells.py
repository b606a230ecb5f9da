"""Notebook cells as frames: which compiled filename is which ``In [N]``, and its source.

IPython compiles every cell under a filename of its own and remembers the execution count of
each in ``shell.compile._filename_map`` (filename -> N; IPython >= 7.x, still so in 8.x and 9.x):

- plain IPython names cells ``<ipython-input-N-<sha1[:12]>>``;
- ipykernel names them ``/tmp/ipykernel_<pid>/<murmur2 hash>.py`` (``XCachingCompiler``, or
  ``$IPYKERNEL_CELL_NAME``), which says nothing about N by itself.

Which ``N`` a running cell has: IPython up to 9.7 adds one to ``shell.execution_count`` after
the cell ran, 9.8 and later before it runs (before ``pre_run_cell``, when the cell is stored in the
history), so inside a cell ``execution_count`` is N on one and N + 1 on the other.
``running_count`` (for a magic inside the cell) and ``next_cell_count`` (for ``pre_run_cell``)
give the N the notebook shows on both; the compiled filename of the cell is mapped to that N by
IPython itself.

The compiled text of each is in ``linecache`` (that is what frame line numbers point into) and the
text the user typed is in the history (``input_hist_raw[N]``). Profiles keep both facts as META
records (``cell_label:<filename>`` = ``In [N]``, ``cell_source:<filename>`` = the text, see
``docs/log-format.md``) so a profile names its cells even when read in another process.

``CellWatcher`` follows cells while a profile runs across cells (``%heapprof start``): a
``pre_run_cell`` callback writes a cell-start marker, a ``post_run_cell`` callback writes the META
records of the cells seen so far and a cell-end marker.
"""

from __future__ import annotations

import linecache
import re
from typing import Any, Callable

__all__ = [
    "cell_label",
    "running_count",
    "next_cell_count",
    "cell_filenames",
    "cell_source",
    "register_source",
    "count_lines",
    "Bookkeeping",
    "CellMetaWriter",
    "CellWatcher",
]

_INPUT_NAME = re.compile(r"^<ipython-input-(\d+)-[0-9a-f]+>$")
_FORMATTED = re.compile(r"^In ?\[(\d+)\]$")
#: Longest cell source kept in a profile (the log's text limit is 1 MiB).
MAX_SOURCE = 512 * 1024


def cell_label(count: int) -> str:
    """``In [N]``: how a cell is named everywhere (markers, frames, plots)."""
    return f"In [{count}]"


def _counts_ahead() -> bool:
    """True on IPython >= 9.8 (checked in the sources of 9.7.0 and 9.8.0), which counts a cell
    before it runs."""
    try:
        import IPython

        return tuple(IPython.version_info[:2]) >= (9, 8)
    except Exception:  # no IPython: a stand-in shell counts like IPython 8
        return False


def running_count(shell: Any) -> int:
    """The N of ``In [N]`` of the cell running now, as the notebook shows it (call it from code
    the cell runs, such as a magic).

    The ``ExecutionResult`` IPython hands its display hook for the running cell holds N (IPython
    8: when the cell is stored in the history; 9.8 and later: always); otherwise
    ``execution_count`` is N (a cell not stored in the history is compiled as N =
    ``execution_count`` on both).
    """
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    count = getattr(result, "execution_count", None)
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    return int(shell.execution_count)


def next_cell_count(shell: Any, info: Any = None) -> int:
    """The N of the cell about to run, for a ``pre_run_cell`` callback (given IPython's ``info``).

    IPython >= 9.8 has already counted a cell stored in the history at ``pre_run_cell``; earlier
    versions count it after it ran.
    """
    count = int(shell.execution_count)
    if getattr(info, "store_history", True) and _counts_ahead():
        count -= 1
    return count


def cell_filenames(shell: Any) -> dict[str, int]:
    """Every cell filename this shell compiled, mapped to its execution count.

    Reads IPython's own map; falls back to ``format_code_name`` over ``linecache`` and to
    parsing ``<ipython-input-N-...>`` names, so an IPython that changes the private map still
    names its cells.
    """
    compiler = getattr(shell, "compile", None)
    found: dict[str, int] = {}
    fmap = getattr(compiler, "_filename_map", None)
    if isinstance(fmap, dict):
        for name, count in list(fmap.items()):
            if isinstance(name, str) and isinstance(count, int) and not isinstance(count, bool):
                found[name] = count
        return found
    fmt: Callable[[str], Any] | None = getattr(compiler, "format_code_name", None)
    for name in list(linecache.cache):
        if not isinstance(name, str):
            continue
        count = _count_from_name(name, fmt)
        if count is not None:
            found[name] = count
    return found


def _count_from_name(name: str, fmt: Callable[[str], Any] | None) -> int | None:
    if fmt is not None:
        try:
            formatted = fmt(name)
        except Exception:  # a third-party compiler: fall through to the name itself
            formatted = None
        if isinstance(formatted, tuple) and len(formatted) == 2:
            m = _FORMATTED.match(str(formatted[1]))
            if m:
                return int(m.group(1))
    m = _INPUT_NAME.match(name)
    return int(m.group(1)) if m else None


def register_source(shell: Any, filename: str, count: int, source: str) -> None:
    """Make ``filename`` a cell of IPython's: In [count], its lines in ``linecache``.

    For code compiled under a name of our own (the body of a ``%%heapprof`` cell), so tracebacks
    and profiles both show it as the cell.
    """
    fmap = getattr(getattr(shell, "compile", None), "_filename_map", None)
    if isinstance(fmap, dict):
        fmap[filename] = count
    lines = [line + "\n" for line in source.splitlines()]
    linecache.cache[filename] = (len(source), None, lines, filename)


def cell_source(shell: Any, filename: str, count: int) -> str | None:
    """The text of the cell compiled as ``filename``, line for line as its code numbers them.

    The raw text from the history when it has as many lines as the compiled text (magics such
    as ``%time x`` are transformed to code line for line), else the compiled text.
    """
    entry = linecache.cache.get(filename)
    compiled: str | None = None
    if entry is not None and len(entry) >= 3 and isinstance(entry[2], list):
        compiled = "".join(entry[2])
    raw: str | None = None
    hist = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if isinstance(hist, list) and 0 <= count < len(hist) and isinstance(hist[count], str):
        raw = hist[count]
    if raw is not None and (compiled is None or count_lines(raw) == count_lines(compiled)):
        return raw
    return compiled


def count_lines(text: str) -> int:
    """Lines of ``text``, a final newline or not."""
    return len(text.rstrip("\n").splitlines())


def _clip(source: str) -> str:
    if len(source) <= MAX_SOURCE:
        return source
    cut = source.rfind("\n", 0, MAX_SOURCE)
    return source[: cut + 1 if cut > 0 else MAX_SOURCE]


class Bookkeeping:
    """Sections of heapprof_nb's own work while a profile runs, kept out of that profile: between
    ``begin()`` and ``end()`` this thread's allocations are not sampled (frees still are).

    The engine's switch (``_native.set_quiet``) in plain calls rather than a ``with`` block,
    because a context manager allocates on the sampled side of the flag: the context manager,
    its generator and the bound ``__exit__`` that ``with`` keeps (attributed to the caller's
    line) are made before the flag is set and live through the block, and leaving allocates a
    StopIteration after the flag is cleared. At rate 1 those showed up in the user's profile as
    sites of ours. ``begin``/``end`` allocate nothing.

    Sections nest (a depth count here, and the engine's own count too), so the quiet calls of
    ``_api._mark_cell``/``_api._add_meta``/``_api.start()`` inside a section leave it quiet.

    Create it before the profile starts (it imports the engine); one per shell, used from the
    shell's thread.
    """

    __slots__ = ("_native", "_depth")

    def __init__(self) -> None:
        from .. import _native

        self._native: Any = _native
        self._depth = 0

    def begin(self) -> None:
        if self._depth == 0:
            self._native.set_quiet(True)
        self._depth += 1

    def end(self) -> None:
        self._depth -= 1
        if self._depth <= 0:
            self._depth = 0
            self._native.set_quiet(False)

    def running(self) -> bool:
        return bool(self._native.is_running())

    def mark(self, kind: int, label: str) -> None:
        """A cell marker (1 start, 2 end), if a profile runs."""
        if self._native.is_running():
            self._native.mark(kind, label)

    def meta(self, key: str, value: str) -> None:
        """A META record, if a profile runs."""
        if self._native.is_running():
            self._native.meta(key, value)


class CellMetaWriter:
    """Writes ``cell_label``/``cell_source`` META records into the running profile, each once.

    Every cell of the session is written, not only those run while profiling: functions defined
    in earlier cells run too. A cell whose count changed (ipykernel names a re-run cell by its
    text, so the same filename comes back with a new N) is written again; the last record wins.
    """

    def __init__(self, shell: Any, quiet: Bookkeeping) -> None:
        self._shell = shell
        self._quiet = quiet
        self._written: dict[str, int] = {}

    def write(self) -> int:
        """Write the cells not written yet (a bookkeeping section); returns how many."""
        quiet = self._quiet
        quiet.begin()
        try:
            if not quiet.running():
                return 0
            n = 0
            for name, count in cell_filenames(self._shell).items():
                if self._written.get(name) == count:
                    continue
                source = cell_source(self._shell, name, count)
                quiet.meta("cell_label:" + name, cell_label(count))
                if source is not None:
                    quiet.meta("cell_source:" + name, _clip(source))
                self._written[name] = count
                n += 1
            return n
        finally:
            quiet.end()


class CellWatcher:
    """Marks every cell run while a profile runs across cells, and records the cells' source.

    ``begin()`` it right after the profile started (it registers its callbacks); its own
    work, the callbacks' included, runs in bookkeeping sections, not sampled into the profile.
    """

    def __init__(self, shell: Any, quiet: Bookkeeping) -> None:
        self._shell = shell
        self._quiet = quiet
        self._meta = CellMetaWriter(shell, quiet)
        self._open: str | None = None
        self._registered = False

    @property
    def active(self) -> bool:
        return self._registered

    def register(self) -> None:
        """Follow cells from now on (``pre_run_cell``/``post_run_cell`` callbacks)."""
        if not self._registered:
            self._shell.events.register("pre_run_cell", self._pre_run_cell)
            self._shell.events.register("post_run_cell", self._post_run_cell)
            self._registered = True

    def begin(self, current_count: int | None) -> None:
        """Start watching; the cell that is running now (``current_count``) is opened at once."""
        self._quiet.begin()
        try:
            self._meta.write()
            if current_count is not None:
                self._open_cell(cell_label(current_count))
            self.register()
        finally:
            self._quiet.end()

    def end(self) -> None:
        """Stop watching: records the cells seen, closes the open cell, removes the callbacks.

        Call it while the profile still runs so the records reach the file.
        """
        self._quiet.begin()
        try:
            self.unregister()
            self._meta.write()
            self._close_cell()
        finally:
            self._quiet.end()

    def unregister(self) -> None:
        if self._registered:
            for event, cb in (
                ("pre_run_cell", self._pre_run_cell),
                ("post_run_cell", self._post_run_cell),
            ):
                try:
                    self._shell.events.unregister(event, cb)
                except ValueError:
                    pass
            self._registered = False

    def _open_cell(self, label: str) -> None:
        self._close_cell()
        self._quiet.mark(1, label)
        self._open = label

    def _close_cell(self) -> None:
        if self._open is not None:
            self._quiet.mark(2, self._open)
            self._open = None

    def _pre_run_cell(self, info: Any = None) -> None:
        quiet = self._quiet
        quiet.begin()
        try:
            self._open_cell(cell_label(next_cell_count(self._shell, info)))
        finally:
            quiet.end()

    def _post_run_cell(self, result: Any = None) -> None:
        quiet = self._quiet
        quiet.begin()
        try:
            self._meta.write()
        finally:
            try:
                self._close_cell()
            finally:
                quiet.end()
