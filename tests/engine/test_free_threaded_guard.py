"""A free-threaded CPython (3.13t/3.14t) is refused with one sentence, not a crash.

No free-threaded interpreter can be installed on the test machines, so the import-time check is
exercised by making sysconfig report Py_GIL_DISABLED in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

PRETEND_FREE_THREADED = """
import sysconfig
real = sysconfig.get_config_var
sysconfig.get_config_var = lambda name: 1 if name == "Py_GIL_DISABLED" else real(name)
try:
    import heapprof_nb
except ImportError as exc:
    print(exc)
    raise SystemExit(3)
raise SystemExit(0)
"""


def test_import_refuses_a_free_threaded_build() -> None:
    result = subprocess.run([sys.executable, "-c", PRETEND_FREE_THREADED], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == (
        "heapprof_nb does not support free-threaded CPython yet: run it on the default build "
        "with the GIL (python3.14, not python3.14t).")


def test_import_works_on_this_default_build() -> None:
    result = subprocess.run([sys.executable, "-c", "import heapprof_nb, sysconfig; "
                             "print(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
