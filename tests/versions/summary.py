"""One line per test run of `make test`: the interpreter, what ran, and its counts.

Reads the JUnit XML files each run left in the folder given (build/junit), in the order of the
interpreters' versions. Exits 1 if a run failed or an expected one left no file."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

EXPECTED = ("main", "c", "asan", "3.12", "3.13", "3.14", "3.15")
#: runs whose XML names the project rather than what ran (meson test's JUnit: `make test-c`)
TITLES = {"c": "C unit tests (ASan+UBSan, no Python)"}


def line(path: Path) -> tuple[str, bool]:
    title = TITLES.get(path.stem)
    suite = ET.parse(path).getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    tests, failures, errors, skipped = (int(suite.get(k, "0"))
                                        for k in ("tests", "failures", "errors", "skipped"))
    failed = failures + errors
    passed = tests - failed - skipped
    return (f"{title or suite.get('name')}: {passed} passed, {failed} failed, {skipped} skipped",
            failed == 0 and passed > 0)


def main(folder: str) -> int:
    ok = True
    print("== What ran, on which CPython")
    for run in EXPECTED:
        path = Path(folder) / f"{run}.xml"
        if not path.exists():
            print(f"{run}: no result (the run did not happen)")
            ok = False
            continue
        text, good = line(path)
        print(text)
        ok = ok and good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
