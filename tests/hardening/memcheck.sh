#!/usr/bin/env bash
# valgrind memcheck over an engine subset (tests/hardening/memcheck_workload.py): the engine's
# hooks, writer and flush thread, fork, stats mode, and the reference reader and C digest.
#
#   tests/hardening/memcheck.sh            # prints valgrind's ERROR SUMMARY; exit 1 on errors
#
# Runs the real interpreter binary (not a pyenv shim, which would be what valgrind watches) with
# PYTHONMALLOC=malloc, so every Python object is a malloc block valgrind can see. Leaks are not
# counted (the interpreter keeps much at exit by design); every invalid read or write, use of
# uninitialised memory, bad free or fishy argument is, and one with a heapprof_nb frame fails. --child-silent-after-fork keeps the forked
# child's output out of the report; the child is still checked (--trace-children covers exec).
set -u -o pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON_BIN="${PYTHON_BIN:-$(python3 -c 'import sys, os; print(os.path.realpath(sys.executable))')}"
OUT="${MEMCHECK_LOG:-${TMPDIR:-/tmp}/heapprof_nb-memcheck.log}"
command -v valgrind > /dev/null || { echo "memcheck: valgrind is not installed" >&2; exit 2; }
PYTHONPATH="${PYTHONPATH:-$ROOT}" PYTHONMALLOC=malloc \
    valgrind --tool=memcheck --error-exitcode=99 --leak-check=no --track-origins=yes \
    --num-callers=30 --log-file="$OUT" "$PYTHON_BIN" "$HERE/memcheck_workload.py" \
    > "$OUT.stdout"
rc=$?
cat "$OUT.stdout"
grep -E "ERROR SUMMARY" "$OUT" | sort | uniq -c
# CPython 3.11 itself is not memcheck-clean (uninitialised reads in int.from_bytes' small-int
# path at startup and under it, ld.so's strncmp): those are counted apart. An error whose stack
# has a frame of heapprof_nb (the hp_* functions of _native and _digest) fails the check.
python3 - "$OUT" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read().splitlines()
ours, theirs, block = [], 0, []
def flush():
    global theirs
    if not block:
        return
    if any(re.search(r"\bhp_\w+ \(|_native\.|_digest\.|heapprof_nb", l) for l in block):
        ours.append("\n".join(block))
    else:
        theirs += 1
kinds = ("Invalid", "Conditional", "Use of", "Syscall", "Mismatched", "Source and")
for line in text:
    body = re.sub(r"^==\d+== ?", "", line)
    if body.startswith(kinds):
        flush()
        block = [body]
    elif block and body.startswith(("   at ", "   by ", " Address", " Uninitialised", "   ")):
        block.append(body)
    else:
        flush()
        block = []
flush()
print(f"memcheck: {len(ours)} error context(s) in heapprof_nb, {theirs} in CPython/libc only")
for b in ours[:10]:
    print(b, file=sys.stderr)
sys.exit(1 if ours else 0)
PY
ours_rc=$?
if ! grep -q "memcheck workload ok" "$OUT.stdout"; then
    echo "memcheck: the workload failed (exit $rc), see $OUT" >&2
    exit 1
fi
if [ "$ours_rc" -ne 0 ]; then
    echo "memcheck: FAILED: errors in heapprof_nb, see $OUT" >&2
    exit 1
fi
echo "memcheck: no errors in heapprof_nb ($OUT)"
