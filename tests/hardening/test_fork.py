"""fork while profiling: from a thread other than the main one, under allocation load, with and
without exec, and multiprocessing (fork and spawn) under ``%%heapprof``.

The engine's choice (docs/hardening.md): a forked child stops profiling at once (its allocations
are not the parent's), never writes to the parent's file, keeps our hooks only as forwarders and
may start a profile of its own into a file of its own. The parent goes on profiling into its file.
tests/engine/test_runtime.py::test_fork_child_stops_parent_continues covers the plain case (one
fork from the main thread); these extend it. Every run is a subprocess with a timeout, and
faulthandler prints all stacks if a process hangs. (Not in a test whose child exits through
sys.exit: CPython 3.11's faulthandler watchdog is not fork-safe, and a forked child that
finalizes waits forever for the parent's watchdog thread, with or without heapprof_nb.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_python

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

BYTES_OVERHEAD = sys.getsizeof(b"xx") - 2

COMMON = """
import faulthandler, json, os, sys, threading, time
import heapprof_nb
from reference_decoder import read_log
faulthandler.dump_traceback_later(100, exit=True)
def sizes(path):
    log = read_log(path)
    return log, {log.size[i] - 33 for i in range(len(log.kind)) if log.kind[i] == 0}
def churn(stop):
    keep = []
    while not stop.is_set():
        keep.append(bytes(700))
        keep.append([1] * 30)
        if len(keep) > 300:
            del keep[:200]
"""


@pytest.mark.timeout(180)
def test_forks_from_a_worker_thread_while_threads_allocate(tmp_path: Path) -> None:
    """20 forks from a non-main thread while 4 threads allocate at every-allocation rate: each
    child allocates through the orphaned hooks, profiles itself into its own file and exits; the
    parent's file stays whole and holds none of the children's allocations."""
    code = COMMON + f"""
TMP = {str(tmp_path)!r}
stop = threading.Event()
workers = [threading.Thread(target=churn, args=(stop,)) for _ in range(4)]
for t in workers: t.start()
parent = heapprof_nb.start(TMP + "/parent.hpnb", rate=1)
statuses = []
def forker():
    for k in range(20):
        before = [bytes(1111) for _ in range(20)]
        pid = os.fork()
        if pid == 0:
            ok = not heapprof_nb.is_running()
            junk = [bytes(2222) for _ in range(200)]          # through the orphaned hooks
            heapprof_nb.start(TMP + f"/child{{k}}.hpnb", rate=1)
            mine = [bytes(3333) for _ in range(10)]
            heapprof_nb.stop()
            os._exit(0 if ok else 7)
        _, st = os.waitpid(pid, 0)
        statuses.append(os.waitstatus_to_exitcode(st))
f = threading.Thread(target=forker)
f.start(); f.join()
after = [bytes(4444) for _ in range(50)]
heapprof_nb.stop()
stop.set()
for t in workers: t.join()
log, parent_sizes = sizes(parent)
child_ok = 0
for k in range(20):
    clog, csizes = sizes(TMP + f"/child{{k}}.hpnb")
    child_ok += (not clog.truncated) and 3333 in csizes and 2222 not in csizes and 1111 not in csizes
faulthandler.cancel_dump_traceback_later()
print(json.dumps(dict(statuses=statuses, truncated=log.truncated, child_ok=child_ok,
    parent=[s in parent_sizes for s in (1111, 2222, 3333, 4444)])))
