"""Exceptions a user of heapprof_nb can catch."""

from __future__ import annotations

__all__ = ["HeapprofError", "ProfileFormatError", "ProfilerStateError"]


class HeapprofError(Exception):
    """Base class of the errors heapprof_nb raises on purpose."""


class ProfileFormatError(HeapprofError, ValueError):
    """A profile file is not a heapprof_nb log, is of an unknown version, or is corrupt."""


class ProfilerStateError(HeapprofError, RuntimeError):
    """start() while a profile runs, stop() when none runs, and the like."""
