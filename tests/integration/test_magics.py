"""The IPython magics in a real InteractiveShell: what they show, store, and refuse.

Every test gets a fresh shell with in-memory history and the extension loaded; displays are
captured with ``IPython.utils.capture.capture_output`` (a capturing display publisher), stdout
and stderr with it too. Numbers are checked at ``--rate 1`` (every allocation, exact).
"""

from __future__ import annotations

import base64
import linecache
import os
import re
import shutil
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("IPython")
pytest.importorskip("matplotlib")

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import CapturedIO, capture_output  # noqa: E402
from traitlets.config import Config  # noqa: E402

import heapprof_nb  # noqa: E402
from heapprof_nb import _api  # noqa: E402
from heapprof_nb.notebook import magics as _ipython  # noqa: E402
from conftest import run_python  # noqa: E402

pytestmark = pytest.mark.ipython

MB = 1_000_000


class Shell:
    """A shell and helpers: ``run`` returns (result, captured)."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell

    def run(self, code: str) -> tuple[Any, CapturedIO]:
        with capture_output() as cap:
            result = self.shell.run_cell(code, store_history=True)
        return result, cap

    @property
    def ns(self) -> dict[str, Any]:
        return self.shell.user_ns  # type: ignore[no-any-return]

    @property
    def count(self) -> int:
        """The execution count the next cell gets."""
        return int(self.shell.execution_count)


@pytest.fixture
def ip(tmp_path: Path) -> Iterator[Shell]:
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    wrapper = Shell(shell)
    _, cap = wrapper.run("%load_ext heapprof_nb")
    assert cap.stderr == ""
    try:
        yield wrapper
    finally:
        with capture_output():
            shell.run_cell("%unload_ext heapprof_nb")
        if _api.is_running():  # a test failed half-way: leave the sampler clean
            _api.stop()
        InteractiveShell.clear_instance()


def html_of(cap: CapturedIO) -> str:
    return "\n".join(o.data.get("text/html", "") for o in cap.outputs)


def pngs(cap: CapturedIO) -> list[bytes]:
    """The PNG images displayed (IPython keeps them base64-encoded)."""
    out = []
    for o in cap.outputs:
        data = o.data.get("image/png")
        if data is not None:
            out.append(base64.b64decode(data) if isinstance(data, str) else data)
    return out


def one_error_line(cap: CapturedIO) -> str:
    """The single ``heapprof: error:`` line on stderr (and no traceback anywhere)."""
    lines = [line for line in cap.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, cap.stderr
    assert lines[0].startswith("heapprof: error: "), lines[0]
    assert "Traceback" not in cap.stdout + cap.stderr
    return lines[0]


def stats_at_peak(profile: Any) -> list[Any]:
    t, _ = profile.peak()
    return profile.snapshot_at(t).statistics("lineno")  # type: ignore[no-any-return]


OURS = os.path.dirname(os.path.abspath(heapprof_nb.__file__)) + os.sep


def our_leaves(snapshot: Any) -> list[str]:
    """Sites of a snapshot whose allocating frame is heapprof_nb's own code."""
    return sorted({
        f"{e.stack[0].location} ({e.bytes:.0f} B)" for e in snapshot.entries
        if e.stack and e.stack[0].filename.startswith(OURS)
    })


def whole_run(profile: Any) -> list[Any]:
    """Everything allocated while the profile ran: kept and freed again."""
    window = profile.window(0, profile.duration)
    return [window.allocated_kept, window.allocated_freed]


def site(profile: Any, location: str) -> Any:
    for s in stats_at_peak(profile):
        if s.key and s.key[0].location == location:
            return s
    raise AssertionError(f"{location} not among {[s.label for s in stats_at_peak(profile)][:15]}")


# Loading, help


def test_load_registers_and_unload_removes(ip: Shell) -> None:
    mm = ip.shell.magics_manager.magics
    assert "heapprof" in mm["line"] and "heapprof" in mm["cell"]
    assert "heapprof_stats" in mm["line"] and "heapprof_stats" in mm["cell"]
    _, cap = ip.run("%unload_ext heapprof_nb")
    assert cap.stderr == ""
    assert "heapprof" not in mm["line"] and "heapprof_stats" not in mm["cell"]
    result, cap = ip.run("%heapprof")
    assert not result.success  # IPython's own "magic not found"
    _, cap = ip.run("%load_ext heapprof_nb")
    assert "heapprof" in mm["cell"]