"""
    result = run_python(code, timeout=170)
    assert result.returncode == 0, result.stderr[-5000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["statuses"] == [0] * 20
    assert out["truncated"] is False
    assert out["child_ok"] == 20
    assert out["parent"] == [True, False, False, True]


@pytest.mark.timeout(120)
def test_fork_then_exec_while_profiling(tmp_path: Path) -> None:
    """fork+exec (os.fork then os.execv, and subprocess, whose child execs at once): the new
    program starts clean and may profile itself; the parent's file is unharmed."""
    code = COMMON + f"""
import subprocess
TMP = {str(tmp_path)!r}
parent = heapprof_nb.start(TMP + "/parent.hpnb", rate=1)
child_code = (
    "import heapprof_nb, sys\\n"
    "assert not heapprof_nb.is_running()\\n"
    "heapprof_nb.start(sys.argv[1], rate=1)\\n"
    "x = [bytes(3333) for _ in range(10)]\\n"
    "heapprof_nb.stop()\\n")
before = [bytes(1111) for _ in range(20)]
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-c", child_code, TMP + "/execv.hpnb"])
_, st = os.waitpid(pid, 0)
r = subprocess.run([sys.executable, "-c", child_code, TMP + "/popen.hpnb"], timeout=60)
after = [bytes(4444) for _ in range(20)]
heapprof_nb.stop()
log, parent_sizes = sizes(parent)
_, s1 = sizes(TMP + "/execv.hpnb")
_, s2 = sizes(TMP + "/popen.hpnb")
faulthandler.cancel_dump_traceback_later()
print(json.dumps(dict(execv=os.waitstatus_to_exitcode(st), popen=r.returncode,
    truncated=log.truncated, parent=[1111 in parent_sizes, 4444 in parent_sizes, 3333 in parent_sizes],
    children=[3333 in s1, 3333 in s2])))
"""
    result = run_python(code, timeout=110)
    assert result.returncode == 0, result.stderr[-5000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"execv": 0, "popen": 0, "truncated": False, "parent": [True, True, False],
                   "children": [True, True]}


@pytest.mark.timeout(120)
def test_child_that_never_stops_and_dies_leaves_parent_file_whole(tmp_path: Path) -> None:
    """A child that starts its own profile and is killed, and a child that exits through the
    normal interpreter exit (atexit handlers run in the child): the parent's file stays whole
    and the children's files are theirs."""
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        # Under the ASan build (make sanitize) the child forked from the threaded parent hung
        # before signalling in 2 of 5 runs with a second job loading the machine, never in the
        # plain build; suspected: libasan's allocator lock held by another thread across fork()
        # (PYTHONMALLOC=malloc sends every allocation through it). Not yet diagnosed.
        pytest.skip("the forked child can hang inside the ASan runtime (see the comment)")
    code = COMMON.replace("faulthandler.dump_traceback_later(100, exit=True)", "") + f"""
import signal
TMP = {str(tmp_path)!r}
parent = heapprof_nb.start(TMP + "/parent.hpnb", rate=1)
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    heapprof_nb.start(TMP + "/killed_child.hpnb", rate=1)
    junk = [bytes(2222) for _ in range(100)]
    # Killed only once the flush thread has written these (a fixed sleep raced it under ASan).
    def flushed():
        try:
            return 2222 in sizes(TMP + "/killed_child.hpnb")[1]
        except Exception:  # not written far enough to read yet
            return False
    deadline = time.monotonic() + 60
    while not flushed() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.write(ready_w, b"x")
    time.sleep(60)
    os._exit(0)
os.close(ready_w)
assert os.read(ready_r, 1) == b"x"
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
pid = os.fork()
if pid == 0:
    junk = [bytes(2222) for _ in range(100)]
    sys.exit(0)       # atexit runs in the child: it must not stop the parent's profile
_, st = os.waitpid(pid, 0)
after = [bytes(4444) for _ in range(20)]
heapprof_nb.stop()
log, parent_sizes = sizes(parent)
clog, csizes = sizes(TMP + "/killed_child.hpnb")
print(json.dumps(dict(exit=os.waitstatus_to_exitcode(st), truncated=log.truncated,
    trailer=log.trailer is not None, parent=[2222 in parent_sizes, 4444 in parent_sizes],
    child=[clog.truncated, 2222 in csizes])))
"""
    result = run_python(code, timeout=110)
    assert result.returncode == 0, result.stderr[-5000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"exit": 0, "truncated": False, "trailer": True, "parent": [False, True],
                   "child": [True, True]}


WORKER_MODULE = """
def work(n):
    keep = [bytes(5555) for _ in range(n)]
    return sum(len(b) for b in keep)
"""


