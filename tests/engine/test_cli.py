"""python -m heapprof_nb, every command in a real subprocess, on real logs of known allocations."""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

import heapprof_nb
from heapprof_nb import cli
from heapprof_nb._units import parse_bytes
from reference_decoder import read_log

from .estimates import sampling_sigma

SCRIPT = """
import sys
kept = [bytes(2000) for _ in range(5000)]
print("args", sys.argv[1:])
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""

# Known allocations: BLOCKS blocks of BLOCK bytes kept to the end by keep() (line KEEP_LINE),
# and a 30 MB bytearray allocated and freed by spike() (line SPIKE_LINE), so the peak is both.
KNOWN = """
import sys, time

def keep(n):
    return [bytes(100_000) for _ in range(n)]

def spike():
    block = bytearray(30_000_000)
    time.sleep(0.05)
    del block

kept = keep(int(sys.argv[1]))
time.sleep(0.05)
spike()
time.sleep(0.05)
"""
KEEP_LINE, SPIKE_LINE = 5, 8
BLOCK = 100_000 + 33  # a bytes object of 100,000 bytes takes 33 more
SPIKE = 30_000_000 + 1  # a bytearray keeps a trailing NUL
RATE = 16384
MIB = 2**20
ERROR_MARGIN = 4  # sigmas
PRINT_ROUNDING = 0.05 * MIB  # format_bytes prints MiB with one decimal
OVERHEAD = 64 * 1024  # what the lines allocate besides the blocks (the list, the frame)


def cli_run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heapprof_nb", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def ok(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = cli_run(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def profile_known(folder: Path, name: str, blocks: int) -> Path:
    (folder / "known.py").write_text(KNOWN)
    log = folder / name
    ok("run", "-o", str(log), "--rate", str(RATE), "--seed", "7", "--", "known.py", str(blocks),
       cwd=folder)
    return log


@pytest.fixture(scope="module")
def known_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two logs of the known script: 200 blocks kept, and 400."""
    folder = tmp_path_factory.mktemp("cli")
    return profile_known(folder, "small.hpnb", 200), profile_known(folder, "large.hpnb", 400)


@pytest.fixture
def known_log(known_logs: tuple[Path, Path], tmp_path: Path) -> Path:
    """The 200-block log, copied so each test's outputs land in its own folder."""
    log = tmp_path / "known.hpnb"
    log.write_bytes(known_logs[0].read_bytes())
    return log


def kept_sigma(blocks: int) -> float:
    return sampling_sigma(RATE, [(BLOCK, blocks)])


def assert_bytes_near(text: str, truth: float, sigma: float) -> None:
    """``text`` (``19.1 MiB``) is within the error bar of ``truth``."""
    estimate = printed_bytes(text)
    tolerance = ERROR_MARGIN * sigma + PRINT_ROUNDING + OVERHEAD
    assert abs(estimate - truth) <= tolerance, (text, truth, tolerance)


def printed_bytes(text: str) -> float:
    """``19.1 MiB`` -> bytes (format_bytes's units)."""
    number, unit = text.split()
    return float(number) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]


def site_row(output: str, line: int) -> str:
    rows = [row for row in output.splitlines() if f"known.py:{line})" in row]
    assert len(rows) == 1, output
    return rows[0]


def first_size(row: str) -> str:
    match = re.search(r"[-+]?\d+(?:\.\d+)? (?:B|KiB|MiB|GiB)", row)
    assert match, row
    return match.group(0)


# -- run, stats, show (the commands that were there first) ----------------------------------------


