"""The package type-checks under ``mypy --strict`` (the settings of pyproject.toml's [tool.mypy]).

Checked on the package as imported (the installed copy under `make test`), so the .pyi stubs of
the C extensions that ship with it are part of the check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import heapprof_nb

pytest.importorskip("mypy")


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    package = Path(heapprof_nb.__file__).parent
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
         "--cache-dir", str(tmp_path / "cache"), str(package)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
