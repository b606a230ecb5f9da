"""A short fuzz of every reader plus a replay of the corpus (fuzz/run.sh; docs/hardening.md).

``fuzz/run.sh 75`` builds the libFuzzer targets (clang), writes the seed corpus with the engine,
fuzzes the C decoder and digest, the digest-cache loader and the Python readers (atheris) for 75
seconds in all, then replays every corpus once. Any crash, sanitizer report, hang (-timeout),
memory blow-up (RSS and malloc limits, RLIMIT_AS) or disagreement between the reference reader
and the C digest fails the test. Longer runs: ``fuzz/run.sh 3600``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import heapprof_nb

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

FUZZ_SECONDS = int(os.environ.get("HPNB_FUZZ_SECONDS", "75"))


def _have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.timeout(FUZZ_SECONDS + 150)
def test_short_fuzz_and_corpus_replay(tmp_path: Path) -> None:
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("under `make sanitize`: the fuzzers bring their own sanitizer runtimes, "
                    "which cannot share a process with a preloaded libasan")
    if shutil.which("clang") is None and not _have_atheris():
        pytest.skip("neither clang (libFuzzer) nor atheris is installed")
    here = str(Path(heapprof_nb.__file__).resolve().parents[1])  # the build under test
    env = dict(os.environ, FUZZ_DIR=str(tmp_path / "fuzz"), PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join(p for p in [here, os.environ.get("PYTHONPATH")] if p))
    result = subprocess.run(
        ["bash", str(ROOT / "fuzz" / "run.sh"), str(FUZZ_SECONDS)],
        capture_output=True, text=True, timeout=FUZZ_SECONDS + 140, env=env,
    )
    summary = result.stdout + result.stderr
    print(summary)
    assert result.returncode == 0, summary
    findings = list((tmp_path / "fuzz" / "findings").iterdir())
    assert findings == [], findings
    assert "FAILED" not in summary
    ran = [line for line in summary.splitlines() if ": ok," in line]
    assert ran, summary