def test_run_profiles_a_script_and_keeps_its_exit_code(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    out = tmp_path / "out.hpnb"
    result = cli_run("run", "-o", str(out), "--rate", "1", "--", "script.py", "3", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "args ['3']" in result.stdout
    assert f"profile written to {out}" in result.stderr
    log = read_log(out)
    assert not log.truncated and log.header.mode == 2
    files = {log.strings[log.frames[f][0]] for f in log.frames}
    assert any(name.endswith("script.py") for name in files)


def test_show_is_summary(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    out = tmp_path / "out.hpnb"
    ok("run", "-o", str(out), "--", "script.py", cwd=tmp_path)
    shown = ok("show", str(out), "--top", "3", cwd=tmp_path)
    assert "peak" in shown.stdout and "script.py:3" in shown.stdout
    assert shown.stdout == ok("summary", str(out), "--top", "3", cwd=tmp_path).stdout


def test_stats_prints_histogram(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    result = ok("stats", "--", "script.py", cwd=tmp_path)
    assert "HEAP USAGE SUMMARY" in result.stderr and "2049 - 4096" in result.stderr
    advice = result.stderr.strip().splitlines()[-1]
    assert re.match(r"recommended: --rate \d+[KMG]iB\. Sampling every", advice), advice
    assert "within the 3% budget" in advice or "no candidate" in advice or "coarsest" in advice


def test_stats_budget_changes_the_recommendation(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    rates = []
    for budget in ("50%", "0.01%"):
        advice = ok("stats", "--budget", budget, "--", "script.py", cwd=tmp_path)
        last = advice.stderr.strip().splitlines()[-1]
        rates.append(parse_bytes(re.search(r"--rate (\S+)\.", last).group(1)))  # type: ignore[union-attr]
    assert rates[0] < rates[1]  # a larger budget affords a finer rate


# -- the commands that read a log -----------------------------------------------------------------


def test_summary_gives_the_peak_and_its_sites(known_log: Path) -> None:
    out = ok("summary", str(known_log)).stdout
    assert "complete" in out and f"sampled every {RATE // 1024}.0 KiB" in out
    peak = re.search(r"peak (\S+ \S+) ± (\S+ \S+) at", out)
    assert peak, out
    assert_bytes_near(peak.group(1), 200 * BLOCK + SPIKE, kept_sigma(200))
    assert_bytes_near(first_size(site_row(out, SPIKE_LINE)), SPIKE, 0)
    assert_bytes_near(first_size(site_row(out, KEEP_LINE)), 200 * BLOCK, kept_sigma(200))
    assert "live at the peak" in out


def test_table_at_the_end_has_only_what_was_kept(known_log: Path) -> None:
    out = ok("table", str(known_log), "--at", "end").stdout
    assert out.splitlines()[0].startswith("live at ")
    assert "known.py:%d)" % SPIKE_LINE not in out
    row = site_row(out, KEEP_LINE)
    assert_bytes_near(first_size(row), 200 * BLOCK, kept_sigma(200))
    blocks = int(row.split()[6].replace(",", ""))  # bytes, error, share, cum, blocks
    assert abs(blocks - 200) <= 20, row


def test_table_top_and_function_grouping(known_log: Path) -> None:
    out = ok("table", str(known_log), "--top", "1", "--by", "function").stdout
    rows = out.splitlines()
    assert rows[2].endswith("spike (known.py)"), out  # grouped by function: no line
    # how many functions the rest holds depends on the version (what the frame policy folds)
    assert re.fullmatch(r"\(\d+ more sites?, .+; --top shows more\)", rows[-1]), out


def test_temporary_over_the_whole_run_is_the_spike(known_log: Path) -> None:
    out = ok("table", str(known_log), "--measure", "temporary").stdout
    assert out.startswith("allocated and freed in (0, ")
    assert_bytes_near(first_size(site_row(out, SPIKE_LINE)), SPIKE, 0)


def test_a_span_before_the_spike_has_no_spike(known_log: Path) -> None:
    peak_time = heapprof_nb.read(known_log).peak()[0]
    out = ok("table", str(known_log), "--from", "0", "--to", f"{peak_time / 2:.6f}",
             "--measure", "kept").stdout
    assert f"known.py:{SPIKE_LINE})" not in out


def test_flamegraph_writes_html_next_to_the_log(known_log: Path) -> None:
    result = ok("flamegraph", str(known_log))
    page = known_log.with_suffix(".flame.html")
    assert f"wrote {page}: live at the peak" in result.stderr
    html = page.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "keep" in html and "spike" in html and "known.py" in html
    assert f"{known_log.name}: live at the peak" in html  # the default title


def test_flamegraph_output_and_stdout(known_log: Path, tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.html"
    ok("flamegraph", str(known_log), "-o", str(chosen), "--at", "end", "--title", "what stayed")
    assert "what stayed" in chosen.read_text()
    piped = ok("flamegraph", str(known_log), "-o", "-")
    assert "keep" in piped.stdout and "wrote stdout" in piped.stderr


def collapsed_total(text: str) -> tuple[int, dict[str, int]]:
    """The sum of the counts, and the count of each leaf."""
    total, by_leaf = 0, {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.split(";")[-1]
        by_leaf[leaf] = by_leaf.get(leaf, 0) + int(count)
        total += int(count)
    return total, by_leaf


def test_export_collapsed_lines_sum_to_the_snapshot(known_log: Path) -> None:
    result = ok("export", str(known_log), "--format", "collapsed")
    text = known_log.with_suffix(".collapsed.txt").read_text()
    total, by_leaf = collapsed_total(text)
    written = re.search(r": (\S+ \S+) ±", result.stderr)
    assert written, result.stderr
    assert abs(total - printed_bytes(written.group(1))) <= PRINT_ROUNDING
    spike = [count for leaf, count in by_leaf.items() if f"known.py:{SPIKE_LINE})" in leaf]
    assert spike and abs(spike[0] - SPIKE) <= OVERHEAD
    assert all(re.fullmatch(r".+ \d+", line) for line in text.splitlines())


def test_all_frames_shows_the_runner_s_frames(known_log: Path) -> None:
    """The script runs under runpy and heapprof_nb's CLI: hidden by default, shown by --all-frames,
    and the user's own frame is in both."""
    shown = {}
    for extra in ((), ("--all-frames",)):
        ok("export", str(known_log), "--format", "collapsed", "-o", "out.txt", *extra,
           cwd=known_log.parent)
        shown[extra] = (known_log.parent / "out.txt").read_text()
    hidden, everything = shown[()], shown[("--all-frames",)]
    assert "runpy" not in hidden and "runpy" in everything
    assert f"known.py:{SPIKE_LINE})" in hidden and f"known.py:{SPIKE_LINE})" in everything


def test_export_speedscope_parses_and_names_the_frame(known_log: Path) -> None:
    ok("export", str(known_log), "--format", "speedscope")
    doc = json.loads(known_log.with_suffix(".speedscope.json").read_text())
    names = {frame["name"] for frame in doc["shared"]["frames"]}
    assert {"keep", "spike"} <= names
    profile = doc["profiles"][0]
    assert profile["unit"] == "bytes" and len(profile["samples"]) == len(profile["weights"])
    assert_bytes_near(f"{sum(profile['weights'])} B", 200 * BLOCK + SPIKE, kept_sigma(200))


def test_export_pprof_is_gzipped_protobuf_with_the_function(known_log: Path) -> None:
    ok("export", str(known_log), "--format", "pprof")
    data = known_log.with_suffix(".pb.gz").read_bytes()
    assert data[:2] == b"\x1f\x8b"
    message = gzip.decompress(data)
    assert message[0] == 0x0A  # field 1 (sample_type), length-delimited: a pprof Profile
    assert b"spike" in message and b"known.py" in message


def test_export_to_stdout_is_the_same_bytes(known_log: Path, tmp_path: Path) -> None:
    ok("export", str(known_log), "--format", "pprof", "-o", str(tmp_path / "a.pb.gz"))
    piped = subprocess.run([sys.executable, "-m", "heapprof_nb", "export", str(known_log),
                            "--format", "pprof", "-o", "-"], capture_output=True, timeout=120)
    assert piped.returncode == 0
    assert gzip.decompress(piped.stdout) == gzip.decompress((tmp_path / "a.pb.gz").read_bytes())


def test_diff_of_two_logs_shows_the_growth(known_logs: tuple[Path, Path]) -> None:
    small, large = known_logs
    out = ok("diff", str(small), str(large), "--top", "5").stdout
    assert out.startswith(f"before: {small}, live at the peak")
    grew = out.split("grew:")[1].split("shrank:")[0]
    row = site_row(grew, KEEP_LINE)
    assert first_size(row).startswith("+")
    sigma = (kept_sigma(200) ** 2 + kept_sigma(400) ** 2) ** 0.5
    assert_bytes_near(first_size(row).lstrip("+"), 200 * BLOCK, sigma)
    assert "-> " in row


def test_diff_of_two_moments_of_one_log(known_log: Path) -> None:
    out = ok("diff", str(known_log), "--before", "peak", "--after", "end").stdout
    shrank = out.split("shrank:")[1]
    row = site_row(shrank, SPIKE_LINE)
    assert first_size(row).startswith("-")
    assert_bytes_near(first_size(row).lstrip("-"), SPIKE, 0)
    assert re.search(r"change: -\d", out)


def test_diff_of_two_spans(known_log: Path) -> None:
    out = ok("diff", str(known_log), "--before", "0:peak", "--after", "peak:end",
             "--measure", "temporary").stdout
    assert "allocated and freed in" in out


def test_a_truncated_log_shows_what_it_recorded(known_log: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.hpnb"
    cut.write_bytes(known_log.read_bytes()[: known_log.stat().st_size * 2 // 3])
    result = ok("summary", str(cut))
    assert "ends without its trailer" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "cut short" in result.stdout and "known.py:" in result.stdout


# -- every bad input: one sentence, a status, no traceback ----------------------------------------


def bad_inputs(folder: Path, log: Path) -> list[tuple[tuple[str, ...], int, str]]:
    (folder / "not_a_log.txt").write_text("hello\n" * 20)
    (folder / "empty.hpnb").write_bytes(b"")
    (folder / "a_file").write_text("")
    read_only = folder / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    unwritable = read_only if not os.access(read_only, os.W_OK) else Path("/proc")  # root
    missing = str(folder / "nothing.hpnb")
    return [
        (("summary", missing), 1, "No such profile file"),
        (("table", str(folder / "not_a_log.txt")), 1, "not a heapprof_nb log"),
        (("flamegraph", str(folder / "empty.hpnb")), 1, "empty file"),
        (("summary", str(folder)), 1, "not a directory"),
        (("table", str(log), "--at", "soon"), 2, "'soon' is not a time"),
        (("table", str(log), "--at", "-1"), 2, "is not a time"),
        (("table", str(log), "--at", "999"), 2, "--at 999 s is outside the profile"),
        (("table", str(log), "--from", "999"), 2, "--from 999 s is outside the profile"),
        (("table", str(log), "--from", "end", "--to", "0"), 2, "after its end"),
        (("table", str(log), "--at", "1", "--from", "0"), 2, "give one or the other"),
        (("table", str(log), "--at", "0", "--measure", "growth"), 2, "needs a span"),
        (("table", str(log), "--top", "0"), 2, "--top must be at least 1"),
        (("table", str(log), "--measure", "most"), 2, "invalid choice: 'most'"),
        (("export", str(log), "--format", "svg"), 2, "invalid choice: 'svg'"),
        (("export", str(log)), 2, "the following arguments are required: --format"),
        (("flamegraph", str(log), "-o", str(folder / "no" / "such" / "f.html")), 1,
         "does not exist"),
        (("flamegraph", str(log), "-o", str(folder / "a_file" / "f.html")), 1, "does not exist"),
        (("flamegraph", str(log), "-o", str(folder)), 1, "it is a folder"),
        (("export", str(log), "--format", "collapsed", "-o", str(log)), 1,
         "it is the log being read"),
        (("export", str(log), "--format", "pprof", "-o", str(unwritable / "p.pb.gz")), 1,
         "cannot write"),
        (("diff", str(log)), 2, "needs --before and --after"),
        (("diff", str(log), str(log), str(log)), 2, "not 3 logs"),
        (("diff", str(log), missing), 1, "No such profile file"),
        (("diff", str(log), "--before", "x", "--after", "end"), 2, "'x' is not a time"),
        (("diff", str(log), "--before", "0", "--after", "end", "--measure", "kept"), 2,
         "give --before as T0:T1"),
        (("frobnicate",), 2, "invalid choice: 'frobnicate'"),
        (("run", "--rate", "fast", "--", "script.py"), 2, "not a size"),
        (("run", "--sampling", "{1: 2}", "--", "script.py"), 2, "(0, 1]"),
        (("run", "--", "missing.py"), 2, "no such script"),
        (("run",), 2, "give the script"),
        (("run", "--rate", "1", "--sampling", "{1: 0.5}", "--", "script.py"), 2, "not allowed"),
        (("run", "-o", str(folder / "no" / "x.hpnb"), "--", "script.py"), 1, "cannot write"),
        (("stats", "--budget", "lots", "--", "script.py"), 2, "is not a percentage"),
        (("stats", "--budget", "0%", "--", "script.py"), 2, "must be above 0%"),
    ]


def test_every_bad_input_is_one_sentence_and_a_status(known_log: Path, tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    original = known_log.read_bytes()
    for args, status, words in bad_inputs(tmp_path, known_log):
        result = cli_run(*args, cwd=tmp_path)
        assert result.returncode == status, (args, result.returncode, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert result.stderr.startswith("heapprof_nb: ") and result.stderr.count("\n") == 1, (
            args, result.stderr)
        assert result.stdout == "", (args, result.stdout)
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob("*.pb.gz"))
    assert known_log.read_bytes() == original


# -- help ------------------------------------------------------------------------------------------

COMMANDS = ["run", "stats", "summary", "show", "table", "flamegraph", "export", "diff"]


def test_help_lists_every_command() -> None:
    result = ok("--help")
    for command in COMMANDS:
        assert command in result.stdout
    assert "live at the peak by default" in result.stdout and "Exit status" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str) -> None:
    out = ok(command, "--help").stdout
    name = "summary" if command == "show" else command  # show is summary's alias
    assert out.startswith(f"usage: python -m heapprof_nb {name}")
    assert "examples:" in out
    if command not in ("run", "stats"):
        assert "--top" in out or "--output" in out
    if command in ("summary", "show", "table", "flamegraph", "export"):
        assert "--measure" in out and "--at T" in out and "--from T0" in out
        assert "Live at the peak by default" in out


def test_no_command_prints_help_and_fails() -> None:
    result = cli_run()
    assert result.returncode == 2 and "COMMAND" in result.stderr


# -- the progress bar ------------------------------------------------------------------------------


class SlowDigest:
    """Done after ``steps`` waits of any length, its progress growing with each."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.waits = 0

    @property
    def progress(self) -> float:
        return min(1.0, self.waits / self.steps)

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return timeout is None or self.waits >= self.steps


class Opened:
    def __init__(self, digest: SlowDigest) -> None:
        self.digest = digest


def slow_open(seconds: float, steps: int) -> Callable[[], Opened]:
    """A log that takes ``seconds`` to open, then ``steps`` waits to digest."""
    def open_log() -> Opened:
        time.sleep(seconds)
        return Opened(SlowDigest(steps))

    return open_log


class Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def read_slowly(stream: Terminal, *, delay: float, seconds: float = 0.2, steps: int = 5) -> Opened:
    status = cli.StatusLine(stream, delay=delay)
    return cli.read_with_progress(slow_open(seconds, steps), status, label="run.hpnb",
                                  interval=0.01)


def test_a_slow_read_shows_the_time_then_the_digest_s_progress_on_a_terminal() -> None:
    stream = Terminal(tty=True)
    opened = read_slowly(stream, delay=0)
    assert opened.digest.waits == 5
    drawn = stream.getvalue()
    assert re.search(r"\rreading run\.hpnb: 0\.\d s\x1b\[K", drawn), drawn
    assert "\rdigesting run.hpnb [############------------------]  40%\x1b[K" in drawn
    assert drawn.endswith("\r\x1b[K")  # the line is cleared at the end


def test_no_bar_in_a_pipe_or_on_a_quick_read() -> None:
    for tty, delay in ((False, 0.0), (True, 5.0)):
        stream = Terminal(tty=tty)
        read_slowly(stream, delay=delay)
        assert stream.getvalue() == "", (tty, delay)


def test_an_error_while_reading_reaches_the_caller_and_clears_the_line() -> None:
    def broken() -> Opened:
        time.sleep(0.05)
        raise heapprof_nb.ProfileFormatError("not a heapprof_nb log")

    stream = Terminal(tty=True)
    with pytest.raises(heapprof_nb.ProfileFormatError):
        cli.read_with_progress(broken, cli.StatusLine(stream, delay=0), label="x", interval=0.01)
    assert stream.getvalue().endswith("\r\x1b[K")


def test_progress_line() -> None:
    assert cli.progress_line("a", 0.5, width=10) == "digesting a [#####-----]  50%"
    assert cli.progress_line("a", 1.0, width=4) == "digesting a [####] 100%"


# -- the CLI stays on the public API while the package is rearranged under it ----------------------


def test_cli_imports_only_public_names() -> None:
    tree = ast.parse(Path(cli.__file__).read_text())
    allowed_modules = {"heapprof_nb._units", "heapprof_nb.recommend"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("heapprof_nb"):
            assert node.level == 0, ast.unparse(node)
            if node.module == "heapprof_nb":
                assert {alias.name for alias in node.names} <= set(heapprof_nb.__all__)
            else:
                assert node.module in allowed_modules, ast.unparse(node)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, ast.unparse(node)


def test_docs_name_every_command_and_option() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        assert f"`{name}`" in docs, name
        options = {s for a in command._actions for s in a.option_strings} - {"-h", "--help"}
        missing = [option for option in options if f"`{option}" not in docs]
        assert missing == [], (name, missing)