def test_unload_stops_a_running_profile(ip: Shell) -> None:
    ip.run("%heapprof start --no-view")
    assert _api.is_running()
    _, cap = ip.run("%unload_ext heapprof_nb")
    assert not _api.is_running()
    assert "stopped the running profile" in cap.stdout
    path = cap.stdout.split("it is in ")[-1].strip()
    assert os.path.getsize(path) > 0
    # the cell callbacks are gone: running a cell marks nothing and fails nothing
    result, cap = ip.run("x = 1")
    assert result.success and cap.stderr == ""


def test_unload_ends_stats_mode(ip: Shell) -> None:
    ip.run("%heapprof_stats start")
    from heapprof_nb import _native

    assert _native.stats_running()
    ip.run("%unload_ext heapprof_nb")
    assert not _native.stats_running()


@pytest.mark.parametrize("query", ["%%heapprof?", "%heapprof?"])
def test_help_of_heapprof(ip: Shell, query: str) -> None:
    _, cap = ip.run(query)
    text = cap.stdout
    for option in ("--rate", "--sampling", "--frames", "-o", "--live", "--no-view", "--as"):
        assert option in text
    assert "start" in text and "stop" in text


@pytest.mark.parametrize("query", ["%%heapprof_stats?", "%heapprof_stats?"])
def test_help_of_heapprof_stats(ip: Shell, query: str) -> None:
    _, cap = ip.run(query)
    assert "--budget" in cap.stdout and "recommend" in cap.stdout


# %%heapprof: running the cell


def test_cell_profile_shows_view_and_stores_profile(ip: Shell) -> None:
    n = ip.count
    result, cap = ip.run("%%heapprof --rate 1\nx = 1\nkeep = bytearray(5_000_000)\n")
    assert result.success, cap.stderr
    assert cap.stderr == ""
    profile = ip.ns["_heapprof"]
    assert type(profile).__name__ == "Profile"
    t, peak = profile.peak()
    assert peak >= 5 * MB
    keep = site(profile, f"In [{n}], line 3")
    assert keep.bytes == pytest.approx(5 * MB, abs=200)
    assert keep.key[0].source == "keep = bytearray(5_000_000)"
    # the view: plot, flame graph, top sites, path note
    assert len(pngs(cap)) == 1 and pngs(cap)[0].startswith(b"\x89PNG")
    page = html_of(cap)
    assert "Top allocation sites" in page
    assert f"In [{n}], line 3" in page
    assert "heapprof_nb.read(" in cap.stdout and profile.path in cap.stdout
    # the cell is one band on the plot: its start and end markers are in the profile
    kinds = [(m.kind, m.label) for m in profile.markers]
    assert (1, f"In [{n}]") in kinds and (2, f"In [{n}]") in kinds


def test_profile_of_a_cell_holds_no_site_of_heapprof(ip: Shell) -> None:
    """Compiling the body, the cell records and markers, starting and stopping are heapprof's
    bookkeeping, not sampled: at rate 1 every allocation at the peak is made by the cell (its
    lines, or IPython showing its value)."""
    n = ip.count
    result, cap = ip.run(
        "%%heapprof --rate 1 --no-view\nx = [1, 2, 3]\nkeep = bytearray(1_000_000)\nx\n"
    )
    assert result.success, cap.stderr
    profile = ip.ns["_heapprof"]
    peak = profile.snapshot_at(profile.peak()[0])
    assert our_leaves(peak) == []
    assert all(any(f.cell == f"In [{n}]" for f in e.stack) for e in peak.entries)
    assert site(profile, f"In [{n}], line 3").bytes == pytest.approx(MB, abs=200)
    for snapshot in whole_run(profile):
        assert our_leaves(snapshot) == [], snapshot.title


