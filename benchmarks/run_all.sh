#!/usr/bin/env bash
# Runs every benchmark and writes benchmarks/results/*.md and *.png (the target of `make bench`).
#
#   benchmarks/run_all.sh           # full run, about 35-45 minutes on a 2-core machine
#   benchmarks/run_all.sh --quick   # a smaller run, about 5 minutes
#   benchmarks/run_all.sh --report  # only rebuild the tables and plots from results/raw/*.json
#
# Needs: the heapprof_nb extension built into the package folder (as for the tests), a python3
# of the same version, valgrind (callgrind), a C compiler, and PyPI for the first run: it creates
# benchmarks/.work/venv with pyperformance, pyperf, memray, mprofile, matplotlib, numpy, tornado
# (heapprof_nb itself is imported from the work tree through PYTHONPATH, never installed).
# Steps run one after another: the wall-time step must not share the CPU with the others.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
VENV="$HERE/.work/venv"
PY="$VENV/bin/python"
MODE=""
ONLY_REPORT=0
for arg in "$@"; do
    case "$arg" in
        --quick) MODE="--quick" ;;
        --report) ONLY_REPORT=1 ;;
        *) echo "usage: $0 [--quick] [--report]" >&2; exit 2 ;;
    esac
done

export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
unset HEAPPROF_NB_SEED

if [ ! -x "$PY" ] || ! "$PY" -c "import pyperformance, pyperf, matplotlib, numpy, tornado" 2>/dev/null; then
    echo "== setting up $VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q pyperformance pyperf matplotlib numpy tornado psutil
fi
# Competitors are optional: a failed install is reported in the tables, not fatal.
"$PY" -c "import memray" 2>/dev/null || "$PY" -m pip install -q memray || echo "memray did not install"
"$PY" -c "import mprofile" 2>/dev/null || "$PY" -m pip install -q mprofile || echo "mprofile did not install"

"$PY" -c "import heapprof_nb._native" || {
    echo "heapprof_nb._native is not importable from $REPO: build the extension first" >&2
    exit 1
}

mkdir -p "$HERE/results/raw"
cd "$HERE"
start=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - start )) s elapsed)"; }

if [ "$ONLY_REPORT" = 0 ]; then
    command -v valgrind >/dev/null || { echo "valgrind is needed for the callgrind step" >&2; exit 1; }
    step "wall time (interleaved)"
    "$PY" overhead.py wall $MODE
    step "callgrind instruction counts"
    "$PY" overhead.py callgrind $MODE
    step "callgrind breakdown of heapprof_nb's cost"
    "$PY" overhead.py breakdown $MODE
    step "accuracy"
    "$PY" accuracy.py $MODE
fi
step "report"
"$PY" report.py
step "done"
