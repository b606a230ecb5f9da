"""IPython magics: ``%%heapprof``, ``%heapprof start|stop``, ``%%heapprof_stats``/``%heapprof_stats``.

Loaded by ``%load_ext heapprof_nb`` (``heapprof_nb.load_ipython_extension``). Nothing here runs
at import time but the class definitions; the engine is imported when a magic first needs it, so
a missing build gives one line instead of a traceback.

Every mistake a user can make (unknown options, bad rates, a profile already running, stop
without start, no engine build) prints one line on stderr starting with ``heapprof: error:``.
Exceptions raised by the user's own cell reach the user unchanged, after the partial profile is
saved and shown.
"""

from __future__ import annotations

import ast
import html
import importlib
import keyword
import os
import sys
import threading
import types
from typing import Any, Callable

import IPython.core.magic as _magic
import IPython.core.magic_arguments as _margs
from IPython.core.error import UsageError

from .._format import MAX_FRAMES

# IPython's decorators are untyped; name them as Any once here.
Magics: Any = _magic.Magics
magics_class: Any = _magic.magics_class
line_cell_magic: Any = _magic.line_cell_magic
argument: Any = _margs.argument
magic_arguments: Any = _margs.magic_arguments
parse_argstring: Any = _margs.parse_argstring


def _display(obj: Any) -> None:
    import IPython.display

    shown: Any = IPython.display
    shown.display(obj)


def _html(text: str) -> Any:
    import IPython.display

    shown: Any = IPython.display
    return shown.HTML(text)

__all__ = ["HeapprofMagics", "load_ipython_extension", "unload_ipython_extension", "show_profile",
           "show_stats"]

DEFAULT_NAME = "_heapprof"
PREFIX = "heapprof"


class _Fail(Exception):
    """A user mistake: the message is printed as one line, nothing else happens."""


