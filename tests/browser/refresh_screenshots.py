"""Refresh the view's screenshots in docs/images (light and dark theme) from a real JupyterLab.

Runs the browser test that photographs the view (tests/browser/test_lab.py) with
``HEAPPROF_NB_SCREENSHOTS`` pointing at ``docs/images``. Needs what the browser test needs:
JupyterLab, Playwright and a system Chromium (no browser download). Usage, from anywhere::

    python tests/browser/refresh_screenshots.py [extra pytest arguments]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    images = REPO / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HEAPPROF_NB_SCREENSHOTS=str(images))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
           "tests/browser/test_lab.py::test_demo_drag_a_span_see_its_flame_graph", *sys.argv[1:]]
    result = subprocess.run(cmd, cwd=REPO, env=env, check=False)
    if result.returncode == 0:
        for name in ("view-light.png", "view-dark.png"):
            print(f"wrote {images / name}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