@pytest.mark.timeout(240)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_under_cell_magic(tmp_path: Path, method: str) -> None:
    """multiprocessing.Pool with the fork and the spawn start method inside a ``%%heapprof``
    cell of a real IPython shell: the pool's results are right, the cell's profile is complete
    and holds the parent's allocations, not the workers'."""
    pytest.importorskip("IPython")
    (tmp_path / "hp_mp_worker.py").write_text(WORKER_MODULE)
    out_path = tmp_path / "cell.hpnb"
    cell = (
        f"%%heapprof --no-view -o {out_path} --rate 1\n"
        "import multiprocessing as mp, hp_mp_worker\n"
        f"ctx = mp.get_context({method!r})\n"
        "with ctx.Pool(2) as pool:\n"
        "    results = pool.map(hp_mp_worker.work, [100] * 8)\n"
        "mine = [bytes(6666) for _ in range(30)]\n"
    )
    code = f"""
import faulthandler, json, sys
faulthandler.dump_traceback_later(200, exit=True)
sys.path.insert(0, {str(tmp_path)!r})
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config
config = Config()
config.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=config)
with capture_output() as cap:
    shell.run_cell("%load_ext heapprof_nb")
    r = shell.run_cell({cell!r}, store_history=True)
import heapprof_nb
from reference_decoder import read_log
log = read_log({str(out_path)!r})
sizes = {{log.size[i] - 33 for i in range(len(log.kind)) if log.kind[i] == 0}}
prof = shell.user_ns.get("_heapprof")
faulthandler.cancel_dump_traceback_later()
print(json.dumps(dict(success=r.success, results=shell.user_ns.get("results"),
    truncated=log.truncated, running=heapprof_nb.is_running(),
    parent=6666 in sizes, workers=5555 in sizes, profile=prof is not None and prof.complete,
    stderr=cap.stderr[-2000:])))
"""
    result = run_python(code, timeout=230, env={"PYTHONPATH": os.pathsep.join(
        [str(tmp_path)] + [p for p in [os.environ.get("PYTHONPATH")] if p])})
    assert result.returncode == 0, result.stderr[-5000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["success"], out["stderr"]
    assert out["results"] == [100 * 5555] * 8
    assert out["truncated"] is False and out["running"] is False and out["profile"] is True
    assert out["parent"] is True
    assert out["workers"] is False


@pytest.mark.timeout(60)
def test_fork_during_stats_mode(tmp_path: Path) -> None:
    """Stats mode is forked like a profile: the child is not counting, may count or profile on
    its own, and the parent's histogram goes on."""
    code = COMMON + f"""
heapprof_nb.gather_stats()
x = [bytes(100) for _ in range(1000)]
pid = os.fork()
if pid == 0:
    ok = not heapprof_nb._native.stats_running()
    heapprof_nb.gather_stats(); y = [bytes(10) for _ in range(100)]; heapprof_nb.stop_stats()
    heapprof_nb.start({str(tmp_path / 'child.hpnb')!r}, rate=1); z = [bytes(3333) for _ in range(5)]
    heapprof_nb.stop()
    os._exit(0 if ok else 7)
_, st = os.waitpid(pid, 0)
more = [bytes(100) for _ in range(1000)]
h = heapprof_nb.stop_stats()
_, csizes = sizes({str(tmp_path / 'child.hpnb')!r})
faulthandler.cancel_dump_traceback_later()
print(json.dumps([os.waitstatus_to_exitcode(st), sum(h.counts) >= 2000, 3333 in csizes]))
"""
    result = run_forking_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, True, True]


# GCC 12's libasan takes no lock of its allocator around fork (LLVM's does since 17): about one
# child in 40 forked under the ASan pass hangs inside ASan's malloc, on a lock the parent held
# at fork time (gdb: the child's flush thread in __asan::Allocator). Under ASan only, a hung run
# is retried; a wrong answer is never retried, and without ASan a hang fails at once.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def run_forking_python(code: str) -> subprocess.CompletedProcess[str]:
    attempts = 3 if UNDER_ASAN else 1
    for _ in range(attempts - 1):
        try:
            return run_python(code, timeout=50 / attempts)
        except subprocess.TimeoutExpired:
            continue
    return run_python(code, timeout=50 / attempts)