def _error(message: str) -> None:
    print(f"{PREFIX}: error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"{PREFIX}: {message}")


def _api() -> Any:
    """The library API (imported on first use; the package import already checked the build)."""
    return importlib.import_module("heapprof_nb._api")


def _read_profile(path: str) -> Any:
    from ..digest.profile import read

    return read(path)


# Options shared by %%heapprof and %heapprof start.


def _profile_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    for deco in reversed(
        [
            magic_arguments(),
            argument(
                "action", nargs="?", default=None, choices=("start", "stop", "status"),
                help="Line form only: 'start' profiles every following cell until 'stop'; "
                "nothing (or 'status') says what is being profiled.",
            ),
            argument(
                "--rate", metavar="R", default=None,
                help="Mean bytes between samples, with units (16KiB, 1MiB); 1 records every "
                "allocation exactly; 'auto' uses the last %%%%heapprof_stats recommendation. "
                "Default 32KiB (docs/sampling.md says why).",
            ),
            argument(
                "--sampling", metavar="DICT", default=None,
                help="heapprof's per-size probabilities instead of a rate, e.g. "
                "\"{128: 1e-4, 8192: 0.1}\" (quote it).",
            ),
            argument("--frames", metavar="N", type=int, default=None,
                     help="Deepest stack kept (default 128)."),
            argument("-o", dest="output", metavar="PATH", default=None,
                     help="Write the profile here (default: a new file in this session's "
                     "private folder, heapprof_nb.session_dir())."),
            argument("--live", action="store_true",
                     help="Update the view while the cell runs (needs the interactive view)."),
            argument("--no-view", dest="no_view", action="store_true",
                     help="Show nothing but where the profile was written."),
            argument("--as", dest="name", metavar="NAME", default=None,
                     help=f"Store the Profile in this variable (default {DEFAULT_NAME})."),
            argument("--seed", metavar="N", type=int, default=None,
                     help="Seed of the sampler's random numbers, for repeatable runs."),
        ]
    ):
        func = deco(func)
    return func


def _stats_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    for deco in reversed(
        [
            magic_arguments(),
            argument(
                "--budget", metavar="PCT", default=None,
                help="Overhead the recommended rate may cost, e.g. 3%% (default) or 0.05.",
            ),
            argument(
                "statement", nargs="*",
                help="Line form: the statement to measure (like %%timeit); 'start' and 'stop' "
                "measure every cell in between; nothing shows the last result.",
            ),
        ]
    ):
        func = deco(func)
    return func


def _parse(magic: Callable[..., Any], line: str) -> Any:
    try:
        return parse_argstring(magic, line)
    except UsageError as exc:
        raise _Fail(f"{exc} (see %{magic.__name__}? for the options)") from None
    except SystemExit:  # argparse's own exit on some errors; never end the kernel
        raise _Fail(f"bad options {line!r} (see %{magic.__name__}? for the options)") from None


def _unquote(text: str | None) -> str | None:
    """``"a b"`` -> ``a b``: IPython's argument splitting keeps the quotes of a quoted option."""
    if text is not None and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parse_budget(text: str | None) -> float:
    from ..recommend import parse_budget

    try:
        return parse_budget(None if text is None else (_unquote(text.strip()) or ""))
    except ValueError as exc:
        raise _Fail(str(exc)) from None


class _RssPeak:
    """Highest resident size seen while stats mode runs (a 10 ms poll of /proc/self/statm)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self.start_rss = self._rss()
        self.peak = self.start_rss
        self._thread: threading.Thread | None = None
        if self.start_rss is not None:
            self._thread = threading.Thread(target=self._run, name="heapprof-rss", daemon=True)
            self._thread.start()

    def _rss(self) -> int | None:
        try:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return None

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            rss = self._rss()
            if rss is not None and self.peak is not None and rss > self.peak:
                self.peak = rss

    def growth(self) -> int | None:
        """Bytes the resident size grew by at its highest, or None if unknown."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        rss = self._rss()
        if rss is not None and self.peak is not None and rss > self.peak:
            self.peak = rss
        if self.start_rss is None or self.peak is None:
            return None
        return max(0, self.peak - self.start_rss)


@magics_class
class HeapprofMagics(Magics):  # type: ignore[misc]  # IPython's Magics is untyped
    """The heapprof_nb magics; one instance per shell."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._shell: Any = shell
        self._session: dict[str, Any] | None = None  # the profile running across cells
        self._watcher: Any = None
        self._stats_session: dict[str, Any] | None = None
        self._last_stats: tuple[Any, Any] | None = None  # (SizeHistogram, Recommendation)
        self._raw_cell: str | None = None
        self._quiet: Any = None  # _cells.Bookkeeping, once the engine imports
        shell.events.register("pre_run_cell", self._remember_cell)

    def _remember_cell(self, info: Any = None) -> None:
        raw = getattr(info, "raw_cell", None)
        self._raw_cell = raw if isinstance(raw, str) else None

    # %%heapprof and %heapprof

    @_profile_arguments
    @line_cell_magic  # type: ignore[untyped-decorator]
    def heapprof(self, line: str = "", cell: str | None = None) -> None:
        """Profile the heap of a cell, or of every cell between ``start`` and ``stop``.

        ``%%heapprof [options]`` on the first line of a cell runs the cell under the sampler, then
        shows the memory-over-time plot, the flame graph at the peak and the top allocation sites,
        and stores the Profile in ``_heapprof`` (``--as NAME`` to choose). The cell's output and
        value are as without the magic; if the cell raises, the partial profile is still shown and
        the exception then reaches you unchanged.

        ``%heapprof start [options]`` profiles every following cell (each a band on the plot)
        until ``%heapprof stop``, which shows the result. ``%heapprof`` alone says what runs.

        Profiles are written to this session's private folder (see ``-o``); reopen one with
        ``heapprof_nb.read(path)``.
        """
        __tracebackhide__ = True  # noqa: F841 (IPython hides this frame in tracebacks)
        quiet = self._quiet_while_session()
        try:
            args = _parse(self.heapprof, line)
            if cell is not None:
                if args.action is not None:
                    raise _Fail(f"'{args.action}' is for the line magic %heapprof, not %%heapprof")
                self._profile_cell(args, line, cell)
            elif args.action == "start":
                self._start_across_cells(args)
            elif args.action == "stop":
                self._check_no_options(args, "stop")
                self._stop_across_cells()
            else:
                self._check_no_options(args, "status")
                self._status()
        except _Fail as exc:
            _error(str(exc))
        finally:
            if quiet is not None:
                quiet.end()

    def _quiet_while_session(self) -> Any:
        """While ``%heapprof start`` profiles every cell, a heapprof magic run in a cell is
        bookkeeping (status, stop, refusals: nothing of the user's runs while a profile does):
        begins a section and returns it, else None."""
        quiet = self._quiet
        if self._session is None or quiet is None or not quiet.running():
            return None
        quiet.begin()
        return quiet

    def _bookkeeping(self) -> Any:
        """The Bookkeeping sections of this shell (imports the engine: call before starting)."""
        if self._quiet is None:
            from .cells import Bookkeeping

            self._quiet = Bookkeeping()
        return self._quiet

    @staticmethod
    def _check_no_options(args: Any, action: str) -> None:
        given = [
            flag for flag, value in (
                ("--rate", args.rate), ("--sampling", args.sampling), ("--frames", args.frames),
                ("-o", args.output), ("--as", args.name), ("--seed", args.seed),
                ("--live", args.live or None), ("--no-view", args.no_view or None),
            ) if value is not None
        ]
        if given:
            raise _Fail(f"%heapprof {action} takes no options (got {', '.join(given)})")

    def _start_options(self, args: Any) -> dict[str, Any]:
        from .._units import parse_bytes, parse_sampling

        options: dict[str, Any] = {}
        args.rate, args.sampling = _unquote(args.rate), _unquote(args.sampling)
        if args.rate is not None and args.sampling is not None:
            raise _Fail("give either --rate or --sampling, not both")
        try:
            if args.rate is not None:
                if args.rate.strip().lower() == "auto":
                    if self._last_stats is None:
                        raise _Fail(
                            "--rate auto needs a recommendation: run %%heapprof_stats on a "
                            "representative cell first"
                        )
                    options["rate"] = self._last_stats[1].rate
                else:
                    options["rate"] = parse_bytes(args.rate, what="--rate")
            if args.sampling is not None:
                options["sampling"] = parse_sampling(args.sampling)
        except (TypeError, ValueError) as exc:
            raise _Fail(str(exc)) from None
        if args.frames is not None:
            if not 1 <= args.frames <= MAX_FRAMES:
                raise _Fail(f"--frames must be in 1..{MAX_FRAMES}, got {args.frames}")
            options["max_frames"] = args.frames
        if args.seed is not None:
            options["seed"] = args.seed
        return options

    @staticmethod
    def _target_name(args: Any) -> str:
        name = DEFAULT_NAME if args.name is None else args.name
        if not name.isidentifier() or keyword.iskeyword(name):
            raise _Fail(f"--as {name!r} is not a Python variable name")
        return name

    def _start(self, args: Any, api: Any) -> str:
        """Check everything, then start the engine (``api`` is the ``_api`` module); returns the
        path. (One value: unpacking a pair after the profile started allocates an iterator.)"""
        options = self._start_options(args)
        output = _unquote(args.output)
        if output is not None:
            output = os.path.expanduser(output)
        if api.is_running():
            where = api.current_path()
            how = "%heapprof stop" if self._session is not None else "heapprof_nb.stop()"
            raise _Fail(f"a profile is already running (writing {where}); stop it with {how} first")
        if self._stats_session is not None:
            raise _Fail("%heapprof_stats start is running; end it with %heapprof_stats stop first")
        quiet = self._bookkeeping()
        quiet.begin()  # what start() does once the engine records is not the user's
        try:
            path: str = api.start(output, **options)
        except Exception as exc:  # bad path, bad option values, stats mode running
            raise _Fail(str(exc)) from None
        finally:
            quiet.end()
        return path

    def _count(self) -> int:
        """N of the cell running this magic, as the notebook shows it (``In [N]``)."""
        from .cells import running_count

        return running_count(self._shell)

    def _profile_cell(self, args: Any, line: str, cell: str) -> None:
        __tracebackhide__ = True  # noqa: F841
        from .cells import CellMetaWriter, cell_label

        name = self._target_name(args)
        live = self._live_available(args.live)
        shell = self._shell
        # Everything that is not the cell's own work happens before the engine records, or in
        # a bookkeeping section; the body is compiled here, not while it is being profiled.
        body = _Body(shell, *self._compile_body(line, cell))
        label = cell_label(self._count())
        failure: BaseException | None = None
        writer = live_view = None
        api = _api()
        # If the cell raises, CPython gives this frame a frame object and a traceback entry as
        # the exception passes; make the frame object now, and run the body from here (not via
        # _Body.run), so only the traceback entry (~60 bytes) is made while the profile runs.
        sys._getframe()
        with shell.display_trap:
            path = self._start(args, api)
            quiet = self._quiet
            try:
                quiet.begin()
                try:
                    writer = CellMetaWriter(shell, quiet)
                    live_view = self._show_live_view(api, path) if live else None
                    quiet.mark(1, label)
                finally:
                    quiet.end()
                try:  # the cell, not quiet
                    if body.first is not None:
                        body.first()
                    if body.last is not None:
                        body.last()
                except BaseException as exc:  # the cell's own exception, KeyboardInterrupt too
                    failure = exc
            finally:
                quiet.begin()
                try:
                    if writer is not None:
                        writer.write()
                    quiet.mark(2, label)
                finally:
                    try:
                        path = api.stop()
                    finally:
                        quiet.end()
        try:
            self._finish(path, name, args.no_view, live, interrupted=failure, live_view=live_view)
        except _Fail as exc:
            _error(str(exc))
        if failure is not None:
            raise failure.with_traceback(failure.__traceback__)

    def _compile_body(self, line: str, cell: str, magic: str = "heapprof") -> tuple[str, ast.Module]:
        """The cell body as IPython would compile it, under a cell filename of In [N].

        Line numbers are those of the cell as the user sees it (the ``%%heapprof`` line is
        line 1), so frames read ``In [N], line L`` with L counted in the visible cell.
        """
        from .cells import count_lines, register_source

        shell = self._shell
        raw = self._raw_cell
        offset = 1
        if raw is not None:
            lines = raw.split("\n")
            for i, text in enumerate(lines):
                if text.lstrip().startswith("%%"):
                    offset = i + 1
                    break
            rest = "\n".join(lines[offset:])
            if rest.strip() != cell.strip():
                raw = None  # run_cell_magic was called directly, not from this cell
        if raw is None:
            offset = 1
            raw = f"%%{magic} {line}".rstrip() + "\n" + cell
        transformed = shell.transform_cell(cell)
        # IPython drops leading empty lines of a cell; keep them so line numbers still match.
        missing = len(cell.splitlines()) - len(transformed.splitlines())
        blank = len(cell) - len(cell.lstrip("\n\t "))
        leading = cell[:blank].count("\n")
        transformed = "\n" * max(0, min(missing, leading)) + transformed
        head = raw.split("\n")[:offset]
        code_text = "".join("# " + h.strip() + "\n" if h.strip() else "\n" for h in head)
        code_text += transformed
        count = self._count()
        filename = shell.compile.cache(code_text, count, raw_code=raw)
        register_source(shell, filename, count, raw if count_lines(raw) == count_lines(code_text)
                        else code_text)
        # a SyntaxError here reaches the user as it would without the magic
        tree = shell.compile.ast_parse(code_text, filename=filename)
        tree = shell.transform_ast(tree)
        if tree.body and _ends_with_semicolon(code_text):  # `x;` shows nothing, as without it
            tree.body.append(ast.copy_location(ast.Pass(), tree.body[-1]))
        return filename, tree

    def _live_available(self, wanted: bool) -> bool:
        if not wanted:
            return False
        view_class = _view_class()
        if view_class is None:
            _note("--live needs the interactive view, which is not available yet; "
                  "the result is shown when the cell ends")
            return False
        prepare = getattr(view_class, "prepare", None)
        if prepare is not None:
            prepare()  # its imports before the profile starts, not in it
        return True

    def _show_live_view(self, api: Any, path: str) -> Any:
        """Display a view that follows the log while the cell runs (``--live``), or None."""
        view_class = _view_class()
        if view_class is None:
            return None
        try:  # the view keeps its own allocations out of the profile (quiet sections)
            view = view_class.follow(path)
            _display(view)
        except Exception as exc:  # the cell runs anyway; the result is shown at the end
            _error(f"could not show the live view: {exc}")
            return None
        return view

    def _finish(self, path: str, name: str, no_view: bool, live: bool,
                interrupted: BaseException | None = None, live_view: Any = None) -> None:
        if interrupted is not None:
            _note(f"the cell raised {type(interrupted).__name__}: profiling stopped there; "
                  "the partial profile follows")
        try:
            profile = _read_profile(path)
        except _Fail:
            raise
        except Exception as exc:
            raise _Fail(f"could not read the profile {path}: {exc}") from None
        self._shell.user_ns[name] = profile
        if live_view is not None:
            show_profile(profile, live=live, view=live_view)
        elif not no_view:
            show_profile(profile, live=live)
        _note(f"profile written to {path}; in this session it is {name}, later "
              f"heapprof_nb.read({path!r}) reopens it")

    def _start_across_cells(self, args: Any) -> None:
        from .cells import CellWatcher

        name = self._target_name(args)
        live = self._live_available(args.live)
        count = self._count()
        api = _api()
        path = self._start(args, api)
        quiet = self._quiet
        quiet.begin()  # from here on the profile runs: all of this is bookkeeping
        try:
            live_view = self._show_live_view(api, path) if live else None
            watcher = CellWatcher(self._shell, quiet)
            watcher.begin(count)
            self._watcher = watcher
            self._session = {"path": path, "name": name, "no_view": args.no_view, "live": live,
                             "label": f"In [{count}]", "api": api, "view": live_view}
            _note(f"profiling every cell into {path} until %heapprof stop")
        finally:
            quiet.end()

    def _stop_across_cells(self) -> None:
        session = self._session
        if session is None:
            if _api().is_running():
                raise _Fail("the running profile was started by heapprof_nb.start(); "
                            "stop it with heapprof_nb.stop()")
            raise _Fail("no profile is running; start one with %heapprof start")
        path = self._end_session()
        self._finish(path, session["name"], session["no_view"], session["live"],
                     live_view=session.get("view"))

    def _end_session(self) -> str:
        """Stop the profile running across cells; returns its path."""
        session, watcher = self._session, self._watcher
        assert session is not None
        self._session = self._watcher = None
        api = session["api"]
        quiet = self._bookkeeping()
        quiet.begin()
        try:
            if watcher is not None:
                watcher.end()
        finally:
            try:
                path: str = api.stop() if api.is_running() else session["path"]
            finally:
                quiet.end()
        return path

    def _status(self) -> None:
        if self._session is not None:
            _note(f"profiling every cell since {self._session['label']} into "
                  f"{self._session['path']}; %heapprof stop ends it")
            return
        if self._stats_session is not None:
            _note("measuring allocation sizes since "
                  f"{self._stats_session['label']}; %heapprof_stats stop ends it")
            return
        api = _api()
        if api.is_running():
            _note(f"a profile started by heapprof_nb.start() is running ({api.current_path()})")
        else:
            _note("not profiling; use %%heapprof on a cell, or %heapprof start")

    # %%heapprof_stats and %heapprof_stats

    @_stats_arguments
    @line_cell_magic  # type: ignore[untyped-decorator]
    def heapprof_stats(self, line: str = "", cell: str | None = None) -> None:
        """Measure allocation sizes (no profile) and recommend a sampling rate.

        ``%%heapprof_stats`` runs the cell in stats mode (an exact histogram of allocation sizes,
        cheap), then shows the histogram, the allocation rate, and the finest sampling rate whose
        predicted overhead stays within ``--budget`` (3% by default) with the error it predicts
        for the peak. ``%%heapprof --rate auto`` then uses that rate.

        ``%heapprof_stats <statement>`` does the same for one statement (like ``%timeit``);
        ``%heapprof_stats start`` ... ``%heapprof_stats stop`` for every cell in between;
        ``%heapprof_stats`` alone shows the last result again.
        """
        __tracebackhide__ = True  # noqa: F841
        quiet = self._quiet_while_session()
        try:
            args = _parse(self.heapprof_stats, line)
            budget = _parse_budget(args.budget)
            statement = " ".join(args.statement).strip()
            if cell is not None:
                if statement:
                    raise _Fail("%%heapprof_stats takes options only; the code goes in the cell")
                self._stats_code(cell, budget, cell_mode=True, line=line)
            elif statement == "start":
                self._stats_start(budget)
            elif statement == "stop":
                self._stats_stop()
            elif statement:
                self._stats_code(self._statement_text(line), budget, cell_mode=False, line=line)
            else:
                if self._last_stats is None:
                    raise _Fail("no stats yet: run %%heapprof_stats on a cell first")
                if args.budget is not None:
                    self._recommend_again(budget)
                show_stats(*self._last_stats)
        except _Fail as exc:
            _error(str(exc))
        finally:
            if quiet is not None:
                quiet.end()

    @staticmethod
    def _statement_text(line: str) -> str:
        """The statement of the line form, as typed (options removed, quoting untouched)."""
        text = line.strip()
        while text.startswith("--budget"):
            rest = text[len("--budget"):]
            if rest.startswith("="):
                parts = rest[1:].split(None, 1)
            else:
                parts = rest.split(None, 1)
            text = parts[1].strip() if len(parts) == 2 else ""
        return text

    def _recommend_again(self, budget: float) -> None:
        from ..recommend import recommend

        assert self._last_stats is not None
        hist, old = self._last_stats
        self._last_stats = (hist, recommend(hist, budget, peak_bytes=old.peak_bytes))

    def _stats_begin(self) -> tuple[Any, _RssPeak]:
        api = _api()
        if self._session is not None or api.is_running():
            raise _Fail("a profile is running; stats mode cannot run beside it "
                        "(stop it first: %heapprof stop or heapprof_nb.stop())")
        if self._stats_session is not None:
            raise _Fail("%heapprof_stats start is already running; %heapprof_stats stop ends it")
        try:
            api.gather_stats()
        except Exception as exc:
            raise _Fail(str(exc)) from None
        return api, _RssPeak()

    def _stats_end(self, api: Any, rss: _RssPeak, budget: float) -> None:
        from ..recommend import recommend

        hist = api.stop_stats()
        growth = rss.growth()
        rec = recommend(hist, budget, peak_bytes=growth or None)
        self._last_stats = (hist, rec)

    def _stats_code(self, code: str, budget: float, *, cell_mode: bool, line: str) -> None:
        __tracebackhide__ = True  # noqa: F841
        if cell_mode:
            filename, tree = self._compile_body(line, code, "heapprof_stats")
        else:
            filename, tree = self._compile_statement(code)
        body = _Body(self._shell, filename, tree, show_value=cell_mode)  # compiled, not measured
        failure: BaseException | None = None
        with self._shell.display_trap:
            api, rss = self._stats_begin()
            try:
                body.run()
            except BaseException as exc:
                failure = exc
            finally:
                self._stats_end(api, rss, budget)
        if failure is not None:
            _note(f"the code raised {type(failure).__name__}; the statistics cover what ran")
        assert self._last_stats is not None
        show_stats(*self._last_stats)
        if failure is not None:
            raise failure.with_traceback(failure.__traceback__)

    def _compile_statement(self, code: str) -> tuple[str, ast.Module]:
        shell = self._shell
        transformed = shell.transform_cell(code)
        filename = shell.compile.cache(transformed, self._count(), raw_code="%heapprof_stats " + code)
        tree = shell.compile.ast_parse(transformed, filename=filename)
        return filename, shell.transform_ast(tree)

    def _stats_start(self, budget: float) -> None:
        api, rss = self._stats_begin()
        self._stats_session = {"api": api, "rss": rss, "budget": budget,
                               "label": f"In [{self._count()}]"}
        _note("measuring allocation sizes in every cell until %heapprof_stats stop")

    def _stats_stop(self) -> None:
        session = self._stats_session
        if session is None:
            raise _Fail("%heapprof_stats start is not running; nothing to stop")
        self._stats_session = None
        self._stats_end(session["api"], session["rss"], session["budget"])
        assert self._last_stats is not None
        show_stats(*self._last_stats)

    # unloading

    def close(self) -> None:
        """Stop whatever runs, remove the callbacks (``%unload_ext``)."""
        try:
            self._shell.events.unregister("pre_run_cell", self._remember_cell)
        except ValueError:
            pass
        if self._session is not None:
            path = self._end_session()
            _note(f"stopped the running profile; it is in {path}")
        if self._stats_session is not None:
            session, self._stats_session = self._stats_session, None
            session["api"].stop_stats()
            session["rss"].growth()


class _Body:
    """A cell body compiled before profiling starts, run like IPython runs a cell: the value of
    a last expression goes to the display hook (unless ``show_value`` is False, as for the line
    form of a magic, like ``%timeit``).

    The code runs as functions made here: ``exec()`` would make a function object in our frame
    while the cell runs, a site of ours in the cell's profile. (``exec`` only when the shell's
    local and global namespaces differ, as in an embedded shell.) Run it inside
    ``shell.display_trap``.
    """

    __slots__ = ("first", "last")

    def __init__(self, shell: Any, filename: str, tree: ast.Module, show_value: bool = True):
        body = list(tree.body)
        last: list[ast.stmt] = []
        if show_value and body and isinstance(body[-1], ast.Expr):
            body, last = body[:-1], body[-1:]
        compiler = shell.compile  # in this order: a __future__ import in body applies to last
        self.first = _runnable(shell, compiler(ast.Module(body, []), filename, "exec")) \
            if body else None
        self.last = _runnable(shell, compiler(ast.Interactive(last), filename, "single")) \
            if last else None

    def run(self) -> None:
        __tracebackhide__ = True  # noqa: F841
        if self.first is not None:
            self.first()
        if self.last is not None:
            self.last()


def _runnable(shell: Any, code: types.CodeType) -> Callable[[], Any]:
    user_globals, user_ns = shell.user_global_ns, shell.user_ns
    if user_ns is user_globals:
        # module-level code run as a function gets its globals as its locals, as exec(code, g, g)
        return types.FunctionType(code, user_globals)
    return lambda: exec(code, user_globals, user_ns)


def _ends_with_semicolon(code: str) -> bool:
    from IPython.core.displayhook import DisplayHook

    hook: Any = DisplayHook
    try:
        return bool(hook.semicolon_at_end_of_expression(code))
    except Exception:  # tokenizer errors: the compiler has already accepted the code
        return False


def _view_class() -> Any:
    """The interactive view (``ProfileView``) when it and ipywidgets are available, else None."""
    for module in ("heapprof_nb.notebook.view",):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        view = getattr(mod, "ProfileView", None)
        if view is not None and getattr(mod, "available", lambda: True)():
            return view
    return None


# Display: what the magics show. The interactive view replaces show_profile's body later.


def show_profile(profile: Any, live: bool = False, view: Any = None) -> None:
    """Show a finished profile: the interactive view (``heapprof_nb.notebook.view.ProfileView``) when
    ipywidgets is there, else the history plot, the flame graph of the peak and the top sites.

    ``view`` is a live view already shown (``--live``): it is finished with ``profile``.
    """
    view_class = _view_class()
    if view is not None:
        try:
            view.finish(profile)
            return
        except Exception as exc:  # a broken view must not hide the result
            _error(f"could not finish the live view: {exc}; a static view follows")
    elif view_class is not None:
        try:
            shown = view_class(profile)
        except Exception as exc:
            _error(f"could not build the interactive view: {exc}; a static view follows")
        else:
            _display(shown)
            return
    from ..views import plot

    try:
        fig = plot.history_figure(profile)
    except Exception as exc:  # a plot must never hide the rest of the result
        _error(f"could not draw the memory plot: {exc}")
    else:
        _display(_image(fig))
    peak_time = _peak_time(profile)
    if peak_time is None:
        _note("the profile recorded no allocations")
        return
    snapshot = profile.snapshot_at(peak_time)
    try:
        _display(_html(snapshot.flame_html()))
    except Exception as exc:
        _error(f"could not draw the flame graph: {exc}")
    _display(_html(sites_table_html(snapshot)))


def _image(fig: Any) -> Any:
    import IPython.display

    from ..views.plot import figure_png

    shown: Any = IPython.display
    return shown.Image(data=figure_png(fig), format="png")


def _peak_time(profile: Any) -> float | None:
    """When the estimated live heap was largest, or None if nothing was ever live."""
    t, nbytes = profile.peak()
    return float(t) if nbytes > 0 else None


def sites_table_html(snapshot: Any, n: int = 10) -> str:
    """The top ``n`` allocation sites of a snapshot as an HTML table (with the cell's line):
    the view's table, with the view's stylesheet for it, for a notebook without widgets."""
    import uuid

    from ..views.frames import visible_snapshot
    from ..views.table import sites_table
    from .view_html import static_css

    sid = "hpnb-static-" + uuid.uuid4().hex[:12]
    return (f"<div class='{sid}'>" + static_css(sid) + sites_table(visible_snapshot(snapshot), n)
            + "</div>")


def show_stats(hist: Any, rec: Any) -> None:
    """Show a stats-mode result: size histogram (table and chart), rates, the recommendation."""
    from ..views import plot
    from .._units import format_bytes

    _display(_html(histogram_table_html(hist)))
    try:
        _display(_image(plot.size_histogram_figure(hist)))
    except Exception as exc:
        _error(f"could not draw the size histogram: {exc}")
    rate = (
        f"{hist.total_count:,} allocations, {format_bytes(hist.total_bytes)} in {hist.seconds:.3g} s"
        f": {hist.allocations_per_second:,.0f} allocations/s, "
        f"{format_bytes(hist.bytes_per_second)}/s"
    )
    advice = f"Recommended: %%heapprof --rate {rec.rate_text}. {rec.reason}"
    _display(_html(f"<div class='heapprof-advice'><p>{html.escape(rate)}</p>"
                 f"<p><b>{html.escape(advice)}</b></p></div>"))


def histogram_table_html(hist: Any) -> str:
    """The size histogram as an HTML table: size range, count, bytes and their shares."""
    from .._units import format_bytes

    count_total = hist.total_count or 1
    bytes_total = hist.total_bytes or 1
    rows = "".join(
        "<tr>"
        f"<td style='text-align:right'>{low:,} – {high:,}</td>"
        f"<td style='text-align:right'>{count:,}</td>"
        f"<td style='text-align:right'>{count / count_total:.1%}</td>"
        f"<td style='text-align:right'>{html.escape(format_bytes(size))}</td>"
        f"<td style='text-align:right'>{size / bytes_total:.1%}</td>"
        "</tr>"
        for low, high, count, size in hist.rows()
    )
    return (
        "<div class='heapprof-histogram'><b>Allocation sizes</b><table><tr><th>size (bytes)</th>"
        "<th>count</th><th>% count</th><th>bytes</th><th>% bytes</th></tr>"
        f"{rows}<tr><td><b>total</b></td><td style='text-align:right'>{hist.total_count:,}</td>"
        f"<td></td><td style='text-align:right'>{html.escape(format_bytes(hist.total_bytes))}"
        "</td><td></td></tr></table></div>"
    )


# Loading and unloading


_loaded: dict[int, HeapprofMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext heapprof_nb``: register the magics (once per shell)."""
    if id(ipython) in _loaded:
        return
    magics = HeapprofMagics(ipython)
    ipython.register_magics(magics)
    _loaded[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext heapprof_nb``: stop any running profile and remove the magics."""
    magics = _loaded.pop(id(ipython), None)
    if magics is None:
        return
    try:
        magics.close()
    finally:
        manager = ipython.magics_manager
        for kind in ("line", "cell"):
            table = manager.magics[kind]
            for name in ("heapprof", "heapprof_stats"):
                func = table.get(name)
                if getattr(func, "__self__", None) is magics:
                    del table[name]
        if manager.registry.get(type(magics).__name__) is magics:
            del manager.registry[type(magics).__name__]
