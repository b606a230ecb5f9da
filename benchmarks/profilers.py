"""The profiler configurations compared, each started in-process and stopped by the same code.

A configuration name is one of:

- ``none``: no profiler (the baseline);
- ``hp`` (heapprof_nb at ``heapprof_nb._api.DEFAULT_RATE``) or ``hp:RATE`` (``hp:1`` is exact mode);
  the callgrind step names the default ``hp:DEFAULT_RATE`` so that it is also a column of the sweep;
- ``tm1``, ``tm25``: tracemalloc with 1 or 25 frames;
- ``memray``: memray's ``Tracker`` with its defaults; ``memray_py``: with
  ``trace_python_allocators=True`` (the in-process form of ``memray run --trace-python-allocators``);
- ``mprofile``: mprofile at 128 KiB, 128 frames (its README's recommended setting).

``start(config, workdir)`` returns a stop function; calling it stops the profiler and returns a
dict of facts about the run (log size in bytes, events written) for the log-size table.
"""

from __future__ import annotations

import os
from typing import Any, Callable

WALL_CONFIGS = ["none", "hp", "hp:1", "tm1", "tm25", "memray", "memray_py", "mprofile"]
#: the rate sweep (callgrind and accuracy) is these plus the default rate, see ``__getattr__``
SWEEP_RATES = [4096, 16384, 32768, 65536, 262144, 1048576]
LABELS = {
    "none": "no profiler",
    "hp:1": "heapprof_nb exact",
    "tm1": "tracemalloc 1 frame",
    "tm25": "tracemalloc 25 frames",
    "memray": "memray",
    "memray_py": "memray --trace-python-allocators",
    "mprofile": "mprofile 128 KiB",
}


def default_rate() -> int:
    """The engine's default rate, ``heapprof_nb._api.DEFAULT_RATE``: the harness's one source.

    Imported on demand, so that a worker measuring another profiler (or none) never imports
    heapprof_nb."""
    from heapprof_nb._api import DEFAULT_RATE

    return int(DEFAULT_RATE)


def __getattr__(name: str) -> Any:
    # DEFAULT_RATE, RATES (the sweep, always with the default) and DEFAULT_CONFIG (the callgrind
    # configuration of the default rate, a column of the sweep), computed on first use
    if name == "DEFAULT_RATE":
        return default_rate()
    if name == "RATES":
        return sorted({*SWEEP_RATES, default_rate()})
    if name == "DEFAULT_CONFIG":
        return f"hp:{default_rate()}"
    raise AttributeError(name)


def label(config: str, hp_rate: int | None = None) -> str:
    """Column label. ``hp_rate``: the rate that runs of ``hp`` recorded (the default when they ran)."""
    if config in LABELS:
        return LABELS[config]
    if config == "hp":
        rate = hp_rate or default_rate()
        return f"heapprof_nb {human_rate(rate)} (default)" if rate == default_rate() else \
            f"heapprof_nb {human_rate(rate)} (the default when measured)"
    if config.startswith("hp:"):
        rate = int(config[3:])
        return f"heapprof_nb {human_rate(rate)}" + (" (default)" if rate == default_rate() else "")
    return config


def human_rate(rate: int) -> str:
    if rate == 1:
        return "exact"
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if rate >= size and rate % size == 0:
            return f"{rate // size} {unit}"
    return f"{rate} B"


def available(config: str) -> str | None:
    """None if ``config`` can run here, else the reason it cannot (the import error)."""
    try:
        if config.startswith("hp"):
            import heapprof_nb  # noqa: F401
        elif config.startswith("memray"):
            import memray  # noqa: F401
        elif config == "mprofile":
            import mprofile  # noqa: F401
    except Exception as exc:  # pragma: no cover - reported, not raised
        return f"{type(exc).__name__}: {exc}"
    return None


def start(config: str, workdir: str, seed: int = 12345) -> Callable[[], dict[str, Any]]:
    if config == "none":
        return lambda: {}
    if config.startswith("hp"):
        import heapprof_nb
        from heapprof_nb import _native

        rate = default_rate() if config == "hp" else int(config[3:])
        path = os.path.join(workdir, f"bench-{os.getpid()}.hpnb")
        heapprof_nb.start(path, rate=rate, seed=seed)

        def stop_hp() -> dict[str, Any]:
            counters = dict(_native.counters())
            heapprof_nb.stop()
            size = os.path.getsize(path)
            os.unlink(path)
            return {"log_bytes": size, "rate": rate, **counters}

        return stop_hp
    if config.startswith("tm"):
        import tracemalloc

        tracemalloc.start(int(config[2:]))

        def stop_tm() -> dict[str, Any]:
            mem = tracemalloc.get_tracemalloc_memory()
            tracemalloc.stop()
            return {"tracemalloc_memory": mem}

        return stop_tm
    if config in ("memray", "memray_py"):
        import memray

        path = os.path.join(workdir, f"bench-{os.getpid()}.bin")
        tracker = memray.Tracker(path, trace_python_allocators=config == "memray_py")
        tracker.__enter__()

        def stop_memray() -> dict[str, Any]:
            tracker.__exit__(None, None, None)
            size = os.path.getsize(path)
            os.unlink(path)
            return {"log_bytes": size}

        return stop_memray
    if config == "mprofile":
        import mprofile

        mprofile.start(max_frames=128, sample_rate=128 * 1024)

        def stop_mprofile() -> dict[str, Any]:
            mprofile.stop()
            return {}

        return stop_mprofile
    raise ValueError(f"unknown profiler configuration {config!r}")
