"""Browser tests: their measurements go to the terminal summary, whatever the verbosity."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    try:
        from . import _lab
    except Exception:  # noqa: BLE001 - nothing ran (skipped at import)
        return
    if _lab.REPORT:
        terminalreporter.section("heapprof_nb browser measurements")
        for line in _lab.REPORT:
            terminalreporter.write_line(line)
