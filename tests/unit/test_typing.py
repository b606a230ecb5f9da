"""The package type-checks under ``mypy --strict`` (the settings of pyproject.toml's [tool.mypy]).

Checked on a copy of the package as imported (the installed copy under `make test`), with the
.pyi stubs of the C extensions that ship with it: mypy refuses to check files inside
site-packages in place, where they would shadow installed modules.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import heapprof_nb

pytest.importorskip("mypy")


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    package = Path(heapprof_nb.__file__).parent
    copy = tmp_path / "src" / "heapprof_nb"
    sources = [*package.rglob("*.py"), *package.rglob("*.pyi"), package / "py.typed"]
    for source in sources:
        target = copy / source.relative_to(package)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    assert len(sources) > 20 and (copy / "views" / "flame.py").exists()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
         "--cache-dir", str(tmp_path / "cache"), "heapprof_nb"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path / "src",
    )
    assert result.returncode == 0, result.stdout + result.stderr
