"""Bad input to the library API: a clear error, raised before anything is hooked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import heapprof_nb
from heapprof_nb import ProfilerStateError, _native


@pytest.mark.parametrize(
    "rate, error, words",
    [
        (0, ValueError, "positive"),
        (-5, ValueError, "positive"),
        ("abc", ValueError, "not a size"),
        ("64 parsecs", ValueError, "not a size"),
        ("0KiB", ValueError, "positive"),
        (1.5, ValueError, "whole"),
        (float("nan"), ValueError, "whole"),
        (True, TypeError, "bool"),
        ([64], TypeError, "list"),
        (2**70, ValueError, "at most"),
    ],
)
def test_bad_rate(tmp_path: Path, rate: object, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        heapprof_nb.start(tmp_path / "p.hpnb", rate=rate)  # type: ignore[arg-type]
    assert not heapprof_nb.is_running()
    assert not (tmp_path / "p.hpnb").exists()


@pytest.mark.parametrize(
    "sampling, error, words",
    [
        ({}, ValueError, "at least one"),
        ({128: 0}, ValueError, r"\(0, 1\]"),
        ({128: 1.5}, ValueError, r"\(0, 1\]"),
        ({128: "x"}, TypeError, "number"),
        ({-1: 0.5}, ValueError, "positive"),
        ("{128: ", ValueError, "not a table"),
        ("__import__('os')", ValueError, "not a table"),
        ([1, 2], TypeError, "dict"),
    ],
)
def test_bad_sampling(tmp_path: Path, sampling: object, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        heapprof_nb.start(tmp_path / "p.hpnb", sampling=sampling)  # type: ignore[arg-type]
    assert not heapprof_nb.is_running()


def test_rate_and_sampling_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either rate or sampling"):
        heapprof_nb.start(tmp_path / "p.hpnb", rate=4096, sampling={128: 0.1})


@pytest.mark.parametrize("frames", [0, -1, 5000])
def test_bad_max_frames(tmp_path: Path, frames: int) -> None:
    with pytest.raises(ValueError, match="max_frames"):
        heapprof_nb.start(tmp_path / "p.hpnb", max_frames=frames)


def test_bad_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="seed"):
        heapprof_nb.start(tmp_path / "p.hpnb", seed=-1)
    monkeypatch.setenv("HEAPPROF_NB_SEED", "twelve")
    with pytest.raises(ValueError, match="HEAPPROF_NB_SEED"):
        heapprof_nb.start(tmp_path / "p.hpnb")


def test_path_errors(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="directory"):
        heapprof_nb.start(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        heapprof_nb.start(tmp_path / "missing" / "p.hpnb")
    with pytest.raises(TypeError, match="path"):
        heapprof_nb.start(42)  # type: ignore[arg-type]
    assert not heapprof_nb.is_running()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match="permission denied"):
        heapprof_nb.start(locked / "p.hpnb")


def test_unwritable_folder_even_as_root(tmp_path: Path) -> None:
    # /proc is read-only for everyone, root included: the engine's open() fails cleanly.
    with pytest.raises(OSError):
        heapprof_nb.start("/proc/heapprof_nb_test.hpnb")
    assert not heapprof_nb.is_running()


def test_state_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfilerStateError, match="no profile is running"):
        heapprof_nb.stop()
    with pytest.raises(ProfilerStateError, match="no profile is running"):
        heapprof_nb.mark("x")
    path = heapprof_nb.start(tmp_path / "a.hpnb")
    try:
        with pytest.raises(ProfilerStateError, match="already running"):
            heapprof_nb.start(tmp_path / "b.hpnb")
        with pytest.raises(ProfilerStateError, match="profile is running"):
            heapprof_nb.gather_stats()
        with pytest.raises(TypeError, match="label"):
            heapprof_nb.mark(3)  # type: ignore[arg-type]
    finally:
        assert heapprof_nb.stop() == path
    with pytest.raises(ProfilerStateError, match="stats mode is not running"):
        heapprof_nb.stop_stats()
    heapprof_nb.gather_stats()
    try:
        with pytest.raises(ProfilerStateError, match="stats mode is running"):
            heapprof_nb.start(tmp_path / "c.hpnb")
    finally:
        heapprof_nb.stop_stats()


def test_default_path_is_private() -> None:
    path = heapprof_nb.start()
    try:
        assert path.startswith(heapprof_nb.session_dir())
    finally:
        heapprof_nb.stop()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(heapprof_nb.session_dir()).st_mode & 0o777 == 0o700


def test_existing_file_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "p.hpnb"
    target.write_bytes(b"old contents")
    heapprof_nb.start(target)
    heapprof_nb.stop()
    assert target.read_bytes().startswith(b"HPNBLOG\0")


def test_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "p.hpnb"
    link.symlink_to(victim)
    with pytest.raises(OSError):
        heapprof_nb.start(link)
    assert victim.read_text() == "keep me"
    assert not _native.is_running()