def test_cell_output_and_value_unchanged(ip: Shell) -> None:
    n = ip.count
    result, cap = ip.run("%%heapprof --no-view\nprint('hello from the cell')\n40 + 2\n")
    assert result.success
    assert result.result == 42 or ip.ns["Out"][n] == 42
    assert ip.ns["Out"][n] == 42 and ip.ns["_"] == 42
    out = cap.stdout
    assert "hello from the cell" in out and f"Out[{n}]: 42" in out
    assert out.index("hello from the cell") < out.index(f"Out[{n}]: 42") < out.index("heapprof:")


def test_semicolon_silences_value(ip: Shell) -> None:
    n = ip.count
    _, cap = ip.run("%%heapprof --no-view\n40 + 2;\n")
    assert n not in ip.ns["Out"]
    assert "Out[" not in cap.stdout


def test_cell_variables_and_functions_live_in_user_namespace(ip: Shell) -> None:
    ip.run("%%heapprof --no-view\ndef f():\n    return 7\ny = f()\n")
    assert ip.ns["y"] == 7 and ip.ns["f"]() == 7
    ip.run("%%heapprof --no-view\nz = y + 1")
    assert ip.ns["z"] == 8


def test_displays_of_the_cell_come_before_the_view(ip: Shell) -> None:
    _, cap = ip.run(
        "%%heapprof --rate 1\nfrom IPython.display import HTML, display\n"
        "display(HTML('<p>cell says hi</p>'))\n"
    )
    page = [o.data.get("text/html", "") for o in cap.outputs]
    assert page[0] == "<p>cell says hi</p>"
    assert any("Top allocation sites" in p for p in page[1:])


def test_no_view_shows_only_the_path(ip: Shell) -> None:
    _, cap = ip.run("%%heapprof --no-view --as prof\nkeep = bytearray(1000)")
    assert cap.outputs == []
    assert cap.stderr == ""
    lines = cap.stdout.strip().splitlines()
    assert len(lines) == 1 and "heapprof_nb.read(" in lines[0]
    assert ip.ns["prof"].path in lines[0]
    assert "_heapprof" not in ip.ns


def test_default_location_is_private_session_dir(ip: Shell) -> None:
    ip.run("%%heapprof --no-view\nx = 1")
    path = Path(ip.ns["_heapprof"].path)
    assert path.parent == Path(heapprof_nb.session_dir())
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_output_option(ip: Shell, tmp_path: Path) -> None:
    target = tmp_path / "mine.hpnb"
    _, cap = ip.run(f"%%heapprof --no-view -o {target}\nx = bytearray(100)")
    assert cap.stderr == ""
    assert target.exists() and str(target) in cap.stdout
    assert ip.ns["_heapprof"].path == str(target)
    reopened = heapprof_nb.read(str(target))
    assert reopened.peak()[1] == pytest.approx(ip.ns["_heapprof"].peak()[1])


@pytest.mark.parametrize(
    "options",
    ["--rate 64KiB", "--rate 1MiB", "--rate 4096", '--sampling "{128: 1e-4, 8192: 0.1}"',
     "--frames 8", "--seed 5 --rate 1KiB"],
)
def test_valid_options(ip: Shell, options: str) -> None:
    result, cap = ip.run(f"%%heapprof --no-view {options}\nkeep = [bytearray(100) for _ in range(1000)]")
    assert result.success and cap.stderr == "", cap.stderr
    assert len(ip.ns["keep"]) == 1000


def test_rate_units_reach_the_engine(ip: Shell) -> None:
    ip.run("%%heapprof --no-view --rate 64KiB\nx = 1")
    assert ip.ns["_heapprof"].rate == 65536


def test_frames_option_limits_depth(ip: Shell) -> None:
    ip.run(
        "%%heapprof --no-view --rate 1 --frames 2\n"
        "def a(n):\n    return a(n - 1) if n else bytearray(100_000)\nkeep = a(20)\n"
    )
    stacks = [e.stack for e in ip.ns["_heapprof"].snapshot_at(ip.ns["_heapprof"].peak()[0]).entries]
    assert max(len(s) for s in stacks) <= 2


