"""The command line, ``python -m heapprof_nb COMMAND`` (every command in docs/cli.md).

Two commands run code: ``run`` profiles a script or module into a log, ``stats`` prints its
exact allocation-size histogram. The others read a log: ``summary`` (alias ``show``),
``table``, ``flamegraph``, ``export`` and ``diff``. They all show one snapshot of the log,
chosen the same way: live at the peak unless ``--at``, ``--from``/``--to`` or ``--measure``
say otherwise.

This module uses only the public API (``heapprof_nb.read``, ``Profile``, ``Window``,
``Snapshot``), ``heapprof_nb._units`` and, for ``stats``, ``heapprof_nb.recommend`` (the
rate advice has no name at the package's top yet), so the package can be rearranged under it.
Errors
are one sentence on stderr and an exit status: 2 for a command line that asks for something
impossible, 1 for a log that cannot be read or an output that cannot be written.
"""

from __future__ import annotations

import argparse
import math
import os
import runpy
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, Literal, NoReturn, Protocol, Sequence, TextIO, TypeVar, Union

import heapprof_nb
from heapprof_nb import Profile, Snapshot, Statistic
from heapprof_nb._units import format_bytes

__all__ = ["main"]

PROG = "python -m heapprof_nb"

#: ``--measure`` name -> (``Window`` attribute, what it shows).
MEASURES: dict[str, tuple[str, str]] = {
    "live": ("live_at_end", "live at the moment (default: the peak), or at the end of the span"),
    "kept": ("allocated_kept", "allocated in the span and still live at its end"),
    "temporary": ("allocated_freed", "allocated and freed inside the span"),
    "growth": ("growth", "live at the end of the span minus live at its start, per site"),
}

#: ``--by`` name -> the ``Snapshot.statistics`` key.
GROUPINGS: dict[str, Literal["lineno", "function"]] = {"line": "lineno", "function": "function"}

#: ``export --format`` name -> the default file suffix (replacing ``.hpnb``).
EXPORT_SUFFIXES: dict[str, str] = {
    "collapsed": ".collapsed.txt",
    "speedscope": ".speedscope.json",
    "pprof": ".pb.gz",
}

FLAME_SUFFIX = ".flame.html"
STDOUT = "-"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: A moment in a log: seconds from its start, or a name resolved against the profile.
Moment = Union[float, Literal["start", "peak", "end"]]
_NAMED_MOMENTS = ("start", "peak", "end")


class CliError(Exception):
    """A failure reported as one sentence and an exit status, never a traceback."""

    status = EXIT_FAILED


