"""The benchmarks' raw results: JSON files (results/raw/*.json) that overhead.py and accuracy.py
write after every step, so that an interrupted run can resume, and report.py reads."""

from __future__ import annotations

import json
import os
from typing import Any


def load_json(path: str) -> Any:
    """The data in ``path``, or None when it is missing or not whole JSON (a run cut short)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save_json(path: str, data: Any) -> None:
    """Write ``data`` to ``path`` through a temporary file, so a reader never sees half of it."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
