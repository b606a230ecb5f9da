"""Disk full and unwritable places: profiling stops with one warning, the user's code runs on
unharmed, what was written stays readable, and the engine neither retries nor spins.

The full disk is a 1 MiB tmpfs mounted for the test (root only; skipped otherwise) and
``/dev/full``; the unwritable places are a read-only mount, ``/proc`` and, for a user who is
not root, a folder without write permission.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

import heapprof_nb
from reference_decoder import read_log

from conftest import run_python, run_python_profiling


def _mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                       capture_output=True, timeout=30)
    return r.returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def _tmpfs(target: Path, options: str) -> Iterator[Path]:
    """A 1 MB tmpfs mounted at ``target`` for one test (skipped where mounting is not allowed)."""
    if not _mount(target, options):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield target
    finally:
        _umount(target)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    yield from _tmpfs(tmp_path / "small", "size=1m,mode=0700")


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    yield from _tmpfs(tmp_path / "ro", "size=1m,ro")


FILL_AND_WATCH = """
import json, os, time, warnings, heapprof_nb
from heapprof_nb import _native
from reference_decoder import read_log

def syscw():
    with open("/proc/self/io") as f:
        return int(next(l for l in f if l.startswith("syscw")).split()[1])

def user_work(n):
    keep, total = [], 0
    for i in range(n):
        b = bytes(100 + i % 50)
        keep.append(b)
        total += len(b)
        if len(keep) > 1000:
            del keep[:500]
    return total

expected = sum(100 + i % 50 for i in range(200_000))
path = heapprof_nb.start(PATH, rate=1)
got = user_work(200_000)          # several MiB of log at rate=1: the disk fills
time.sleep(0.3)                   # the flush thread's turn
failed_errno = _native.write_errno()
size_at_failure = os.path.getsize(path)
w0, c0 = syscw(), time.process_time()
time.sleep(1.0)                   # still profiling, but the engine must sit still now
idle_writes, idle_cpu = syscw() - w0, time.process_time() - c0
got_more = user_work(50_000)      # the user's code goes on while "profiling"
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    stopped = heapprof_nb.stop()
log = read_log(path)
prof = heapprof_nb.read(path, cache=False)
prof.history(); prof.snapshot_at(prof.peak()[0])
# a new profile elsewhere starts clean: no warning left over from the failed one
with warnings.catch_warnings(record=True) as later:
    warnings.simplefilter("always")
    p2 = heapprof_nb.start(OTHER, rate=4096)
    user_work(1000)
    heapprof_nb.stop()
print(json.dumps(dict(
    ok=got == expected and got_more == sum(100 + i % 50 for i in range(50_000)),
    errno=failed_errno, size=size_at_failure, final_size=os.path.getsize(path),
    idle_writes=idle_writes, idle_cpu=idle_cpu, stopped=stopped == path,
    warnings=[(w.category.__name__, str(w.message)) for w in caught],
    later=[str(w.message) for w in later], truncated=log.truncated, records=log.records,
    bytes_read=log.bytes_read, digest_truncated=prof.truncated,
    digest_records=prof.digest_counters["records"])))
"""


@pytest.mark.timeout(120)
def test_disk_fills_while_profiling(small_disk: Path, tmp_path: Path) -> None:
    code = (f"PATH = {str(small_disk / 'p.hpnb')!r}\nOTHER = {str(tmp_path / 'other.hpnb')!r}\n"
            + FILL_AND_WATCH)
    result = run_python(code, timeout=110)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    print(out)
    assert out["ok"], "the user's code computed something else"
    assert out["errno"] == 28  # ENOSPC
    assert out["size"] > 900_000 and out["final_size"] == out["size"]  # nothing written after
    assert out["idle_writes"] <= 1, "the engine keeps writing after the disk is full"
    assert out["idle_cpu"] < 0.1, "the engine spins after the disk is full"
    assert out["stopped"]
    assert len(out["warnings"]) == 1
    category, message = out["warnings"][0]
    assert category == "RuntimeWarning"
    assert "No space left on device" in message and "profiling stopped" in message
    assert out["later"] == []
    assert out["truncated"] and out["records"] > 10_000
    assert out["digest_truncated"] and out["digest_records"] == out["records"]


@pytest.mark.timeout(60)
def test_disk_full_at_exit_without_stop(small_disk: Path) -> None:
    """The exit handler stops the profile on a full disk: the process still exits with its own
    status, one warning on stderr, no traceback."""
    path = small_disk / "exit.hpnb"
    result = run_python_profiling(path, """
        keep = [bytes(100) for _ in range(300_000)]
        sys.exit(5)
    """, timeout=50)
    assert result.returncode == 5, result.stderr
    assert result.stderr.count("RuntimeWarning") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert read_log(path).truncated


@pytest.mark.timeout(60)
def test_disk_already_full_at_start(small_disk: Path) -> None:
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:  # fill the tmpfs to the last byte
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    with pytest.raises(OSError) as info:
        heapprof_nb.start(small_disk / "p.hpnb")
    assert info.value.errno == 28
    assert not heapprof_nb.is_running()


@pytest.mark.timeout(60)
def test_dev_full() -> None:
    """/dev/full takes the open and refuses the first write (the header): start() fails with
    ENOSPC and nothing is left hooked."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(OSError) as info:
        heapprof_nb.start("/dev/full")
    assert info.value.errno == 28
    assert not heapprof_nb.is_running()
    path = heapprof_nb.start()  # and the next start works
    heapprof_nb.stop()
    os.unlink(path)


@pytest.mark.timeout(60)
def test_read_only_file_system(read_only_disk: Path) -> None:
    """The API's own check (os.access sees the read-only mount) refuses before the engine
    opens anything."""
    with pytest.raises(PermissionError, match="cannot write the profile into"):
        heapprof_nb.start(read_only_disk / "p.hpnb")
    assert not heapprof_nb.is_running()
    assert list(read_only_disk.iterdir()) == []


@pytest.mark.timeout(60)
def test_unwritable_folder_as_another_user() -> None:
    """As a user who may not write there (nobody, when the tests run as root): PermissionError
    before anything is hooked, and the default location still works for that user."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody")
    base = Path(tempfile.mkdtemp(prefix="hpnb-locked-"))
    os.chmod(base, 0o755)
    locked = base / "locked"
    locked.mkdir(mode=0o755)  # root's: nobody may look in, not write
    code = f"""
        import os, json, heapprof_nb
        if os.geteuid() == 0:
            os.setgid(65534); os.setuid(65534)
        try:
            heapprof_nb.start({str(locked / 'p.hpnb')!r})
            outcome = "started"
        except PermissionError as e:
            outcome = "PermissionError: " + str(e)
        running = heapprof_nb.is_running()
        p = heapprof_nb.start()
        heapprof_nb.stop()
        print(json.dumps([outcome, running, os.path.getsize(p) > 16]))
    """
    result = run_python(code, timeout=50, env={"TMPDIR": "/tmp"})
    assert result.returncode == 0, result.stderr
    outcome, running, default_ok = json.loads(result.stdout.strip().splitlines()[-1])
    shutil.rmtree(base)
    assert outcome.startswith("PermissionError: cannot write the profile into"), outcome
    assert running is False and default_ok is True
