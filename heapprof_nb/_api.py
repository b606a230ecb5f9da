"""The library API: start and stop the sampler, mark moments, gather size statistics.

Everything here runs with the GIL in the calling thread; the engine (``_native``) does the work.
Every argument is checked before anything is hooked, so a bad call changes nothing.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
import threading
import time
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import _native
from ._format import MAX_FRAMES
from ._units import parse_bytes, parse_sampling, sampling_buckets
from .errors import ProfilerStateError
from .stats import SizeHistogram

__all__ = [
    "DEFAULT_RATE",
    "DEFAULT_MAX_FRAMES",
    "start",
    "stop",
    "is_running",
    "profile",
    "mark",
    "gather_stats",
    "stop_stats",
    "current_path",
    "session_dir",
]

#: Mean bytes between samples by default (see docs/sampling.md for how it was chosen).
DEFAULT_RATE = 32 * 1024
DEFAULT_MAX_FRAMES = 128
SEED_ENV = "HEAPPROF_NB_SEED"

_MODE_BYTES, _MODE_SIZES, _MODE_ALL = 0, 1, 2
_MARK_LABEL, _MARK_CELL_START, _MARK_CELL_END = 0, 1, 2

_lock = threading.Lock()          # guards the module state below against concurrent start/stop
_current_path: str | None = None
_session_dir: str | None = None
_serial = 0
_atexit_registered = False


def session_dir() -> str:
    """This process's private folder for profiles (created on first use, mode 0700)."""
    global _session_dir
    if _session_dir is None or not os.path.isdir(_session_dir):
        _session_dir = tempfile.mkdtemp(prefix=f"heapprof_nb-{os.getpid()}-")
    return _session_dir


def _default_path() -> str:
    global _serial
    _serial += 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return os.path.join(session_dir(), f"profile-{stamp}-{_serial:03d}.hpnb")


def _check_path(path: object) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
    text = os.fsdecode(os.fspath(path))
    if not text:
        raise ValueError("path must not be empty")
    target = Path(text)
    if target.is_dir():
        raise IsADirectoryError(f"{text} is a directory; give a file name for the profile")
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"the folder for the profile does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write the profile into {parent}: permission denied")
    if target.exists() and not os.access(target, os.W_OK):
        raise PermissionError(f"cannot overwrite {text}: permission denied")
    return text


def _seed(seed: object) -> int:
    if seed is None:
        env = os.environ.get(SEED_ENV)
        if env is None or env == "":
            return int.from_bytes(os.urandom(8), "little")
        seed, where = env, f"{SEED_ENV}={env!r}"
    else:
        where = f"seed={seed!r}"
    try:
        value: int = int(seed)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: the seed must be an integer") from None
    if isinstance(seed, bool) or not 0 <= value < 2**64:
        raise ValueError(f"{where}: the seed must be an integer in [0, 2**64)")
    return value


def _max_frames(max_frames: object) -> int:
    if isinstance(max_frames, bool) or not isinstance(max_frames, int):
        raise TypeError(f"max_frames must be an int, not {type(max_frames).__name__}")
    if not 1 <= max_frames <= MAX_FRAMES:
        raise ValueError(f"max_frames must be in 1..{MAX_FRAMES}, got {max_frames}")
    return max_frames


class _Unset:
    def __repr__(self) -> str:
        return "<default>"


_UNSET: Any = _Unset()


def start(
    path: str | os.PathLike[str] | None = None,
    *,
    rate: int | str = _UNSET,
    sampling: Mapping[int, float] | str | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
    seed: int | None = None,
) -> str:
    """Start profiling into ``path`` (default: a new file in ``session_dir()``); returns the path.

    ``rate`` is the mean number of bytes between samples (an int or ``'64KiB'``); ``rate=1``
    records every allocation exactly. ``sampling`` instead gives heapprof's per-size
    probabilities, e.g. ``{128: 1e-4, 8192: 0.1}``. ``seed`` (or ``$HEAPPROF_NB_SEED``) makes
    the sampling repeatable.
    """
    global _current_path, _atexit_registered
    if sampling is not None and rate is not _UNSET:
        raise ValueError("give either rate or sampling, not both")
    if sampling is not None:
        table = parse_sampling(sampling)
        mode, rate_value = _MODE_SIZES, 0
        thresholds, probabilities = sampling_buckets(table)
    else:
        rate_value = parse_bytes(DEFAULT_RATE if rate is _UNSET else rate)
        mode = _MODE_ALL if rate_value == 1 else _MODE_BYTES
        thresholds, probabilities = [], []
    frames = _max_frames(max_frames)
    seed_value = _seed(seed)
    with _lock:
        if _native.is_running():
            raise ProfilerStateError(f"a profile is already running (writing {_current_path})")
        if _native.stats_running():
            raise ProfilerStateError("stats mode is running; call stop_stats() first")
        target = _default_path() if path is None else _check_path(path)
        version = "%d.%d.%d" % sys.version_info[:3]
        _native.start(target, path is None, version, mode, rate_value, thresholds,
                      probabilities, frames, seed_value)
        _current_path = target
        if not _atexit_registered:
            atexit.register(_stop_at_exit)
            _atexit_registered = True
    _watch_numpy()
    return target


