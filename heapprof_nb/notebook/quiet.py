"""Quiet sections: while one is open, this thread's allocations are not sampled by a running
profile. The view imports, draws and renders in the kernel, and a profile of the user's cells
must not show that."""

from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["Quiet", "quietly"]


class Quiet:
    """``with Quiet():`` a quiet section. Sections nest (the engine counts them)."""

    __slots__ = ()

    def __enter__(self) -> None:
        _set_quiet(True)

    def __exit__(self, *exc: object) -> None:
        _set_quiet(False)


def _set_quiet(flag: bool) -> None:
    try:
        native: Any = importlib.import_module("heapprof_nb._native")
    except ImportError:  # no engine build: nothing can be sampling
        return
    native.set_quiet(flag)


def quietly(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` run in a quiet section (for widget callbacks)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with Quiet():
            return func(*args, **kwargs)

    wrapper.__name__ = getattr(func, "__name__", "handler")
    wrapper.__doc__ = func.__doc__
    return wrapper