def test_live_without_view_says_so_once(ip: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ipython, "_view_class", lambda: None)
    _, cap = ip.run("%%heapprof --live --rate 1\nkeep = bytearray(10_000)")
    assert cap.stderr == ""
    notes = [line for line in cap.stdout.splitlines() if "--live" in line]
    assert len(notes) == 1 and "not available" in notes[0]
    assert pngs(cap)  # behaves as without --live


# exceptions and interrupts


def test_exception_in_cell_keeps_partial_profile_and_reaches_user(ip: Shell) -> None:
    n = ip.count
    result, cap = ip.run(
        "%%heapprof --rate 1\nkeep = bytearray(3_000_000)\nraise ValueError('boom in cell')\n"
        "never = 1\n"
    )
    assert not result.success
    assert isinstance(result.error_in_exec, ValueError)
    assert str(result.error_in_exec) == "boom in cell"
    assert "never" not in ip.ns and "keep" in ip.ns
    assert not _api.is_running()
    profile = ip.ns["_heapprof"]
    assert site(profile, f"In [{n}], line 2").bytes == pytest.approx(3 * MB, abs=200)
    # what CPython makes for the exception passing the magic's frame: one traceback entry
    ours = [s for s in stats_at_peak(profile) if s.key[0].filename.startswith(OURS)]
    assert len(ours) <= 1 and sum(s.bytes for s in ours) <= 128, [s.label for s in ours]
    assert pngs(cap) and "Top allocation sites" in html_of(cap)
    assert "raised ValueError" in cap.stdout
    # IPython's traceback shows the cell's own line (its colour codes differ between versions)
    text = re.sub(r"\x1b\[[0-9;]*m", "", cap.stdout)
    assert "boom in cell" in text
    assert f"In[{n}], line 3" in text and "----> 3 raise ValueError('boom in cell')" in text


def test_keyboard_interrupt_raised_in_cell(ip: Shell) -> None:
    result, cap = ip.run("%%heapprof --rate 1\nkeep = bytearray(2_000_000)\nraise KeyboardInterrupt\n")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert not _api.is_running()
    assert ip.ns["_heapprof"].peak()[1] >= 2 * MB
    assert "raised KeyboardInterrupt" in cap.stdout


def test_real_sigint_during_cell(ip: Shell) -> None:
    main = threading.get_ident()

    def interrupt() -> None:
        time.sleep(0.5)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    result, cap = ip.run(
        "%%heapprof --rate 64KiB\nimport time\nkeep = []\n"
        "while True:\n    keep.append(bytearray(10_000))\n    time.sleep(0.001)\n"
    )
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert not _api.is_running()
    profile = ip.ns["_heapprof"]
    assert profile.peak()[1] > 0
    assert pngs(cap)


def test_syntax_error_in_cell_starts_nothing(ip: Shell) -> None:
    result, cap = ip.run("%%heapprof\nx = (\n")
    assert isinstance(result.error_in_exec, SyntaxError)
    assert not _api.is_running() and "_heapprof" not in ip.ns


# bad input: one line each


@pytest.mark.parametrize(
    "line, message",
    [
        ("--bogus", "unrecognized arguments: --bogus"),
        ("--rate", "expected one argument"),
        ("--rate fast", "--rate 'fast' is not a size"),
        ("--rate 0", "positive"),
        ("--rate -5KiB", "--rate"),
        ("--rate 1.5", "whole number"),
        ("--rate 1KiB --sampling {128:0.1}", "either --rate or --sampling"),
        ("--sampling {128:2}", "must be in (0, 1]"),
        ("--sampling nonsense", "not a table"),
        ("--frames 0", "--frames must be in 1..4096"),
        ("--frames many", "invalid int value"),
        ("--as 1bad", "not a Python variable name"),
        ("--as class", "not a Python variable name"),
        ("-o /nonexistent-dir/x.hpnb", "does not exist"),
        ("start", "for the line magic"),
        ("--rate auto", "--rate auto needs a recommendation"),
    ],
)
def test_bad_cell_options_give_one_line(ip: Shell, line: str, message: str) -> None:
    result, cap = ip.run(f"%%heapprof {line}\nran = True\n")
    error = one_error_line(cap)
    assert message in error
    assert "ran" not in ip.ns  # the cell did not run
    assert not _api.is_running()
    assert result.success  # a usage mistake is not an exception of the cell


