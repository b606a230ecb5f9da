"""heapprof_nb: a sampling heap profiler for CPython, at home in Jupyter.

Library use::

    import heapprof_nb
    with heapprof_nb.profile() as p:
        run()
    prof = heapprof_nb.read(p.path)
    prof.peak()

In a notebook: ``%load_ext heapprof_nb`` then ``%%heapprof`` on a cell.
"""

from __future__ import annotations

import importlib as _importlib
import sysconfig as _sysconfig
from typing import Any

# The hooks rely on the GIL to guard their state (docs/architecture.md, "Free-threaded CPython").
if _sysconfig.get_config_var("Py_GIL_DISABLED"):
    raise ImportError(
        "heapprof_nb does not support free-threaded CPython yet: run it on the default build "
        "with the GIL (python3.14, not python3.14t)."
    )

try:  # the compiled engine and digest, imported first so a missing build says so plainly
    for _extension in ("_native", "_digest"):
        _importlib.import_module(f"{__name__}.{_extension}")
except ImportError as _exc:  # a source checkout that was never built, or a build for another Python
    raise ImportError(
        f"heapprof_nb's compiled extensions are missing or unusable ({_exc}). Build and install "
        "the package in this environment with `pip install .` from the source tree (see "
        "'Building from source' in the README); a checkout cannot be imported without a build."
    ) from _exc
del _extension

from ._api import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_RATE,
    current_path,
    gather_stats,
    is_running,
    mark,
    profile,
    session_dir,
    start,
    stop,
    stop_stats,
)
from .digest.profile import History, Profile, Window
from .errors import HeapprofError, ProfileFormatError, ProfilerStateError
from .digest.model import Frame, Snapshot, StackStat, Statistic, StatisticDiff
from .stats import SizeHistogram

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_RATE",
    "Frame",
    "History",
    "HeapprofError",
    "Profile",
    "ProfileFormatError",
    "ProfilerStateError",
    "SizeHistogram",
    "Snapshot",
    "StackStat",
    "Statistic",
    "StatisticDiff",
    "Window",
    "current_path",
    "gather_stats",
    "is_running",
    "mark",
    "profile",
    "read",
    "session_dir",
    "start",
    "stop",
    "stop_stats",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def read(path: Any, **options: Any) -> Profile:
    """Read a profile file into a ``Profile`` (digested in a background thread)."""
    from .digest.profile import read as _read

    return _read(path, **options)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext heapprof_nb``: register the magics."""
    from .notebook.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext heapprof_nb``: stop any running profile and remove the magics."""
    from .notebook.magics import unload_ipython_extension as _unload

    _unload(ipython)
