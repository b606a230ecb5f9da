/* Callgrind client requests callable through ctypes: the overhead worker brackets the measured
 * loops with them, so a run under `valgrind --tool=callgrind --instr-atstart=no` counts exactly
 * the benchmark iterations (not interpreter start-up, imports, benchmark setup or profiler
 * start/stop). Outside valgrind these are no-ops. Built on demand by callgrind.py. */
#include <valgrind/callgrind.h>

void cg_begin(void) {
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_ZERO_STATS;
}

void cg_end(void) {
    CALLGRIND_DUMP_STATS_AT("measured");
    CALLGRIND_STOP_INSTRUMENTATION;
}