def test_output_to_a_directory_is_one_line(ip: Shell, tmp_path: Path) -> None:
    _, cap = ip.run(f"%%heapprof -o {tmp_path}\nx = 1")
    assert "is a directory" in one_error_line(cap)


@pytest.mark.parametrize(
    "line, message",
    [
        ("stop", "no profile is running"),
        ("start --bogus", "unrecognized arguments"),
        ("start --rate 12 parsecs", "unrecognized arguments"),
        ("stop --rate 1", "takes no options"),
        ("restart", "invalid choice"),
    ],
)
def test_bad_line_forms_give_one_line(ip: Shell, line: str, message: str) -> None:
    _, cap = ip.run(f"%heapprof {line}")
    assert message in one_error_line(cap)
    assert not _api.is_running()


def test_nested_cell_profile_refused(ip: Shell) -> None:
    ip.run("%heapprof start --no-view")
    _, cap = ip.run("%%heapprof\nran = True")
    assert "already running" in one_error_line(cap)
    assert "ran" not in ip.ns
    assert _api.is_running()
    ip.run("%heapprof stop")
    assert not _api.is_running()


def test_nested_inside_running_cell_refused(ip: Shell) -> None:
    result, cap = ip.run(
        "%%heapprof --no-view\nget_ipython().run_cell_magic('heapprof', '', 'inner = 1')\nouter = 1\n"
    )
    assert result.success
    assert "already running" in one_error_line(cap)
    assert "inner" not in ip.ns and ip.ns["outer"] == 1
    assert not _api.is_running()


def test_library_profile_running_refused(ip: Shell, tmp_path: Path) -> None:
    heapprof_nb.start(tmp_path / "lib.hpnb")
    try:
        _, cap = ip.run("%%heapprof\nx = 1")
        assert "already running" in one_error_line(cap)
        assert "heapprof_nb.stop()" in cap.stderr
        _, cap = ip.run("%heapprof stop")
        assert "heapprof_nb.stop()" in one_error_line(cap)
    finally:
        heapprof_nb.stop()


def test_unbuilt_checkout_says_how_to_build(tmp_path: Path) -> None:
    """A copy of the package's Python files without the compiled extensions (a source checkout
    that was never built): ``import heapprof_nb`` and ``%load_ext heapprof_nb`` end with the same
    one-line ImportError that says how to build, in a real interpreter and a real IPython shell."""
    package = Path(heapprof_nb.__file__).parent
    copy = tmp_path / "heapprof_nb"
    copy.mkdir()
    for source in package.glob("*.py"):
        shutil.copy(source, copy / source.name)
    expected = ("ImportError: heapprof_nb's compiled extensions are missing or unusable "
                "(No module named 'heapprof_nb._native'). Build and install the package in this "
                "environment with `pip install .`")
    env = {"PYTHONPATH": str(tmp_path)}
    plain = run_python("import heapprof_nb", env=env, cwd=tmp_path)
    assert plain.returncode == 1
    assert plain.stderr.strip().splitlines()[-1].startswith(expected), plain.stderr
    shell = run_python("""
        from IPython.testing.globalipapp import start_ipython
        ip = start_ipython()
        ip.run_cell("%load_ext heapprof_nb")
        print("magics:", "heapprof" in ip.magics_manager.magics["cell"])
    """, env=env, cwd=tmp_path)
    assert "magics: False" in shell.stdout, shell.stdout + shell.stderr
    out = shell.stdout + shell.stderr
    assert expected in out, out


# %heapprof start / stop / status