def stop() -> str:
    """Stop profiling; returns the path of the finished profile.

    If writing the profile failed while it ran (disk full, I/O error), warns once: the file
    holds everything written before the failure.
    """
    global _current_path
    with _lock:
        if not _native.is_running():
            raise ProfilerStateError("no profile is running; call heapprof_nb.start() first")
        failed = _native.write_errno()
        try:
            _native.stop()
        except OSError as exc:
            failed = failed or exc.errno or 0
        path = _current_path
        assert path is not None
        _current_path = None
    _unwatch_numpy()
    if failed:
        warnings.warn(
            f"heapprof_nb: writing {path} failed ({os.strerror(failed)}); profiling stopped "
            "there and the file holds what was written before",
            RuntimeWarning,
            stacklevel=2,
        )
    return path


def is_running() -> bool:
    """True while a profile is being recorded."""
    return bool(_native.is_running())


def current_path() -> str | None:
    """The file the running profile writes to, or None."""
    return _current_path if _native.is_running() else None


def mark(label: str) -> None:
    """Write a named marker into the running profile (shown on the time plot)."""
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, not {type(label).__name__}")
    if not _native.is_running():
        raise ProfilerStateError("no profile is running; mark() needs one")
    _native.mark(_MARK_LABEL, label)


# heapprof_nb's own bookkeeping while a profile runs is kept out of it: _native.set_quiet brackets
# it (sections nest). Plain calls rather than a `with`, which would itself allocate on the sampled
# side of the flag (see notebook.cells.Bookkeeping).


def _mark_cell(kind: int, label: str) -> None:
    """A cell marker into the running profile, quietly (fuzz/make_corpus.py writes its seeds'
    cells with it)."""
    _write_quietly(_native.mark, kind, label)


def _add_meta(key: str, value: str) -> None:
    """A META record into the running profile, quietly."""
    _write_quietly(_native.meta, key, value)


def _write_quietly(write: Callable[[Any, Any], None], first: Any, second: Any) -> None:
    # two plain parameters, not *args: a tuple would be allocated on the sampled side
    _native.set_quiet(True)
    try:
        if _native.is_running():
            write(first, second)
    finally:
        _native.set_quiet(False)


class profile:
    """``with heapprof_nb.profile(...) as p:`` profiles the block; ``p.path`` is the file.

    Takes the same arguments as ``start``. The profile is stopped even when the block raises.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, **options: Any) -> None:
        self._path = path
        self._options = options
        self.path: str | None = None

    def __enter__(self) -> profile:
        self.path = start(self._path, **self._options)
        return self

    def __exit__(self, *exc: object) -> None:
        if _native.is_running() and _current_path == self.path:
            stop()

    def read(self) -> Any:
        """The finished profile (``heapprof_nb.read(self.path)``)."""
        if self.path is None:
            raise ProfilerStateError("the profile has not run yet")
        from .digest.profile import read

        return read(self.path)


def gather_stats() -> None:
    """Start stats mode: an exact histogram of allocation sizes, no profile."""
    with _lock:
        if _native.is_running():
            raise ProfilerStateError("a profile is running; stop() it before gather_stats()")
        if _native.stats_running():
            raise ProfilerStateError("stats mode is already running")
        _native.stats_start()
    _watch_numpy()


def stop_stats() -> SizeHistogram:
    """Stop stats mode and return the size histogram."""
    with _lock:
        if not _native.stats_running():
            raise ProfilerStateError("stats mode is not running; call gather_stats() first")
        counts, sizes, elapsed_ns = _native.stats_stop()
    _unwatch_numpy()
    return SizeHistogram(tuple(counts), tuple(sizes), elapsed_ns / 1e9)


def _stop_at_exit() -> None:
    if _native.is_running():
        try:
            stop()
        except Exception:  # an exit handler must not raise; the file is flushed either way
            pass


# NumPy: wrap its allocator now if it is imported, else as soon as it is.


class _NumpyWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when ``numpy`` is imported, hooks its allocator after it loads."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "numpy":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _HookAfterLoad(spec.loader)
                return spec
            if spec is not None:
                return spec
        return None


class _HookAfterLoad(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        result: types.ModuleType | None = self._loader.create_module(spec)
        return result

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        if _native.is_running() or _native.stats_running():
            _hook_numpy_now()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


_watcher = _NumpyWatcher()


def _hook_numpy_now() -> None:
    _native.set_quiet(True)
    try:
        if _native.hook_numpy():
            _add_meta("numpy_hooked", "1")
    finally:
        _native.set_quiet(False)


def _watch_numpy() -> None:
    if "numpy" in sys.modules:
        _hook_numpy_now()
    elif _watcher not in sys.meta_path:
        sys.meta_path.insert(0, _watcher)


def _unwatch_numpy() -> None:
    if _watcher in sys.meta_path:
        sys.meta_path.remove(_watcher)
