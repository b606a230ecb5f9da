"""The bad-input table: every public function (``heapprof_nb.__all__``) and magic, with each class
of bad input, and the exact error the user gets.

Classes of bad input: wrong type, out of range, missing file, directory instead of a file, empty
file, a log of a future format version (and, where they apply, a state error and a file that is
not a log). Each row is checked for the exception's type and its exact message (``{tmp}`` stands
for the test's temporary folder). The same rows make the table in docs/hardening.md:

    PYTHONPATH=. python3 tests/hardening/test_bad_input.py > /tmp/table.md

A new public function without rows fails ``test_every_public_callable_has_rows``.
"""

from __future__ import annotations

import os
import re
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import heapprof_nb  # noqa: E402
from heapprof_nb import _api  # noqa: E402

ROOT = TESTS_DIR.parent

pytestmark = pytest.mark.timeout(60)  # per test; slower ones set their own


class Env:
    """Files the rows use, in a fresh folder: ``dir``, ``missing``, ``empty`` (0 bytes), ``text``
    (not a log), ``future`` (major version 2), ``newer_minor`` (1.9, readable), ``good``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.dir = tmp / "a_folder"
        self.dir.mkdir()
        self.missing = tmp / "no_such.hpnb"
        self.missing_dir_file = tmp / "no_such_folder" / "p.hpnb"
        self.empty = tmp / "empty.hpnb"
        self.empty.write_bytes(b"")
        self.empty_target = tmp / "empty_target.hpnb"  # start() replaces this one
        self.empty_target.write_bytes(b"")
        self.text = tmp / "notes.txt"
        self.text.write_text("these are not the bytes you are looking for\n")
        self.good = tmp / "good.hpnb"
        path = heapprof_nb.start(self.good, rate=4096, seed=1)
        keep = [bytes(1000) for _ in range(50)]
        heapprof_nb.stop()
        del keep
        data = self.good.read_bytes()
        self.future = tmp / "future.hpnb"
        self.future.write_bytes(data[:8] + struct.pack("<H", 2) + data[10:])
        self.newer_minor = tmp / "newer_minor.hpnb"
        self.newer_minor.write_bytes(data[:10] + struct.pack("<H", 9) + data[12:])
        assert path == str(self.good)


@dataclass(frozen=True)
class Row:
    function: str           # the public name
    input_class: str        # wrong type, out of range, missing file, ...
    call: str               # what the user wrote (for the table)
    run: Callable[[Env], Any]
    error: str | None       # exception class name, None when the call is accepted
    message: str            # the exact message, {tmp} for the folder; what happens if accepted
    xfail: str = ""         # a known bug: the row says what should happen


def _read(path: Any, **kw: Any) -> Any:
    return heapprof_nb.read(path, cache=False, **kw)


def _profile_enter(path: Any) -> None:
    with heapprof_nb.profile(path):
        pass


def _started(env: Env, **kw: Any) -> str:
    p = heapprof_nb.start(env.tmp / "ok.hpnb", **kw)
    heapprof_nb.stop()
    return f"accepted: {os.path.basename(p)} written"


def _running(action: Callable[[Env], Any]) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        heapprof_nb.start(env.tmp / "running.hpnb")
        try:
            return action(env)
        finally:
            heapprof_nb.stop()
    return run


FMT = "{tmp}"
ROWS: list[Row] = [
    # start()
    Row("start", "wrong type", "start(42)", lambda e: heapprof_nb.start(42),
        "TypeError", "path must be a str or os.PathLike, not int"),
    Row("start", "wrong type", "start(rate=[64])", lambda e: heapprof_nb.start(e.tmp / "p", rate=[64]),
        "TypeError", "rate must be a number of bytes such as 65536 or '64KiB', not list"),
    Row("start", "wrong type", "start(rate=True)", lambda e: heapprof_nb.start(e.tmp / "p", rate=True),
        "TypeError", "rate must be a number of bytes such as 65536 or '64KiB', not a bool"),
    Row("start", "wrong type", "start(sampling=[1, 2])",
        lambda e: heapprof_nb.start(e.tmp / "p", sampling=[1, 2]),
        "TypeError", "sampling must be a dict like {128: 1e-4, 8192: 0.1}, not list"),
    Row("start", "wrong type", "start(max_frames='8')",
        lambda e: heapprof_nb.start(e.tmp / "p", max_frames="8"),
        "TypeError", "max_frames must be an int, not str"),
    Row("start", "wrong type", "start(seed='x')", lambda e: heapprof_nb.start(e.tmp / "p", seed="x"),
        "ValueError", "seed='x': the seed must be an integer"),
    Row("start", "out of range", "start(rate=0)", lambda e: heapprof_nb.start(e.tmp / "p", rate=0),
        "ValueError", "rate must be a positive number of bytes, got 0"),
    Row("start", "out of range", "start(rate=2**70)", lambda e: heapprof_nb.start(e.tmp / "p", rate=2**70),
        "ValueError", "rate must be at most 4611686018427387904 bytes, got 1180591620717411303424"),
    Row("start", "out of range", "start(rate='64 parsecs')",
        lambda e: heapprof_nb.start(e.tmp / "p", rate="64 parsecs"),
        "ValueError", "rate '64 parsecs' is not a size: use a number of bytes with an optional unit "
        "(B, KiB, MiB, GiB, kB, MB, GB), e.g. '64KiB'"),
    Row("start", "out of range", "start(sampling={128: 1.5})",
        lambda e: heapprof_nb.start(e.tmp / "p", sampling={128: 1.5}),
        "ValueError", "sampling probability for 128 must be in (0, 1], got 1.5"),
    Row("start", "out of range", "start(sampling='-' * 100000 + '1')",
        lambda e: heapprof_nb.start(e.tmp / "p", sampling="-" * 100000 + "1"),
        "ValueError", "sampling '" + "-" * 100000 + "1' is not a table; write it like "
        "{128: 1e-4, 8192: 0.1}"),
    Row("start", "out of range", "start(max_frames=0)", lambda e: heapprof_nb.start(e.tmp / "p", max_frames=0),
        "ValueError", "max_frames must be in 1..4096, got 0"),
    Row("start", "out of range", "start(seed=2**64)", lambda e: heapprof_nb.start(e.tmp / "p", seed=2**64),
        "ValueError", "seed=18446744073709551616: the seed must be an integer in [0, 2**64)"),
    Row("start", "out of range", "start(rate=4096, sampling={128: 0.1})",
        lambda e: heapprof_nb.start(e.tmp / "p", rate=4096, sampling={128: 0.1}),
        "ValueError", "give either rate or sampling, not both"),
    Row("start", "missing file", "start('{tmp}/no_such_folder/p.hpnb')",
        lambda e: heapprof_nb.start(e.missing_dir_file),
        "FileNotFoundError", "the folder for the profile does not exist: {tmp}/no_such_folder"),
    Row("start", "directory", "start('{tmp}/a_folder')", lambda e: heapprof_nb.start(e.dir),
        "IsADirectoryError", "{tmp}/a_folder is a directory; give a file name for the profile"),
    Row("start", "empty file", "start('{tmp}/empty_target.hpnb')",
        lambda e: (heapprof_nb.start(e.empty_target), heapprof_nb.stop())[0] and "accepted: replaced",
        None, "accepted: replaced"),
    Row("start", "state", "start() while a profile runs",
        _running(lambda e: heapprof_nb.start(e.tmp / "p2")),
        "ProfilerStateError", "a profile is already running (writing {tmp}/running.hpnb)"),
    Row("start", "unwritable", "start('/proc/p.hpnb')", lambda e: heapprof_nb.start("/proc/p.hpnb"),
        "FileNotFoundError", "[Errno 2] No such file or directory: '/proc/p.hpnb'"),
    # stop(), is_running(), current_path(), session_dir(), mark()
    Row("stop", "state", "stop() with no profile", lambda e: heapprof_nb.stop(),
        "ProfilerStateError", "no profile is running; call heapprof_nb.start() first"),
    Row("stop", "wrong type", "stop(1)", lambda e: heapprof_nb.stop(1),
        "TypeError", "stop() takes 0 positional arguments but 1 was given"),
    Row("is_running", "wrong type", "is_running(1)", lambda e: heapprof_nb.is_running(1),
        "TypeError", "is_running() takes 0 positional arguments but 1 was given"),
    Row("current_path", "wrong type", "current_path(1)", lambda e: heapprof_nb.current_path(1),
        "TypeError", "current_path() takes 0 positional arguments but 1 was given"),
    Row("session_dir", "wrong type", "session_dir(1)", lambda e: heapprof_nb.session_dir(1),
        "TypeError", "session_dir() takes 0 positional arguments but 1 was given"),
    Row("mark", "wrong type", "mark(3) while profiling", _running(lambda e: heapprof_nb.mark(3)),
        "TypeError", "label must be a str, not int"),
    Row("mark", "state", "mark('x') with no profile", lambda e: heapprof_nb.mark("x"),
        "ProfilerStateError", "no profile is running; mark() needs one"),
    Row("mark", "out of range", "mark('x' * 2_000_000) while profiling",
        _running(lambda e: heapprof_nb.mark("x" * 2_000_000) or "accepted: cut to 1 MiB"),
        None, "accepted: cut to 1 MiB"),
    # profile()
    Row("profile", "wrong type", "with profile(42): ...", lambda e: _profile_enter(42),
        "TypeError", "path must be a str or os.PathLike, not int"),
    Row("profile", "wrong type", "profile(rat=1)", lambda e: heapprof_nb.profile(rat=1).__enter__(),
        "TypeError", "start() got an unexpected keyword argument 'rat'"),
    Row("profile", "directory", "with profile('{tmp}/a_folder'): ...", lambda e: _profile_enter(e.dir),
        "IsADirectoryError", "{tmp}/a_folder is a directory; give a file name for the profile"),
    Row("profile", "state", "profile().read() before it ran", lambda e: heapprof_nb.profile().read(),
        "ProfilerStateError", "the profile has not run yet"),
    # gather_stats(), stop_stats()
    Row("gather_stats", "state", "gather_stats() while a profile runs",
        _running(lambda e: heapprof_nb.gather_stats()),
        "ProfilerStateError", "a profile is running; stop() it before gather_stats()"),
    Row("gather_stats", "wrong type", "gather_stats(1)", lambda e: heapprof_nb.gather_stats(1),
        "TypeError", "gather_stats() takes 0 positional arguments but 1 was given"),
    Row("stop_stats", "state", "stop_stats() with no stats", lambda e: heapprof_nb.stop_stats(),
        "ProfilerStateError", "stats mode is not running; call gather_stats() first"),
    # read()
    Row("read", "wrong type", "read(42)", lambda e: _read(42),
        "TypeError", "expected str, bytes or os.PathLike object, not int"),
    Row("read", "wrong type", "read(None)", lambda e: _read(None),
        "TypeError", "expected str, bytes or os.PathLike object, not NoneType"),
    Row("read", "wrong type", "read(path, bucket='1s')", lambda e: _read(e.good, bucket="1s"),
        "ValueError", "bucket must be a positive number of seconds, not '1s'"),
    Row("read", "out of range", "read(path, bucket=-1)", lambda e: _read(e.good, bucket=-1),
        "ValueError", "bucket must be a positive number of seconds, not -1"),
    Row("read", "out of range", "read(path, max_buckets=3)", lambda e: _read(e.good, max_buckets=3),
        "ValueError", "max_buckets must be an even integer in 2..1048576, not 3"),
    Row("read", "out of range", "read(path, precision=2)", lambda e: _read(e.good, precision=2),
        "ValueError", "precision must be in [0, 1], not 2"),
    Row("read", "missing file", "read('{tmp}/no_such.hpnb')", lambda e: _read(e.missing),
        "FileNotFoundError", "[Errno 2] No such profile file: '{tmp}/no_such.hpnb'"),
    Row("read", "directory", "read('{tmp}/a_folder')", lambda e: _read(e.dir),
        "IsADirectoryError", "[Errno 21] A profile is a file, not a directory: '{tmp}/a_folder'"),
    Row("read", "empty file", "read('{tmp}/empty.hpnb')", lambda e: _read(e.empty),
        "ProfileFormatError", "empty file: not a heapprof_nb log (no header): {tmp}/empty.hpnb"),
    Row("read", "not a log", "read('{tmp}/notes.txt')", lambda e: _read(e.text),
        "ProfileFormatError", "not a heapprof_nb log: bad magic (expected \"HPNBLOG\\0\") at byte "
        "offset 0"),
    Row("read", "future version", "read(log of format 2.0)", lambda e: _read(e.future),
        "ProfileFormatError", "unsupported log format: major version 2; this reader supports major "
        "version 1 at byte offset 8"),
    Row("read", "future version", "read(log of format 1.9)",
        lambda e: _read(e.newer_minor).complete and "accepted: read (a minor revision adds only "
        "what a 1.0 reader may skip)",
        None, "accepted: read (a minor revision adds only what a 1.0 reader may skip)"),
    # the IPython extension
    Row("load_ipython_extension", "wrong type", "load_ipython_extension(None)",
        lambda e: heapprof_nb.load_ipython_extension(None),
        "AttributeError", "'NoneType' object has no attribute 'events'"),
    Row("unload_ipython_extension", "wrong type", "unload_ipython_extension(None)",
        lambda e: heapprof_nb.unload_ipython_extension(None) or "accepted: nothing to unload",
        None, "accepted: nothing to unload"),
]

# Public names that are not functions taking user input: constants, exception classes and the
# value classes the library builds (their constructors are not an entry point).
# Constants, exceptions and the classes of returned values (a Profile comes from read(); its
# methods' bad input is tested in tests/unit/test_digest.py).
NOT_ENTRY_POINTS = {"DEFAULT_MAX_FRAMES", "DEFAULT_RATE", "HeapprofError", "ProfileFormatError",
                    "ProfilerStateError", "Frame", "SizeHistogram", "Snapshot", "StackStat",
                    "Statistic", "StatisticDiff", "Profile", "History", "Window"}

# Magic rows: (magic line, cell body or None, input class, the one stderr line).
MAGIC_ROWS: list[tuple[str, str | None, str, str]] = [
    ("%%heapprof --frames many", "x = 1", "wrong type",
     "heapprof: error: argument --frames: invalid int value: 'many' (see %heapprof? for the options)"),
    ("%%heapprof --rate fast", "x = 1", "wrong type",
     "heapprof: error: --rate 'fast' is not a size: use a number of bytes with an optional unit "
     "(B, KiB, MiB, GiB, kB, MB, GB), e.g. '64KiB'"),
    ("%%heapprof --rate 0", "x = 1", "out of range",
     "heapprof: error: --rate '0' must come to a positive whole number of bytes"),
    ("%%heapprof --frames 0", "x = 1", "out of range",
     "heapprof: error: --frames must be in 1..4096, got 0"),
    ("%%heapprof --sampling {128:2}", "x = 1", "out of range",
     "heapprof: error: sampling probability for 128 must be in (0, 1], got 2"),
    ("%%heapprof -o {tmp}/no_such_folder/p.hpnb", "x = 1", "missing file",
     "heapprof: error: the folder for the profile does not exist: {tmp}/no_such_folder"),
    ("%%heapprof -o {tmp}/a_folder", "x = 1", "directory",
     "heapprof: error: {tmp}/a_folder is a directory; give a file name for the profile"),
    ("%heapprof stop", None, "state", "heapprof: error: no profile is running; start one with "
     "%heapprof start"),
    ("%heapprof restart", None, "out of range",
     "heapprof: error: argument action: invalid choice: 'restart' (choose from 'start', 'stop', "
     "'status') (see %heapprof? for the options)"),
    ("%%heapprof_stats --budget lots", "x = 1", "wrong type",
     "heapprof: error: --budget 'lots' is not a percentage: write e.g. 3% or 0.03"),
    ("%%heapprof_stats --budget 0", "x = 1", "out of range",
     "heapprof: error: --budget '0' must be above 0%, e.g. 3%"),
    ("%heapprof_stats stop", None, "state",
     "heapprof: error: %heapprof_stats start is not running; nothing to stop"),
]


# Newer CPythons add spelling suggestions to some messages: 3.14 to an unknown keyword's
# TypeError, 3.15's argparse to an invalid choice. The table holds the message without them.
_SUGGESTION = re.compile(r"\. Did you mean '[^']*'\?$|, maybe you meant '[^']*'\?")


def _without_suggestion(message: str) -> str:
    return _SUGGESTION.sub("", message)


def _outcome(row: Row, env: Env) -> tuple[str | None, str]:
    try:
        value = row.run(env)
    except Exception as exc:  # noqa: BLE001 - the point is to see what the user gets
        return type(exc).__name__, _without_suggestion(str(exc)).replace(str(env.tmp), FMT)
    finally:
        if _api.is_running():
            _api.stop()
        if heapprof_nb._native.stats_running():
            heapprof_nb.stop_stats()
    return None, value if isinstance(value, str) else "accepted"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield Env(tmp_path)


def _row_id(row: Row) -> str:
    return f"{row.function}: {row.call}"[:70]


@pytest.mark.parametrize(
    "row",
    [pytest.param(r, id=_row_id(r), marks=[pytest.mark.xfail(strict=True, reason=r.xfail)]
                  if r.xfail else []) for r in ROWS],
)
def test_bad_input(row: Row, env: Env) -> None:
    if row.function.endswith("ipython_extension"):
        pytest.importorskip("IPython")
    error, message = _outcome(row, env)
    assert (error, message) == (row.error, row.message)
    assert not heapprof_nb.is_running()


def test_every_public_callable_has_rows() -> None:
    covered = {r.function for r in ROWS}
    missing = [n for n in heapprof_nb.__all__ if n not in covered and n not in NOT_ENTRY_POINTS]
    assert missing == []


def test_public_names_keep_their_meaning_after_read(env: Env) -> None:
    """``heapprof_nb.profile`` is the context manager of ``__all__`` and ``read()`` returns a
    ``heapprof_nb.Profile``, after the reader module was imported."""
    prof = heapprof_nb.read(env.good, cache=False)
    assert isinstance(heapprof_nb.profile, type), heapprof_nb.profile
    assert isinstance(prof, heapprof_nb.Profile)


def _magic_shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_cell("%load_ext heapprof_nb")
    return shell


def _magic_outcome(shell: Any, line: str, body: str | None, env: Env) -> str:
    from IPython.utils.capture import capture_output

    text = line.replace(FMT, str(env.tmp))
    if body is not None:
        text += "\n" + body
    with capture_output() as cap:
        shell.run_cell(text)
    return _without_suggestion(cap.stderr.strip()).replace(str(env.tmp), FMT)


@pytest.mark.ipython
@pytest.mark.parametrize("line, body, input_class, expected", MAGIC_ROWS,
                         ids=[m[0] for m in MAGIC_ROWS])
def test_bad_magic_input(line: str, body: str | None, input_class: str, expected: str,
                         env: Env) -> None:
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    shell = _magic_shell()
    try:
        assert _magic_outcome(shell, line, body, env) == expected
        assert not heapprof_nb.is_running() and "x" not in shell.user_ns
    finally:
        shell.run_cell("%unload_ext heapprof_nb")
        InteractiveShell.clear_instance()


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`{text}`" if len(text) < 160 else f"`{text[:120]}…`"


def render_markdown() -> str:
    """The table of docs/hardening.md, from running every row."""
    lines = ["| function | bad input | call | the user gets |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        env = Env(Path(tmp))
        for row in ROWS:
            error, message = _outcome(row, env)
            got = f"{error}: {message}" if error else message
            note = f" (known bug: should be {row.error}; {row.xfail})" if row.xfail else ""
            call = row.call if len(row.call) < 80 else row.call[:60] + "…"
            lines.append(f"| `{row.function}` | {row.input_class} | {_cell(call)} | "
                         f"{_cell(got)}{note} |")
        try:
            shell = _magic_shell()
        except ImportError:
            shell = None
        if shell is not None:
            for line, body, input_class, _ in MAGIC_ROWS:
                got = _magic_outcome(shell, line, body, env)
                name = line.split()[0]
                lines.append(f"| `{name}` | {input_class} | {_cell(line)} | {_cell(got)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
