#!/usr/bin/env bash
# Fuzz the log readers for a bounded time, then replay every corpus once.
#
#   fuzz/run.sh [SECONDS]      # total fuzzing time (default 120), split over the targets
#   fuzz/run.sh --replay       # no fuzzing: run every target over its corpus once
#
# Targets:
#   digest  libFuzzer + ASan + UBSan on native/digest/ without its binding (fuzz_digest.c)
#   load    the same build with -DFUZZ_LOAD: hp_digest_load(), the <log>.digest cache reader
#   reader  atheris on tests/reference_decoder.py, the C digest via Python and heapprof_nb.read
#           (fuzz_reader.py), differential: the reference reader and the digest must agree
# Seeds are real logs written by the engine (fuzz/make_corpus.py) and their digests' dumps. Each
# target keeps its corpus in $FUZZ_DIR/corpus/<target> between runs; anything a fuzzer finds is
# copied to $FUZZ_DIR/findings and makes the script exit 1. Memory is capped (libFuzzer
# -rss_limit_mb/-malloc_limit_mb; RLIMIT_AS in the atheris harness) and each input has a
# -timeout, so an unbounded allocation or a hang is a finding, not a stuck run.
#
# Needs clang with libFuzzer (Debian: apt-get install clang) for digest/load and atheris
# (pip install atheris) for reader; a target whose tool is missing is skipped with a note.
# The extensions must be importable (PYTHONPATH pointing at a built tree, or installed).
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
FUZZ_DIR="${FUZZ_DIR:-$ROOT/build/fuzz}"
PYTHON="${PYTHON:-python3}"
CC_FUZZ="${CC_FUZZ:-clang}"
# An installed heapprof_nb is used as it is; otherwise the source tree (extensions built in place).
if [ -z "${PYTHONPATH:-}" ] && ! (cd / && "$PYTHON" -c "import heapprof_nb._digest") 2> /dev/null; then
    export PYTHONPATH="$ROOT"
fi

REPLAY=0
TOTAL=120
case "${1:-}" in
    --replay) REPLAY=1 ;;
    "") ;;
    *[!0-9]*) echo "usage: $0 [SECONDS | --replay]" >&2; exit 2 ;;
    *) TOTAL="$1" ;;
esac

mkdir -p "$FUZZ_DIR/findings" "$FUZZ_DIR/logs"
SUMMARY="$FUZZ_DIR/summary.txt"
: > "$SUMMARY"
status=0

note() { echo "fuzz: $*" | tee -a "$SUMMARY"; }

# Seeds (once; delete $FUZZ_DIR/seeds to regenerate).
if [ ! -d "$FUZZ_DIR/seeds/logs" ]; then
    "$PYTHON" "$HERE/make_corpus.py" "$FUZZ_DIR/seeds" > "$FUZZ_DIR/logs/seeds.txt" || {
        note "could not write the seed corpus (is the engine built?)"; exit 1; }
fi
for t in digest load reader; do
    mkdir -p "$FUZZ_DIR/corpus/$t"
