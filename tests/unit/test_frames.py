"""The frame policy (heapprof_nb.views.frames) on hand-made stacks: what it hides, what it keeps,
and that every view and Snapshot.statistics follow it unless all_frames=True."""

from __future__ import annotations

from heapprof_nb.digest.model import Frame, Snapshot, StackStat
from heapprof_nb.views import frames

SITE = "/venv/lib/python3.11/site-packages"
LAUNCH = Frame(f"{SITE}/ipykernel_launcher.py", "<module>", 18)
TRAITS = Frame(f"{SITE}/traitlets/config/application.py", "launch_instance", 1080)
LOOP = Frame("/usr/lib/python3.11/asyncio/base_events.py", "_run_once", 1922)
TORNADO = Frame(f"{SITE}/tornado/platform/asyncio.py", "start", 203)
DISPATCH = Frame(f"{SITE}/ipykernel/kernelbase.py", "dispatch_shell", 508)
RUN_CELL = Frame(f"{SITE}/IPython/core/interactiveshell.py", "run_cell", 3000)
MAGIC = Frame(f"{SITE}/heapprof_nb/notebook/magics.py", "heapprof", 400)
CELL_LINE = Frame("/tmp/ipykernel_1/a.py", "<module>", 1, "In [3]", "%%heapprof")
BODY = Frame("/tmp/ipykernel_1/b.py", "<module>", 2, "In [3]", "import helper")
IMPORT = Frame("<frozen importlib._bootstrap>", "_call_with_frames_removed", 241)
HELPER = Frame("/home/u/helper.py", "<module>", 1)
DISPLAY = Frame(f"{SITE}/IPython/core/display_functions.py", "display", 298)
NUMPY = Frame(f"{SITE}/numpy/core/numeric.py", "ones", 191)
RUNPY = Frame("<frozen runpy>", "_run_code", 88)

KERNEL = (RUN_CELL, DISPATCH, LOOP, TORNADO, TRAITS, LAUNCH)  # leaf first, like a stack's tail


def test_a_cell_stack_starts_at_the_cell_and_loses_the_machinery() -> None:
    stack = (HELPER, IMPORT, IMPORT, BODY, MAGIC, CELL_LINE, *KERNEL)
    assert frames.visible_stack(stack) == (HELPER, BODY)


def test_libraries_the_cell_calls_stay_and_machinery_it_calls_goes() -> None:
    assert frames.visible_stack((NUMPY, BODY, *KERNEL)) == (NUMPY, BODY)
    # an allocation inside IPython's display counts at the cell line that called it
    assert frames.visible_stack((DISPLAY, BODY, *KERNEL)) == (BODY,)


def test_without_a_cell_only_the_machinery_goes() -> None:
    script = Frame("/home/u/script.py", "<module>", 4)
    assert frames.visible_stack((NUMPY, script, MAGIC, RUNPY)) == (NUMPY, script)
    unchanged = (NUMPY, script)
    assert frames.visible_stack(unchanged) is unchanged


def test_a_stack_of_machinery_only_is_hidden_frames() -> None:
    assert frames.visible_stack(KERNEL) == (frames.HIDDEN_FRAME,)
    assert frames.HIDDEN_FRAME.label == "<hidden frames>"
    assert frames.visible_stack(()) == ()


def test_the_policy_is_idempotent() -> None:
    for stack in ((HELPER, IMPORT, BODY, MAGIC, CELL_LINE, *KERNEL), KERNEL, (NUMPY, BODY)):
        once = frames.visible_stack(stack)
        assert frames.visible_stack(once) == once


def test_equal_stacks_merge_and_bytes_stay() -> None:
    snap = Snapshot([
        StackStat((HELPER, IMPORT, BODY, *KERNEL), 100.0, 1.0, 1, 4.0),
        StackStat((HELPER, IMPORT, IMPORT, BODY, MAGIC, CELL_LINE, *KERNEL), 50.0, 2.0, 1, 1.0),
        StackStat(KERNEL, 7.0, 1.0, 1, 0.0),
    ])
    shown = frames.visible_snapshot(snap)
    assert {e.stack: (e.bytes, e.objects, e.samples, e.variance) for e in shown.entries} == {
        (HELPER, BODY): (150.0, 3.0, 2, 5.0),
        (frames.HIDDEN_FRAME,): (7.0, 1.0, 1, 0.0),
    }
    assert shown.total == snap.total and shown.error == snap.error
    assert frames.shown(snap, True) is snap


def test_every_view_follows_the_policy_unless_all_frames() -> None:
    snap = Snapshot([StackStat((HELPER, IMPORT, BODY, MAGIC, CELL_LINE, *KERNEL), 1000.0, 1.0, 1)])
    hidden = ("IPython/", "ipykernel/", "tornado/", "asyncio/", "importlib", "heapprof_nb/")
    views = {
        "collapsed": snap.collapsed,
        "speedscope": snap.speedscope_json,
        "flame": snap.flame_html,
        "statistics": lambda **kw: repr(snap.statistics("traceback", **kw)),
    }
    for name, render in views.items():
        default, everything = render(), render(all_frames=True)
        assert not [h for h in hidden if h in default], name
        assert "helper.py" in default, name
        assert all(h in everything for h in hidden), name
    assert [s.label for s in snap.top(1)] == ["<module> (/home/u/helper.py:1)"]
    assert snap.top(1, all_frames=True)[0].key == (HELPER,)


def test_the_policy_names_frames_as_the_views_do() -> None:
    assert frames.label(BODY) == "In [3], line 2"
    assert frames.short_name(BODY) == "In [3], line 2"
    assert frames.short_name(NUMPY) == "ones"
    assert frames.kind(BODY) == frames.KIND_CELL
    assert frames.kind(NUMPY) == frames.KIND_LIB
    assert frames.kind(HELPER) == frames.KIND_USER
    assert frames.kind(frames.NO_FRAME) == frames.KIND_OTHER