class UsageError(CliError):
    """The command line asks for something impossible (unknown option, a time outside the log)."""

    status = EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one sentence (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# -- times and selections ------------------------------------------------------------------------


def parse_moment(text: str) -> Moment:
    """``2.5``, ``2.5s``, ``1500ms``, ``start``, ``peak`` or ``end``."""
    word = text.strip().lower()
    if word in _NAMED_MOMENTS:
        return word  # type: ignore[return-value]
    scale = 1.0
    if word.endswith("ms"):
        word, scale = word[:-2], 1e-3
    elif word.endswith("s"):
        word = word[:-1]
    try:
        seconds = float(word) * scale
    except ValueError:
        seconds = -1.0  # not a number: refused below with the negative ones
    if not (math.isfinite(seconds) and seconds >= 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: give seconds from the start of the run (2.5, 2.5s, "
            "1500ms), start, peak or end"
        )
    return seconds


@dataclass(frozen=True)
class Selection:
    """Which snapshot of a log a command shows: a moment (live then) or a span and a measure."""

    measure: str = "live"
    at: Moment | None = None
    start: Moment | None = None
    end: Moment | None = None

    def check(self) -> None:
        """Reject combinations that name no snapshot, before any log is read."""
        if self.at is not None and (self.start is not None or self.end is not None):
            raise UsageError("--at picks a moment and --from/--to a span: give one or the other")
        if self.at is not None and self.measure != "live":
            raise UsageError(
                f"--measure {self.measure} needs a span: give --from/--to instead of --at"
            )


def parse_span(text: str) -> Selection:
    """A ``diff --before/--after`` value: ``T`` (live at T) or ``T0:T1`` (a span)."""
    if ":" not in text:
        return Selection(at=parse_moment(text))
    first, _, second = text.partition(":")
    return Selection(
        start=parse_moment(first) if first else None,
        end=parse_moment(second) if second else None,
    )


def resolve(profile: Profile, moment: Moment, option: str) -> float:
    """Seconds from the start for ``moment``, checked to lie inside the profile."""
    if moment == "start":
        return 0.0
    if moment == "peak":
        return profile.peak()[0]
    duration = profile.duration
    if moment == "end":
        return duration
    assert isinstance(moment, float)
    if moment > duration:
        raise UsageError(
            f"{option} {moment:g} s is outside the profile, which runs from 0 to {duration:.6g} s"
        )
    return moment


def select(profile: Profile, selection: Selection, *, option: str = "") -> Snapshot:
    """The snapshot ``selection`` names, its title saying what it is."""
    at_option, from_option, to_option = (option or "--at", option or "--from", option or "--to")
    if selection.start is None and selection.end is None:
        if selection.measure == "live":
            moment = "peak" if selection.at is None else selection.at
            t = resolve(profile, moment, at_option)
            moment_snapshot = profile.snapshot_at(t)
            moment_snapshot.title = (
                f"live at the peak, {t:.3f} s" if moment == "peak" else f"live at {t:.3f} s")
            return moment_snapshot
        t0, t1 = 0.0, profile.duration  # another measure with no span: the whole run
    else:
        t0 = resolve(profile, "start" if selection.start is None else selection.start, from_option)
        t1 = resolve(profile, "end" if selection.end is None else selection.end, to_option)
        if t0 > t1:
            raise UsageError(f"the span starts at {t0:.6g} s, after its end at {t1:.6g} s")
    attribute = MEASURES[selection.measure][0]
    snapshot: Snapshot = getattr(profile.window(t0, t1), attribute)
    return snapshot


def describe(snapshot: Snapshot) -> str:
    """``live at the peak, 1.2 s: 18.5 MiB ± 578.2 KiB``."""
    return f"{snapshot.title}: {format_bytes(snapshot.total)} ± {format_bytes(snapshot.error)}"


# -- reading a log, with a progress bar on long digests ----------------------------------------


class Progressing(Protocol):
    """What the progress bar needs of ``Profile.digest``."""

    @property
    def progress(self) -> float: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class HasDigest(Protocol):
    @property
    def digest(self) -> Progressing: ...


Opened = TypeVar("Opened", bound=HasDigest)


class StatusLine:
    """One line of status on a terminal, drawn only once ``delay`` seconds have passed (a quick
    command never flickers) and never into a pipe or a file."""

    def __init__(self, stream: TextIO, delay: float = 0.5) -> None:
        self.stream = stream
        self.delay = delay
        self.started = time.monotonic()
        self.enabled = stream.isatty()
        self.drawn = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def show(self, text: str) -> None:
        if self.enabled and self.elapsed >= self.delay:
            self.stream.write(f"\r{text}\x1b[K")
            self.stream.flush()
            self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def read_with_progress(
    open_log: Callable[[], Opened], status: StatusLine, *, label: str, interval: float = 0.1
) -> Opened:
    """``open_log()`` in a thread while ``status`` counts the seconds, then the digest's progress.

    ``heapprof_nb.read(..., wait=False)`` returns once the digest has read the log's header,
    which for a finished log is after its first pass over the whole file: only the time can be
    shown until then.
    """
    outcome: list[Opened | BaseException] = []

    def run() -> None:
        try:
            outcome.append(open_log())
        except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
            outcome.append(exc)

    worker = threading.Thread(target=run, name="heapprof_nb-cli-read", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(interval)
            status.show(f"reading {label}: {status.elapsed:.1f} s")
        opened = outcome[0]
        if isinstance(opened, BaseException):
            raise opened
        while not opened.digest.wait(interval):
            status.show(progress_line(label, opened.digest.progress))
    finally:
        status.clear()
    return opened


def progress_line(label: str, fraction: float, width: int = 30) -> str:
    """``digesting run.hpnb [#########---------------------]  31%``."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return f"digesting {label} [{'#' * filled}{'-' * (width - filled)}] {fraction:4.0%}"


def open_profile(path: str, stderr: TextIO) -> Profile:
    """Read and digest the log at ``path``; a truncated log gets a note, a bad one a CliError."""
    try:
        profile = read_with_progress(
            lambda: heapprof_nb.read(path, wait=False, follow=False), StatusLine(stderr),
            label=os.path.basename(path))
    except heapprof_nb.ProfileFormatError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(_os_error(exc, path)) from None
    if profile.truncated:
        print(f"heapprof_nb: note: {path} ends without its trailer (the run did not stop "
              f"cleanly); showing what it recorded, up to {profile.duration:.6g} s",
              file=stderr)
    return profile


def _os_error(exc: OSError, path: str) -> str:
    reason = exc.strerror or str(exc)
    name = str(exc.filename or path)
    return reason if name in reason else f"{reason}: {name}"


# -- writing outputs ------------------------------------------------------------------------------


def default_output(log_path: str, suffix: str) -> str:
    """``run.hpnb`` -> ``run<suffix>``, next to the log."""
    root, extension = os.path.splitext(log_path)
    return (root if extension == ".hpnb" else log_path) + suffix


def check_writable(path: str, log_path: str) -> None:
    """Fail before the digest if ``path`` cannot be created, or is the log itself."""
    if path == STDOUT:
        return
    if os.path.exists(path) and os.path.samefile(path, log_path):
        raise CliError(f"cannot write {path}: it is the log being read")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"cannot write {path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise CliError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise CliError(f"cannot write {path}: the folder {folder} is not writable")


def write_output(path: str, writer: Callable[[str], object], stdout: TextIO) -> None:
    """Run ``writer(file_path)``; for ``-`` through a private temporary file copied to stdout."""
    try:
        if path != STDOUT:
            writer(path)
            return
        with tempfile.TemporaryDirectory(prefix="heapprof_nb-") as folder:
            temporary = os.path.join(folder, "output")
            writer(temporary)
            stdout.flush()
            with open(temporary, "rb") as source:
                shutil.copyfileobj(source, stdout.buffer)
            stdout.buffer.flush()
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_text(text: str) -> Callable[[str], object]:
    def write(path: str) -> None:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)

    return write


# -- the commands that read a log ----------------------------------------------------------------


@dataclass(frozen=True)
class Streams:
    stdout: TextIO
    stderr: TextIO


def _selection(args: argparse.Namespace) -> Selection:
    selection = Selection(measure=args.measure, at=args.at, start=args.start, end=args.end)
    selection.check()
    return selection


def _check_top(top: int) -> None:
    if top < 1:
        raise UsageError(f"--top must be at least 1, not {top}")


@dataclass(frozen=True)
class SiteQuery:
    """Which sites a command prints: how many, grouped how, with or without the machinery."""

    top: int
    key: Literal["lineno", "function"]
    all_frames: bool = False

    def statistics(self, snapshot: Snapshot) -> list[Statistic]:
        return snapshot.statistics(self.key, all_frames=self.all_frames)


def site_query(args: argparse.Namespace) -> SiteQuery:
    _check_top(args.top)
    return SiteQuery(args.top, GROUPINGS[args.by], args.all_frames)


def cmd_summary(args: argparse.Namespace, io: Streams) -> int:
    selection, query = _selection(args), site_query(args)
    profile = open_profile(args.log, io.stderr)
    snapshot = select(profile, selection)
    print_summary(profile, args.log, io.stdout)
    print_sites(snapshot, query, io.stdout)
    return EXIT_OK


def print_summary(profile: Profile, path: str, out: TextIO) -> None:
    t_peak, peak = profile.peak()
    peak_error = profile.snapshot_at(t_peak).error
    end = profile.snapshot_at(profile.duration)
    state = "complete" if profile.complete else "cut short (no trailer)"
    print(f"{path}: {profile.duration:.3f} s, {state}", file=out)
    print(f"  Python {profile.python_version}, pid {profile.pid}, {_sampling(profile)}", file=out)
    recorded = profile.digest_counters
    dropped = (profile.counters or {}).get("dropped", 0)
    print(f"  {recorded['allocs']:,} allocations and {recorded['frees']:,} frees recorded"
          + (f", {dropped:,} dropped" if dropped else ""), file=out)
    print(f"  peak {format_bytes(peak)} ± {format_bytes(peak_error)} at {t_peak:.3f} s", file=out)
    print(f"  live at the end {format_bytes(end.total)} ± {format_bytes(end.error)}", file=out)


def _sampling(profile: Profile) -> str:
    if profile.mode == 2:
        return "every allocation recorded (exact)"
    if profile.mode == 1:
        return "sampled with per-size probabilities"
    return f"sampled every {format_bytes(profile.rate)} on average"


def print_sites(snapshot: Snapshot, query: SiteQuery, out: TextIO) -> None:
    """The ``query.top`` largest sites of ``snapshot``: bytes, error, share of the total, site."""
    stats, total, top = query.statistics(snapshot), snapshot.total, query.top
    print(f"top {min(top, len(stats))} of {len(stats)} sites, {describe(snapshot)}", file=out)
    for stat in stats[:top]:
        share = stat.bytes / total * 100 if total else 0.0
        print(f"  {format_bytes(stat.bytes):>11} ± {format_bytes(stat.error):<10} {share:5.1f}%  "
              f"{site_label(stat.key)}", file=out)


def site_label(key: tuple[heapprof_nb.Frame, ...]) -> str:
    """A site's frame label; grouped by function (line 0), without the line."""
    if not key:
        return "<no Python frame>"
    frame = key[0]
    if frame.line == 0:
        return f"{frame.function} ({frame.cell or frame.filename})"
    return frame.label


def cmd_table(args: argparse.Namespace, io: Streams) -> int:
    selection, query = _selection(args), site_query(args)
    print_table(select(open_profile(args.log, io.stderr), selection), query, io.stdout)
    return EXIT_OK


def print_table(snapshot: Snapshot, query: SiteQuery, out: TextIO) -> None:
    """pprof ``-top``-like rows: bytes, error, share, cumulative share, blocks, site."""
    stats, total, top = query.statistics(snapshot), snapshot.total, query.top
    print(describe(snapshot), file=out)
    print(f"{'bytes':>11} {'± error':>11} {'share':>6} {'cum':>6} {'blocks':>10}  site", file=out)
    running = 0.0
    for stat in stats[:top]:
        running += stat.bytes
        share, cum = (stat.bytes / total * 100, running / total * 100) if total else (0.0, 0.0)
        print(f"{format_bytes(stat.bytes):>11} {format_bytes(stat.error):>11} {share:5.1f}% "
              f"{cum:5.1f}% {stat.objects:>10,.0f}  {site_label(stat.key)}", file=out)
    rest = stats[top:]
    if rest:
        rest_bytes = sum(s.bytes for s in rest)
        sites = "site" if len(rest) == 1 else "sites"
        print(f"({len(rest)} more {sites}, {format_bytes(rest_bytes)}; --top shows more)", file=out)


def cmd_flamegraph(args: argparse.Namespace, io: Streams) -> int:
    selection = _selection(args)
    output = args.output or default_output(args.log, FLAME_SUFFIX)
    check_writable(output, args.log)
    profile = open_profile(args.log, io.stderr)
    snapshot = select(profile, selection)
    title = args.title or f"{os.path.basename(args.log)}: {snapshot.title}"
    write_output(output, lambda path: snapshot.write_flame_html(
        path, title=title, all_frames=args.all_frames), io.stdout)
    _wrote(output, snapshot, io)
    return EXIT_OK


def cmd_export(args: argparse.Namespace, io: Streams) -> int:
    selection = _selection(args)
    output = args.output or default_output(args.log, EXPORT_SUFFIXES[args.format])
    check_writable(output, args.log)
    profile = open_profile(args.log, io.stderr)
    snapshot = select(profile, selection)
    writer: Callable[[str], object]
    if args.format == "collapsed":
        writer = _write_text(snapshot.collapsed(all_frames=args.all_frames))
    elif args.format == "speedscope":
        writer = _write_text(snapshot.speedscope_json(all_frames=args.all_frames))
    else:
        def writer(path: str) -> object:
            return snapshot.write_pprof(path, all_frames=args.all_frames)
    write_output(output, writer, io.stdout)
    _wrote(output, snapshot, io)
    return EXIT_OK


def _wrote(output: str, snapshot: Snapshot, io: Streams) -> None:
    where = "stdout" if output == STDOUT else output
    print(f"wrote {where}: {describe(snapshot)}", file=io.stderr)


def cmd_diff(args: argparse.Namespace, io: Streams) -> int:
    query = site_query(args)
    logs: list[str] = args.logs
    if len(logs) > 2:
        raise UsageError(f"diff compares two logs or two parts of one log, not {len(logs)} logs")
    if len(logs) == 1 and (args.before is None or args.after is None):
        raise UsageError("diff of one log needs --before and --after (e.g. --before 1.5 "
                         "--after end), or give two logs")
    before = _diff_side(args.before, args.measure, "--before")
    after = _diff_side(args.after, args.measure, "--after")
    profile_a = open_profile(logs[0], io.stderr)
    profile_b = profile_a if len(logs) == 1 else open_profile(logs[-1], io.stderr)
    snapshot_a = select(profile_a, before, option="--before")
    snapshot_b = select(profile_b, after, option="--after")
    print_diff(snapshot_a, snapshot_b, (logs[0], logs[-1]), query, io.stdout)
    return EXIT_OK


def _diff_side(spec: Selection | None, measure: str, option: str) -> Selection:
    side = Selection(measure=measure) if spec is None else Selection(
        measure=measure, at=spec.at, start=spec.start, end=spec.end)
    if side.at is not None and measure != "live":
        raise UsageError(f"--measure {measure} needs a span: give {option} as T0:T1")
    return side


def print_diff(
    before: Snapshot,
    after: Snapshot,
    logs: tuple[str, str],
    query: SiteQuery,
    out: TextIO,
) -> None:
    """The sites that grew and shrank from ``before`` to ``after``, with their sampling error."""
    errors = {s.key: s.error**2 for s in query.statistics(before)}
    for stat in query.statistics(after):
        errors[stat.key] = errors.get(stat.key, 0.0) + stat.error**2
    change = after.total - before.total
    change_error = (before.error**2 + after.error**2) ** 0.5
    print(f"before: {logs[0]}, {describe(before)}", file=out)
    print(f"after:  {logs[1]}, {describe(after)}", file=out)
    print(f"change: {signed_bytes(change)} ± {format_bytes(change_error)}", file=out)
    diffs = [d for d in after.compare_to(before, query.key, all_frames=query.all_frames) if d.bytes_diff != 0]
    grew = [d for d in diffs if d.bytes_diff > 0]
    shrank = [d for d in diffs if d.bytes_diff < 0]
    for heading, rows in (("grew", grew), ("shrank", shrank)):
        print(f"{heading}: {len(rows)} {'site' if len(rows) == 1 else 'sites'}", file=out)
        for d in rows[:query.top]:
            error = errors.get(d.key, 0.0) ** 0.5
            was = d.bytes - d.bytes_diff
            print(f"  {signed_bytes(d.bytes_diff):>12} ± {format_bytes(error):<10} "
                  f"{format_bytes(was):>10} -> {format_bytes(d.bytes):<10}  {site_label(d.key)}",
                  file=out)


def signed_bytes(n: float) -> str:
    """``+1.5 MiB`` / ``-1.5 MiB``."""
    return ("+" if n > 0 else "") + format_bytes(n)


# -- the commands that run code ------------------------------------------------------------------


def _runner(args: argparse.Namespace) -> Callable[[], None]:
    """A function that runs the user's script or module as ``__main__``, argv set."""
    target = list(args.target)
    if target and target[0] == "--":
        target = target[1:]
    if args.module:
        module = args.module
        sys.argv = [module] + target

        def run_module() -> None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)

        return run_module
    if not target:
        raise UsageError("give the script to run after --, e.g. -- script.py args")
    script = target[0]
    if not os.path.isfile(script):
        raise UsageError(f"no such script: {script}")
    sys.argv = target
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))

    def run_script() -> None:
        runpy.run_path(script, run_name="__main__")

    return run_script