def test_across_cells_marks_each_cell_and_names_frames(ip: Shell) -> None:
    _, cap = ip.run("def grow(n):\n    return [bytearray(1000) for _ in range(n)]\n")
    define = ip.count - 1
    _, cap = ip.run("%heapprof")
    assert "not profiling" in cap.stdout
    first = ip.count
    _, cap = ip.run("%heapprof start --rate 1 --as run")
    assert "profiling every cell" in cap.stdout and cap.stderr == ""
    _, cap = ip.run("%heapprof")
    assert f"since In [{first}]" in cap.stdout
    second = ip.count
    ip.run("a = 1\nb = 2\nkept = bytearray(3_000_000)\n")
    third = ip.count
    ip.run("more = grow(2000)")
    last = ip.count
    result, cap = ip.run("%heapprof stop")
    assert result.success and cap.stderr == "", cap.stderr
    assert not _api.is_running()
    profile = ip.ns["run"]
    spans = [(m.kind, m.label) for m in profile.markers if m.kind in (1, 2)]
    for n in (first, second, third, last):
        assert (1, f"In [{n}]") in spans and (2, f"In [{n}]") in spans, (n, spans)
    assert spans.index((2, f"In [{second}]")) < spans.index((1, f"In [{third}]"))
    kept = site(profile, f"In [{second}], line 3")
    assert kept.bytes == pytest.approx(3 * MB, abs=200)
    assert kept.key[0].source == "kept = bytearray(3_000_000)"
    # a function defined before profiling started is named by its cell too
    grown = site(profile, f"In [{define}], line 2")
    assert grown.bytes >= 2000 * 1000
    assert grown.key[0].source.strip() == "return [bytearray(1000) for _ in range(n)]"
    assert pngs(cap) and "Top allocation sites" in html_of(cap)


def test_cell_marker_and_frames_agree_with_the_count_the_cell_gets(ip: Shell) -> None:
    """IPython >= 9.8 counts a stored cell before running it, earlier versions after; a cell kept
    out of the history is not counted at all. Markers and frames name the cell alike anyway."""
    ip.run("%heapprof start --no-view --rate 1")
    stored = ip.count
    ip.run("a = bytearray(1_000_000)")
    unstored = ip.count
    with capture_output():
        ip.shell.run_cell("b = bytearray(2_000_000)", store_history=False)
    assert ip.count == unstored
    ip.run("%heapprof stop")
    profile = ip.ns["_heapprof"]
    spans = [(m.kind, m.label) for m in profile.markers if m.kind in (1, 2)]
    assert spans.count((1, f"In [{stored}]")) == 1
    assert (1, f"In [{unstored}]") in spans
    assert site(profile, f"In [{stored}], line 1").bytes == pytest.approx(MB, abs=200)
    assert site(profile, f"In [{unstored}], line 1").bytes == pytest.approx(2 * MB, abs=200)


def test_profile_across_cells_holds_no_site_of_heapprof(ip: Shell) -> None:
    """Markers and cell records written between cells, %heapprof status and stop: none of it is
    sampled (IPython's own work between cells is, it runs in the profiled thread)."""
    ip.run("def grow(n):\n    return [bytearray(1000) for _ in range(n)]\n")
    ip.run("%heapprof start --rate 1 --no-view")
    ip.run("kept = bytearray(1_000_000)")
    ip.run("%heapprof")
    ip.run("more = grow(500)")
    result, cap = ip.run("%heapprof stop")
    assert result.success and cap.stderr == "", cap.stderr
    profile = ip.ns["_heapprof"]
    assert our_leaves(profile.snapshot_at(profile.peak()[0])) == []
    for snapshot in whole_run(profile):
        assert our_leaves(snapshot) == [], snapshot.title


def test_cell_bands_on_the_plot(ip: Shell) -> None:
    from heapprof_nb.views.plot import history_series

    ip.run("%heapprof start --no-view --rate 1")
    ip.run("x = bytearray(1_000_000)")
    ip.run("y = bytearray(1_000_000)")
    ip.run("%heapprof stop")
    series = history_series(ip.ns["_heapprof"])
    labels = [label for _, _, label in series.cells]
    assert len(labels) == 4 and len(set(labels)) == 4
    assert all(t0 <= t1 for t0, t1, _ in series.cells)


def test_start_twice_refused(ip: Shell) -> None:
    ip.run("%heapprof start --no-view")
    _, cap = ip.run("%heapprof start")
    assert "already running" in one_error_line(cap)
    assert "%heapprof stop" in cap.stderr
    ip.run("%heapprof stop")


