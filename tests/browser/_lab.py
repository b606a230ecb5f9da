"""JupyterLab in Chromium for the browser tests: a hermetic server, a kernelspec, the browser.

- :class:`LabServer` starts ``jupyter lab`` on a free localhost port with a token, with HOME,
  the Jupyter config/data/runtime dirs, the Lab settings and workspaces all in a temporary
  directory, and a ``python3`` kernelspec that runs this interpreter with the package under
  test first on its path. News and update checks are off: nothing leaves localhost.
- :func:`launch_chromium` starts Debian's (or any system) Chromium through Playwright with its
  ``executable_path`` (Playwright's own browser download is never used).
- :func:`missing` says why the browser test cannot run here (no Chromium, no JupyterLab, no
  Playwright), or None.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import heapprof_nb

REPO = Path(__file__).resolve().parents[2]

#: Lines for the terminal summary (measurements, where screenshots went): see conftest.py.
REPORT: list[str] = []

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Chromium flags: headless, no sandbox (containers, root), no background network of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--mute-audio",
]


def chromium_path() -> str | None:
    """The system Chromium: ``$HEAPPROF_NB_CHROMIUM`` or the first of the usual names on PATH."""
    explicit = os.environ.get("HEAPPROF_NB_CHROMIUM")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why the browser test cannot run in this environment, or None when it can."""
    if chromium_path() is None:
        return "no Chromium found (apt-get install chromium, or set HEAPPROF_NB_CHROMIUM)"
    for module, what in (("jupyterlab", "JupyterLab"), ("playwright", "Playwright"),
                         ("ipywidgets", "ipywidgets"), ("ipykernel", "ipykernel")):
        if importlib.util.find_spec(module) is None:
            return f"{what} is not installed (pip install '.[test]')"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def package_path() -> str:
    """PYTHONPATH for kernels: the package under test first."""
    root = str(Path(heapprof_nb.__file__).absolute().parents[1])
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)


def write_kernelspec(jupyter_path: Path, env: dict[str, str]) -> None:
    """A ``python3`` kernelspec running this interpreter (it wins over ipykernel's own, which
    comes last on Jupyter's search path)."""
    spec = jupyter_path / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "env": env,
    }))


def write_settings(settings: Path, *, dark: bool) -> None:
    """Lab user settings: the theme, no news or update checks, no autosave prompts."""
    apputils = settings / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True, exist_ok=True)
    theme = "JupyterLab Dark" if dark else "JupyterLab Light"
    (apputils / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
    (apputils / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    docmanager = settings / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True, exist_ok=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    notebook = settings / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True, exist_ok=True)
    # every cell rendered (no windowing), kernels start without asking
    (notebook / "tracker.jupyterlab-settings").write_text(
        json.dumps({"autoStartDefaultKernel": True, "windowingMode": "none"}))


class LabServer:
    """``jupyter lab`` in a temporary world; ``url(path)`` opens a notebook in it."""

    def __init__(self, root: Path, *, dark: bool = False, kernel_env: dict[str, str] | None = None,
                 timeout: float = 120.0) -> None:
        self.root = root
        self.home = root / "home"
        self.notebooks = root / "notebooks"
        self.settings = root / "lab-settings"
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.timeout = timeout
        self.dark = dark
        self.kernel_env = {"PYTHONPATH": package_path(), "HEAPPROF_NB_SEED": "12345",
                           **(kernel_env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "lab.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
        env.update({
            "HOME": str(self.home),
            "JUPYTER_CONFIG_DIR": str(self.root / "config"),
            "JUPYTER_DATA_DIR": str(self.root / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.root / "runtime"),
            "JUPYTER_PATH": str(self.root / "jupyter-path"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.root / "workspaces"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONPATH": package_path(),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        return env

    def start(self) -> LabServer:
        for d in (self.home, self.notebooks, self.root / "config", self.root / "data",
                  self.root / "runtime", self.root / "workspaces"):
            d.mkdir(parents=True, exist_ok=True)
        write_kernelspec(self.root / "jupyter-path", self.kernel_env)
        write_settings(self.settings, dark=self.dark)
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebooks}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
            cmd.append("--allow-root")
        log = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self._log_file = log
        self.proc = subprocess.Popen(cmd, cwd=self.notebooks, env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.api("status"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {self.timeout} s:\n{self.tail()}")

    def api(self, what: str) -> str:
        return f"http://127.0.0.1:{self.port}/api/{what}?token={self.token}"

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?token={self.token}&reset"

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log = getattr(self, "_log_file", None)
        if log is not None:
            log.close()

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch_chromium(playwright: Any, *, headless: bool = True) -> Any:
    """A Chromium browser through Playwright, from the system's executable."""
    path = chromium_path()
    assert path is not None
    return playwright.chromium.launch(executable_path=path, headless=headless,
                                      args=CHROMIUM_ARGS)


def notebook_json(cells: list[str]) -> dict[str, Any]:
    """A minimal nbformat 4 notebook of code cells, kernel ``python3``."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": src} for i, src in enumerate(cells)],
    }
