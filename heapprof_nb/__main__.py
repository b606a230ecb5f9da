"""The command line: ``python -m heapprof_nb run|stats|show``."""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from typing import Callable, Sequence

__all__ = ["main"]

_EPILOG = """examples:
  python -m heapprof_nb run -o out.hpnb -- script.py arg1 arg2
  python -m heapprof_nb run --rate 16KiB -m package.module
  python -m heapprof_nb stats -- script.py
  python -m heapprof_nb stats --budget 1% -- script.py
  python -m heapprof_nb show out.hpnb
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m heapprof_nb",
        description="A sampling heap profiler for CPython.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="profile a script or module into a log file")
    run.add_argument("-o", "--output", metavar="PATH", help="the profile file (default: a new file in a private temp folder)")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--rate", metavar="R", help="mean bytes between samples, e.g. 64KiB; 1 records everything")
    group.add_argument("--sampling", metavar="DICT", help="heapprof per-size probabilities, e.g. '{128: 1e-4, 8192: 0.1}'")
    run.add_argument("--frames", type=int, default=None, metavar="N", help="stack depth limit (default 128)")
    run.add_argument("--seed", type=int, default=None, metavar="N", help="make the sampling repeatable")
    _target_arguments(run)
    stats = commands.add_parser(
        "stats", help="print the exact allocation-size histogram of a run and a recommended rate")
    stats.add_argument("--budget", metavar="PCT", default=None,
                       help="overhead the recommended rate may cost, e.g. 3%% (default) or 0.05")
    _target_arguments(stats)
    show = commands.add_parser("show", help="summarise a profile file: peak and top sites")
    show.add_argument("path", help="a profile written by heapprof_nb")
    show.add_argument("--top", type=int, default=10, metavar="N", help="how many sites (default 10)")
    return parser


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", dest="module", metavar="MODULE", help="run a module, like python -m")
    parser.add_argument("target", nargs=argparse.REMAINDER, help="-- script.py [args...]")


def _runner(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Callable[[], None]:
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
        parser.error("give the script to run after --, e.g. -- script.py args")
    script = target[0]
    if not os.path.isfile(script):
        parser.error(f"no such script: {script}")
    sys.argv = target
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))

    def run_script() -> None:
        runpy.run_path(script, run_name="__main__")

    return run_script


def _run_profiled(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import heapprof_nb

    options: dict[str, object] = {}
    if args.rate is not None:
        options["rate"] = args.rate
    if args.sampling is not None:
        options["sampling"] = args.sampling
    if args.frames is not None:
        options["max_frames"] = args.frames
    if args.seed is not None:
        options["seed"] = args.seed
    runner = _runner(args, parser)
    try:
        path = heapprof_nb.start(args.output, **options)  # type: ignore[arg-type]
    except (ValueError, TypeError, OSError, heapprof_nb.HeapprofError) as exc:
        parser.error(str(exc))
    code = 0
    try:
        runner()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        if heapprof_nb.is_running():
            heapprof_nb.stop()
        print(f"heapprof_nb: profile written to {path}\n"
              f"  open it with: python -m heapprof_nb show {path}", file=sys.stderr)
    return code


def _run_stats(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import heapprof_nb
    from .recommend import parse_budget, recommend

    try:
        budget = parse_budget(args.budget)
    except ValueError as exc:
        parser.error(str(exc))
    runner = _runner(args, parser)
    heapprof_nb.gather_stats()
    code = 0
    try:
        runner()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        histogram = heapprof_nb.stop_stats()
        print(histogram, file=sys.stderr)
        advice = recommend(histogram, budget)
        print(f"recommended: --rate {advice.rate_text}. {advice.reason}", file=sys.stderr)
    return code


def _show(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import heapprof_nb
    from ._units import format_bytes

    if args.top < 1:
        parser.error("--top must be at least 1")
    try:
        prof = heapprof_nb.read(args.path)
    except (OSError, heapprof_nb.ProfileFormatError) as exc:
        parser.error(str(exc))
    t, peak = prof.peak()
    snapshot = prof.snapshot_at(t)
    print(f"{args.path}: {prof.duration:.3f} s, peak {format_bytes(peak)} "
          f"± {format_bytes(snapshot.error)} at {t:.3f} s"
          + (" (file cut short: the run did not stop cleanly)" if prof.truncated else ""))
    print(f"top {args.top} allocation sites at the peak:")
    for stat in snapshot.top(args.top):
        share = stat.bytes / peak * 100 if peak else 0.0
        print(f"  {format_bytes(stat.bytes):>11} {share:5.1f}%  {stat.label}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "run":
        return _run_profiled(args, parser)
    if args.command == "stats":
        return _run_stats(args, parser)
    return _show(args, parser)


if __name__ == "__main__":
    sys.exit(main())