def test_exception_while_profiling_across_cells_keeps_going(ip: Shell) -> None:
    ip.run("%heapprof start --no-view --rate 1")
    result, _ = ip.run("keep = bytearray(1_000_000)\n1/0")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    assert _api.is_running()
    ip.run("%heapprof stop")
    assert ip.ns["_heapprof"].peak()[1] >= MB


# %%heapprof_stats


def test_stats_cell_shows_histogram_rate_and_recommendation(ip: Shell) -> None:
    result, cap = ip.run("%%heapprof_stats\nkeep = [str(i) * 3 for i in range(200_000)]\nlen(keep)")
    assert result.success and cap.stderr == "", cap.stderr
    assert ip.ns["Out"][ip.count - 1] == 200_000
    page = html_of(cap)
    assert "Allocation sizes" in page and "% bytes" in page
    assert "allocations/s" in page
    assert "Recommended: %%heapprof --rate" in page and "3% budget" in page
    assert "±" in page
    assert len(pngs(cap)) == 1
    hist, rec = ip.shell.magics_manager.registry["HeapprofMagics"]._last_stats
    assert hist.total_count >= 200_000
    assert rec.overhead <= 0.03


def test_stats_budget_option(ip: Shell) -> None:
    code = "keep = [str(i) for i in range(100_000)]"
    ip.run(f"%%heapprof_stats --budget 30%\n{code}")
    loose = ip.shell.magics_manager.registry["HeapprofMagics"]._last_stats[1]
    ip.run(f"%%heapprof_stats --budget 0.1%\n{code}")
    tight = ip.shell.magics_manager.registry["HeapprofMagics"]._last_stats[1]
    assert loose.rate < tight.rate
    _, cap = ip.run("%%heapprof_stats --budget lots\nx = 1")
    assert "--budget" in one_error_line(cap)


def test_stats_line_form_and_last_result(ip: Shell) -> None:
    _, cap = ip.run("%heapprof_stats")
    assert "no stats yet" in one_error_line(cap)
    n = ip.count
    _, cap = ip.run("%heapprof_stats --budget 5% keep = [bytes(100) for _ in range(50_000)]")
    assert cap.stderr == "", cap.stderr
    assert len(ip.ns["keep"]) == 50_000
    _, quiet = ip.run("%heapprof_stats [bytes(100) for _ in range(50_000)]")
    assert f"Out[{n + 1}]" not in quiet.stdout  # like %timeit, the line form shows no value
    assert n + 1 not in ip.ns["Out"]
    assert "Recommended" in html_of(cap) and "5% budget" in html_of(cap)
    _, cap = ip.run("%heapprof_stats --budget 5% keep = [bytes(100) for _ in range(50_000)]")
    _, again = ip.run("%heapprof_stats")
    assert again.stderr == ""
    assert "Recommended" in html_of(again) and "5% budget" in html_of(again)
    _, other = ip.run("%heapprof_stats --budget 50%")
    assert "50% budget" in html_of(other)


def test_stats_across_cells(ip: Shell) -> None:
    _, cap = ip.run("%heapprof_stats start")
    assert "until %heapprof_stats stop" in cap.stdout
    _, cap = ip.run("%heapprof")
    assert "measuring allocation sizes" in cap.stdout
    ip.run("a = [str(i) for i in range(100_000)]")
    _, cap = ip.run("%%heapprof\nx = 1")
    assert "stats" in one_error_line(cap)
    _, cap = ip.run("%heapprof_stats stop")
    assert cap.stderr == "" and "Recommended" in html_of(cap)
    hist = ip.shell.magics_manager.registry["HeapprofMagics"]._last_stats[0]
    assert hist.total_count >= 100_000
    _, cap = ip.run("%heapprof_stats stop")
    assert "not running" in one_error_line(cap)


def test_stats_refused_while_profiling(ip: Shell) -> None:
    ip.run("%heapprof start --no-view")
    _, cap = ip.run("%%heapprof_stats\nran = 1")
    assert "a profile is running" in one_error_line(cap)
    assert "ran" not in ip.ns
    ip.run("%heapprof stop")


