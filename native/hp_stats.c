// SPDX-License-Identifier: MIT
/* The stats-mode histogram (see hp_stats.h). */
#include "hp_stats.h"

_Atomic uint64_t hp_stats_counts[HP_STATS_BUCKETS]; /* any thread, relaxed */
_Atomic uint64_t hp_stats_bytes[HP_STATS_BUCKETS];  /* any thread, relaxed */
static uint64_t started_ns;                          /* GIL */

void hp_stats_reset(void) {
    for (int i = 0; i < HP_STATS_BUCKETS; i++) {
        atomic_store_explicit(&hp_stats_counts[i], 0, memory_order_relaxed);
        atomic_store_explicit(&hp_stats_bytes[i], 0, memory_order_relaxed);
    }
    started_ns = hp_now_ns();
}

void hp_stats_read(hp_stats_result_t *out) {
    for (int i = 0; i < HP_STATS_BUCKETS; i++) {
        out->counts[i] = atomic_load_explicit(&hp_stats_counts[i], memory_order_relaxed);
        out->bytes[i] = atomic_load_explicit(&hp_stats_bytes[i], memory_order_relaxed);
    }
    out->elapsed_ns = hp_now_ns() - started_ns;
}
