"""atheris harness for the Python-level readers: ``reader.read_log``, ``LogFollower``, the C digest
through ``heapprof_nb._digest`` and, every few inputs, ``heapprof_nb.read`` on a file.

    PYTHONPATH=. python3 fuzz/fuzz_reader.py [libFuzzer flags] CORPUS_DIR...

One input is one log file. What must hold for any input:

- every reader either returns or raises ``ProfileFormatError`` (anything else is a finding);
- ``read_log`` of the whole input and a ``LogFollower`` fed it in two slices agree;
- the reference reader and the C digest agree: both reject, or both accept the same number of
  records, bytes, allocations, FREEs and anomalies, and agree on truncation;
- ``heapprof_nb.read`` (the digest thread) and its views work on what was accepted.

Memory is capped with RLIMIT_AS (``HPNB_FUZZ_AS_MB``, default 4096), so an unbounded allocation
is a MemoryError, which is a finding too. Python is not built with ASan here: C memory errors
are the business of fuzz/fuzz_digest.c; this harness checks behaviour.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile

import atheris

# The pure-Python reference decoder lives with the tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

with atheris.instrument_imports():
    import reference_decoder as reader
    from heapprof_nb.errors import ProfileFormatError

from heapprof_nb import _digest  # noqa: E402  (C: not instrumented)

READ_EVERY = int(os.environ.get("HPNB_FUZZ_READ_EVERY", "25"))
_count = 0
_tmpdir = tempfile.mkdtemp(prefix="hpnb-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
_tmpfile = os.path.join(_tmpdir, "input.hpnb")


def _set_limits() -> None:
    mb = int(os.environ.get("HPNB_FUZZ_AS_MB", "4096"))
    limit = mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _reference(data: bytes, strict: bool = False) -> reader.RawLog | None:
    try:
        return reader.read_log(data, strict=strict)
    except ProfileFormatError:
        return None


def _follower(data: bytes, cut: int) -> reader.RawLog | None:
    f = reader.LogFollower()
    try:
        f.feed(data[:cut])
        f.feed(data[cut:])
        return f.finish()
    except ProfileFormatError:
        return None


def _digest_of(data: bytes, cut: int) -> tuple[bool, dict]:  # type: ignore[type-arg]
    d = _digest.Digester(max_buckets=8)
    ok = True
    try:
        d.feed(data[:cut])
        d.feed(data[cut:])
    except ProfileFormatError:
        ok = False
    info = d.info()
    if info["have_header"]:
        d.history(50, 5)
        d.peak()
        d.window(0, info["end_ns"])
        if ok:
            _digest.Digester.load(d.dump())
    return ok, info


def _same(a: reader.RawLog, b: reader.RawLog) -> bool:
    return (
        a.records == b.records
        and a.bytes_read == b.bytes_read
        and a.truncated == b.truncated
        and list(a.kind) == list(b.kind)
        and list(a.time_ns) == list(b.time_ns)
        and a.strings == b.strings
        and a.meta == b.meta
        and a.trailer == b.trailer
    )


def _full_read(data: bytes) -> None:
    import heapprof_nb

    with open(_tmpfile, "wb") as f:
        f.write(data)
    try:
        prof = heapprof_nb.read(_tmpfile, cache=False)
    except ProfileFormatError:
        return
    prof.history(points=20)
    t, _ = prof.peak()
    prof.snapshot_at(t).statistics("lineno")
    prof.window(0.0, prof.duration).measures()


def TestOneInput(data: bytes) -> None:
    global _count
    _count += 1
    cut = data[-1] * 37 % (len(data) + 1) if data else 0
    ref = _reference(data)
    fol = _follower(data, cut)
    if (ref is None) != (fol is None) or (ref is not None and fol is not None and not _same(ref, fol)):
        raise AssertionError("read_log and LogFollower disagree")
    _reference(data, strict=True)
    ok, info = _digest_of(data, cut)
    if ok and not info["have_header"]:
        # A prefix of a header: the digest (a follower) waits for more, read_log says so.
        if ref is not None:
            raise AssertionError("read_log accepts what the digest holds as an incomplete header")
        return
    if ok != (ref is not None):
        raise AssertionError(f"reference reader {'accepts' if ref else 'rejects'}, digest "
                             f"{'accepts' if ok else 'rejects'}")
    if ref is not None:
        n_allocs = sum(1 for k in ref.kind if k == reader.KIND_ALLOC)
        n_frees = sum(1 for k in ref.kind if k == reader.KIND_FREE)
        got = (info["records"], info["offset"], info["complete"], info["allocs"], info["frees"],
               info["unmatched_frees"], info["reused_addresses"])
        want = (ref.records, ref.bytes_read, not ref.truncated, n_allocs, n_frees,
                ref.unmatched_frees, ref.reused_addresses)
        if got != want:
            raise AssertionError(f"digest {got} != reference {want}")
    if READ_EVERY and _count % READ_EVERY == 0:
        _full_read(data)


def main() -> None:
    _set_limits()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