done
cp -n "$FUZZ_DIR"/seeds/logs/* "$FUZZ_DIR/corpus/digest/" 2>/dev/null
cp -n "$FUZZ_DIR"/seeds/logs/* "$FUZZ_DIR/corpus/reader/" 2>/dev/null
cp -n "$FUZZ_DIR"/seeds/dumps/* "$FUZZ_DIR/corpus/load/" 2>/dev/null
# Inputs that once broke something stay in every replay.
if [ -d "$HERE/regressions" ]; then
    cp -n "$HERE"/regressions/*.hpnb "$FUZZ_DIR/corpus/digest/" 2>/dev/null
    cp -n "$HERE"/regressions/*.hpnb "$FUZZ_DIR/corpus/reader/" 2>/dev/null
    cp -n "$HERE"/regressions/*.dump "$FUZZ_DIR/corpus/load/" 2>/dev/null
fi

# Builds (C targets).
have_clang=0
if command -v "$CC_FUZZ" > /dev/null 2>&1; then
    have_clang=1
    for t in digest load; do
        extra=""
        [ "$t" = load ] && extra="-DFUZZ_LOAD"
        if ! "$CC_FUZZ" -g -O1 $extra -fsanitize=fuzzer,address,undefined \
            -fno-sanitize-recover=undefined -I"$ROOT/native/digest" "$HERE/fuzz_digest.c" \
            $(ls "$ROOT"/native/digest/hp_*.c | grep -v '_module\.c$') -lm \
            -o "$FUZZ_DIR/fuzz_$t" 2> "$FUZZ_DIR/logs/build_$t.txt"; then
            note "building fuzz_$t failed, see $FUZZ_DIR/logs/build_$t.txt"
            exit 1
        fi
    done
else
    note "clang not found: the C targets (digest, load) are skipped (apt-get install clang)"
fi
have_atheris=0
if "$PYTHON" -c "import atheris" > /dev/null 2>&1; then
    have_atheris=1
else
    note "atheris not found: the reader target is skipped (pip install atheris)"
fi

# Runs one target; $1 name, $2 seconds (0 = replay only), then the command.
run_target() {
    local name="$1" secs="$2"
    shift 2
    local log="$FUZZ_DIR/logs/$name.txt"
    local before
    before=$(ls "$FUZZ_DIR/findings" | wc -l)
    local flags=(-timeout=20 -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/findings/$name-")
    if [ "$secs" -gt 0 ]; then
        flags+=(-max_total_time="$secs" -max_len=65536)
    else
        flags+=(-runs=0)
    fi
    "$@" "${flags[@]}" "$FUZZ_DIR/corpus/$name" > "$log" 2>&1
    local rc=$?
    local execs
    execs=$(grep -a "stat::number_of_executed_units" "$log" | tail -1 | awk '{print $2}')
    local after
    after=$(ls "$FUZZ_DIR/findings" | wc -l)
    local corpus
    corpus=$(ls "$FUZZ_DIR/corpus/$name" | wc -l)
    if [ "$rc" -ne 0 ] || [ "$after" -ne "$before" ]; then
        note "$name: FAILED (exit $rc, $((after - before)) new finding(s) in $FUZZ_DIR/findings, log $log)"
        grep -a -m3 -E "ERROR|Error|SUMMARY" "$log" | sed 's/^/    /' | tee -a "$SUMMARY"
        status=1
    else
        local what="fuzzed ${secs}s"
        [ "$secs" -eq 0 ] && what="replayed"
        note "$name: ok, $what, ${execs:-?} executions, corpus $corpus inputs"
    fi
}

# Time split: digest 40 %, load 20 %, reader 40 % (of the targets that can run).
if [ "$REPLAY" -eq 1 ]; then
    d=0; l=0; r=0
else
    shares=0
    [ "$have_clang" -eq 1 ] && shares=$((shares + 3))
    [ "$have_atheris" -eq 1 ] && shares=$((shares + 2))
    [ "$shares" -eq 0 ] && { note "no fuzzer available"; exit 1; }
    d=$((TOTAL * 2 / shares)); l=$((TOTAL / shares)); r=$((TOTAL * 2 / shares))
    [ "$d" -lt 1 ] && d=1; [ "$l" -lt 1 ] && l=1; [ "$r" -lt 1 ] && r=1
fi

C_LIMITS=(-rss_limit_mb=2048 -malloc_limit_mb=512)
if [ "$have_clang" -eq 1 ]; then
    run_target digest "$d" "$FUZZ_DIR/fuzz_digest" "${C_LIMITS[@]}"
    run_target load "$l" "$FUZZ_DIR/fuzz_load" "${C_LIMITS[@]}"
fi
if [ "$have_atheris" -eq 1 ]; then
    HPNB_FUZZ_AS_MB="${HPNB_FUZZ_AS_MB:-4096}" run_target reader "$r" \
        "$PYTHON" "$HERE/fuzz_reader.py" -rss_limit_mb=3072
fi
# After fuzzing, replay every corpus (seeds, regressions and what the run added) once.
if [ "$REPLAY" -eq 0 ]; then
    [ "$have_clang" -eq 1 ] && run_target digest 0 "$FUZZ_DIR/fuzz_digest" "${C_LIMITS[@]}"
    [ "$have_clang" -eq 1 ] && run_target load 0 "$FUZZ_DIR/fuzz_load" "${C_LIMITS[@]}"
    [ "$have_atheris" -eq 1 ] && run_target reader 0 "$PYTHON" "$HERE/fuzz_reader.py" \
        -rss_limit_mb=3072
fi
note "summary in $SUMMARY"
exit $status
