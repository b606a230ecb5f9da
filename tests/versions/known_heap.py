"""A known heap, profiled on one CPython and read back on every other.

``python known_heap.py write DIR`` profiles a function that keeps exactly ``BLOCKS`` bytes objects
of one size alive (the truth is computed on the running interpreter, so it holds on every
version), checks the estimate against it, and leaves ``DIR/cpython-X.Y.hpnb``.
``python known_heap.py read DIR`` opens every log in DIR, whichever CPython wrote it, and checks
it the same way: the log format does not depend on the interpreter version.

Each check prints one line and the script exits 1 if any failed.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import heapprof_nb

RATE = 32 * 1024
BLOCKS = 16000
PAYLOAD = 8 * 1024  # bytes of content per block; the block's real size adds the object header
SEED = 7
# An estimate off by more than this many of its own sigmas fails (at 32 KiB and 128 MiB of 8 KiB
# blocks one sigma is about 1.5% of the truth).
MAX_SIGMAS = 4.0


def build_known_heap() -> list[bytes]:
    # A loop, not a comprehension: 3.11 runs a comprehension as a function of its own.
    kept = []
    for _ in range(BLOCKS):
        kept.append(bytes(PAYLOAD))  # the line the heap must be found at
    return kept


def _allocation_line() -> int:
    code = build_known_heap.__code__
    source = Path(code.co_filename).read_text().splitlines()
    return next(n for n in range(code.co_firstlineno, len(source) + 1)
                if "the line the heap must be found at" in source[n - 1])


def _version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def write(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cpython-{_version()}.hpnb"
    truth = BLOCKS * sys.getsizeof(bytes(PAYLOAD))
    with heapprof_nb.profile(path, rate=RATE, seed=SEED):
        kept = build_known_heap()
    (folder / f"cpython-{_version()}.json").write_text(json.dumps(
        {"truth": truth, "line": _allocation_line(), "python": platform.python_version()}))
    del kept
    return check(path, f"CPython {platform.python_version()} wrote and read")


def check(path: Path, who: str) -> bool:
    facts = json.loads(path.with_suffix(".json").read_text())
    prof = heapprof_nb.read(path)
    snapshot = prof.snapshot_at(prof.duration)
    site = [s for s in snapshot.statistics("lineno")
            if s.key and s.key[0].function.endswith("build_known_heap")
            and s.key[0].line == facts["line"]]
    if not site:
        print(f"FAIL {who} {path.name}: nothing at build_known_heap line {facts['line']}")
        return False
    estimate, sigma = site[0].bytes, site[0].error
    relative = estimate / facts["truth"] - 1
    ok = abs(estimate - facts["truth"]) <= MAX_SIGMAS * sigma
    print(f"{'ok  ' if ok else 'FAIL'} {who} {path.name}: known {facts['truth'] / 2**20:.2f} MiB, "
          f"estimated {estimate / 2**20:.2f} MiB ± {sigma / 2**20:.2f} ({relative:+.2%}) at "
          f"{site[0].key[0].label}")
    return ok


def read(folder: Path) -> bool:
    logs = sorted(folder.glob("cpython-*.hpnb"))
    if not logs:
        print(f"FAIL no logs in {folder}")
        return False
    who = f"CPython {platform.python_version()} read"
    return all([check(path, who) for path in logs])


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("write", "read"):
        print("usage: known_heap.py write|read DIR", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    return 0 if (write(folder) if argv[0] == "write" else read(folder)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