def _exit_status(runner: Callable[[], None]) -> int:
    """Run the user's code; its ``sys.exit`` status becomes ours."""
    try:
        runner()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return 1
    return 0


def cmd_run(args: argparse.Namespace, io: Streams) -> int:
    options: dict[str, object] = {}
    if args.rate is not None:
        options["rate"] = args.rate
    if args.sampling is not None:
        options["sampling"] = args.sampling
    if args.frames is not None:
        options["max_frames"] = args.frames
    if args.seed is not None:
        options["seed"] = args.seed
    runner = _runner(args)
    try:
        path = heapprof_nb.start(args.output, **options)  # type: ignore[arg-type]
    except (ValueError, TypeError, heapprof_nb.HeapprofError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write the profile: {_os_error(exc, args.output or '')}") from None
    try:
        return _exit_status(runner)
    finally:
        if heapprof_nb.is_running():
            heapprof_nb.stop()
        print(f"heapprof_nb: profile written to {path}\n"
              f"  look at it with: {PROG} summary {path}", file=io.stderr)


def cmd_stats(args: argparse.Namespace, io: Streams) -> int:
    # The recommendation has no name at the package top yet; the stats magic uses it the same way.
    from heapprof_nb.recommend import parse_budget, recommend

    try:
        budget = parse_budget(args.budget)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    runner = _runner(args)
    heapprof_nb.gather_stats()
    try:
        return _exit_status(runner)
    finally:
        histogram = heapprof_nb.stop_stats()
        print(histogram, file=io.stderr)
        advice = recommend(histogram, budget)
        print(f"recommended: --rate {advice.rate_text}. {advice.reason}", file=io.stderr)


# -- the parser ----------------------------------------------------------------------------------

_EPILOG = f"""commands that read a log show one snapshot of it: live at the peak by default
(--at, --from/--to and --measure choose another). Exit status: 0 done, 1 a log could not be
read or an output written, 2 a bad command line; run and stats exit with the script's status.

examples:
  {PROG} run -o run.hpnb -- script.py arg1 arg2
  {PROG} summary run.hpnb
  {PROG} table run.hpnb --top 20
  {PROG} flamegraph run.hpnb -o peak.html
  {PROG} export run.hpnb --format pprof
  {PROG} diff before.hpnb after.hpnb
  {PROG} diff run.hpnb --before 2 --after end
  {PROG} stats -- script.py

docs/cli.md has every option."""

_SELECTION_HELP = """\
Live at the peak by default. --at T: live at T. --from/--to: a span, shown by
--measure (live at its end by default); another --measure with no span covers
the whole run. Times: seconds from the start (2.5, 2.5s, 1500ms), start, peak
or end."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="A sampling heap profiler for CPython.",
                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(commands)
    _add_stats(commands)
    _sites_command(commands, "summary", cmd_summary, top=10, aliases=["show"],
                   help="the profile's facts (duration, peak, sampling) and its top sites",
                   examples=["run.hpnb", "run.hpnb --top 5 --at end"])
    _sites_command(commands, "table", cmd_table, top=25,
                   help="the largest allocation sites of a snapshot, like pprof -top",
                   examples=["run.hpnb", "run.hpnb --by function --top 50",
                             "run.hpnb --from 1 --to 2 --measure temporary"])
    flame = _command(commands, "flamegraph", cmd_flamegraph,
                     help="write a snapshot as a self-contained HTML flame graph",
                     examples=["run.hpnb", "run.hpnb -o peak.html", "run.hpnb --at end -o leak.html"])
    _log_argument(flame)
    _selection_arguments(flame)
    flame.add_argument("-o", "--output", metavar="PATH",
                       help=f"the HTML file (default: the log's name with {FLAME_SUFFIX}, next to "
                       "it; - for stdout)")
    flame.add_argument("--title", help="the title over the graph (default: the log and snapshot)")
    export = _command(commands, "export", cmd_export,
                      help="write a snapshot as folded stacks, speedscope JSON or gzipped pprof",
                      examples=["run.hpnb --format collapsed -o - | flamegraph.pl > peak.svg",
                                "run.hpnb --format speedscope", "run.hpnb --format pprof --at end"])
    _log_argument(export)
    export.add_argument("--format", required=True, choices=sorted(EXPORT_SUFFIXES),
                        help="collapsed: Brendan Gregg's folded stacks, bytes as counts; "
                        "speedscope: a speedscope.app file; pprof: for go tool pprof")
    _selection_arguments(export)
    export.add_argument("-o", "--output", metavar="PATH",
                        help="the file (default: the log's name with .collapsed.txt, "
                        ".speedscope.json or .pb.gz, next to it; - for stdout)")
    diff = _command(commands, "diff", cmd_diff,
                    help="the sites that grew and shrank between two logs or two parts of one",
                    examples=["before.hpnb after.hpnb", "run.hpnb --before 2 --after end",
                              "run.hpnb --before 0:2 --after 2:end --measure temporary"])
    diff.add_argument("logs", nargs="+", metavar="LOG",
                      help="one log (then give --before and --after) or two (before, after)")
    for option, side in (("--before", "first"), ("--after", "second")):
        diff.add_argument(option, type=parse_span, metavar="WHEN",
                          help=f"the {side} snapshot: T (live at T: a time, peak or end) or "
                          "T0:T1 (a span, shown by --measure); default: the log's peak")
    diff.add_argument("--measure", choices=list(MEASURES), default="live",
                      help="what a span shows (default live: live at its end)")
    _top_argument(diff, 10)
    _by_argument(diff)
    _all_frames_argument(diff)
    return parser


def _command(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    handler: Callable[[argparse.Namespace, Streams], int],
    *,
    help: str,  # noqa: A002 - argparse's word
    examples: Sequence[str] = (),
    aliases: Sequence[str] = (),
) -> argparse.ArgumentParser:
    lines = "\n".join(f"  {PROG} {name} {example}" for example in examples)
    parser: argparse.ArgumentParser = commands.add_parser(
        name, aliases=list(aliases), help=help, description=help[0].upper() + help[1:] + ".",
        epilog=f"examples:\n{lines}" if lines else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def _sites_command(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    handler: Callable[[argparse.Namespace, Streams], int],
    *,
    top: int,
    help: str,  # noqa: A002 - argparse's word
    examples: Sequence[str],
    aliases: Sequence[str] = (),
) -> None:
    """A command that prints the top sites of one snapshot of a log."""
    parser = _command(commands, name, handler, help=help, examples=examples, aliases=aliases)
    _log_argument(parser)
    _selection_arguments(parser)
    _top_argument(parser, top)
    _by_argument(parser)


def _log_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", metavar="LOG", help="a profile written by heapprof_nb (.hpnb)")


def _selection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("snapshot", _SELECTION_HELP)
    group.add_argument("--measure", choices=list(MEASURES), default="live",
                       help="; ".join(f"{name}: {text}" for name, (_, text) in MEASURES.items()))
    group.add_argument("--at", type=parse_moment, metavar="T", help="live at time T")
    group.add_argument("--from", dest="start", type=parse_moment, metavar="T0",
                       help="the span's start (default: start)")
    group.add_argument("--to", dest="end", type=parse_moment, metavar="T1",
                       help="the span's end (default: end)")
    _all_frames_argument(parser)


def _all_frames_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all-frames", action="store_true",
                        help="show every frame, also the machinery hidden by default (IPython, "
                        "ipykernel, asyncio, importlib, runpy, heapprof_nb)")


def _top_argument(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument("--top", type=int, default=default, metavar="N",
                        help=f"how many sites (default {default})")


def _by_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", choices=list(GROUPINGS), default="line",
                        help="group sites by allocating line (default) or function")


def _add_run(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = _command(commands, "run", cmd_run, help="profile a script or module into a log file",
                   examples=["-o out.hpnb -- script.py arg1 arg2", "--rate 16KiB -m package.module"])
    run.add_argument("-o", "--output", metavar="PATH",
                     help="the profile file (default: a new file in a private temp folder)")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--rate", metavar="R",
                       help="mean bytes between samples, e.g. 64KiB; 1 records everything")
    group.add_argument("--sampling", metavar="DICT",
                       help="heapprof per-size probabilities, e.g. '{128: 1e-4, 8192: 0.1}'")
    run.add_argument("--frames", type=int, default=None, metavar="N",
                     help="stack depth limit (default 128)")
    run.add_argument("--seed", type=int, default=None, metavar="N",
                     help="make the sampling repeatable")
    _target_arguments(run)


def _add_stats(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stats = _command(commands, "stats", cmd_stats,
                     help="print the exact allocation-size histogram of a run and a recommended rate",
                     examples=["-- script.py", "--budget 1% -- script.py"])
    stats.add_argument("--budget", metavar="PCT", default=None,
                       help="overhead the recommended rate may cost, e.g. 3%% (default) or 0.05")
    _target_arguments(stats)


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", dest="module", metavar="MODULE", help="run a module, like python -m")
    parser.add_argument("target", nargs=argparse.REMAINDER, help="-- script.py [args...]")


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run one command; return its exit status (errors are one line on stderr)."""
    io = Streams(stdout or sys.stdout, stderr or sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(io.stderr)
            return EXIT_USAGE
        status: int = args.handler(args, io)
        return status
    except CliError as exc:
        print(f"heapprof_nb: {exc}", file=io.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("heapprof_nb: interrupted", file=io.stderr)
        return EXIT_INTERRUPTED