def test_stats_exception_reaches_user(ip: Shell) -> None:
    result, cap = ip.run("%%heapprof_stats\nkeep = [1] * 1000\nraise KeyError('k')")
    assert isinstance(result.error_in_exec, KeyError)
    from heapprof_nb import _native

    assert not _native.stats_running()
    assert "Recommended" in html_of(cap)


def test_rate_auto_uses_the_last_recommendation(ip: Shell) -> None:
    ip.run("%%heapprof_stats\nkeep = [str(i) for i in range(100_000)]")
    rec = ip.shell.magics_manager.registry["HeapprofMagics"]._last_stats[1]
    _, cap = ip.run("%%heapprof --rate auto --no-view\nx = [str(i) for i in range(1000)]")
    assert cap.stderr == ""
    assert ip.ns["_heapprof"].rate == rec.rate


# cells as frames: both naming schemes


def test_ipython_input_names_resolve(ip: Shell) -> None:
    """Plain IPython compiles cells as <ipython-input-N-hash>."""
    from heapprof_nb.notebook.cells import cell_filenames, cell_source

    n = ip.count
    ip.run("a = 1\nb = 2\n")
    names = {name: count for name, count in cell_filenames(ip.shell).items() if count == n}
    assert names and all(name.startswith(f"<ipython-input-{n}-") for name in names)
    (name,) = names
    assert cell_source(ip.shell, name, n).rstrip("\n") == "a = 1\nb = 2"


def test_ipykernel_style_names_resolve(ip: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    """ipykernel names cells /tmp/ipykernel_<pid>/<hash>.py; the map still gives In [N]."""
    pytest.importorskip("ipykernel")
    from ipykernel.compiler import XCachingCompiler

    from heapprof_nb.notebook.cells import cell_filenames

    compiler = XCachingCompiler()
    compiler.flags = ip.shell.compile.flags
    monkeypatch.setattr(ip.shell, "compile", compiler)
    n = ip.count
    ip.run("def f():\n    return bytearray(2_000_000)\n")
    names = [name for name, count in cell_filenames(ip.shell).items() if count == n]
    assert names and all(f"ipykernel_{os.getpid()}" in name for name in names)
    m = ip.count
    ip.run("%%heapprof --rate 1 --no-view\nx = 1\nkeep = f()\n")
    profile = ip.ns["_heapprof"]
    inner = site(profile, f"In [{n}], line 2")
    assert inner.key[0].source.strip() == "return bytearray(2_000_000)"
    caller = [e for e in profile.snapshot_at(profile.peak()[0]).entries
              if e.stack and e.stack[0].location == f"In [{n}], line 2"]
    assert any(f.location == f"In [{m}], line 3" and f.source == "keep = f()"
               for e in caller for f in e.stack)


def test_body_lines_are_the_visible_cell_lines(ip: Shell) -> None:
    """Blank lines right after %%heapprof are kept so line numbers match the notebook."""
    n = ip.count
    ip.run("%%heapprof --rate 1 --no-view\n\n\nkeep = bytearray(1_500_000)\n")
    s = site(ip.ns["_heapprof"], f"In [{n}], line 4")
    assert s.key[0].source == "keep = bytearray(1_500_000)"
    # and IPython's own tracebacks read the same source
    name = s.key[0].filename
    assert linecache.getline(name, 4).strip() == "keep = bytearray(1_500_000)"


def test_flame_graph_stacks_start_at_the_cell(ip: Shell) -> None:
    from heapprof_nb.views.frames import visible_snapshot

    n = ip.count
    ip.run("%%heapprof --rate 1 --no-view\ndef g():\n    return bytearray(1_000_000)\nkeep = g()\n")
    profile = ip.ns["_heapprof"]
    snap = visible_snapshot(profile.snapshot_at(profile.peak()[0]))
    stacks = [e.stack for e in snap.entries if e.stack and e.stack[0].location == f"In [{n}], line 3"]
    assert stacks
    for stack in stacks:
        assert [f.location for f in stack] == [f"In [{n}], line 3", f"In [{n}], line 4"]
