// SPDX-License-Identifier: MIT
/* Stats mode (heapprof's): no profile, an exact histogram of allocation sizes in power-of-two
 * buckets, counted by every hook while stats mode runs. As in heapprof's HEAP USAGE SUMMARY,
 * bucket k >= 1 holds sizes in (2^(k-2), 2^(k-1)]: 1, 2, 3-4, 5-8, ...; bucket 0 holds size 0.
 * The counters are relaxed atomics: any thread, no lock. */
#ifndef HP_STATS_H
#define HP_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "hp_common.h"

#define HP_STATS_BUCKETS 66

typedef struct {
    uint64_t counts[HP_STATS_BUCKETS];
    uint64_t bytes[HP_STATS_BUCKETS];
    uint64_t elapsed_ns;
} hp_stats_result_t;

extern _Atomic uint64_t hp_stats_counts[HP_STATS_BUCKETS];
extern _Atomic uint64_t hp_stats_bytes[HP_STATS_BUCKETS];

static inline int hp_stats_bucket(uint64_t size) {
    return size <= 1 ? (int)size : 65 - __builtin_clzll(size - 1);
}

/* Counts one allocation. Hook-safe. */
static inline void hp_stats_count(uint64_t size) {
    int b = hp_stats_bucket(size);
    atomic_fetch_add_explicit(&hp_stats_counts[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hp_stats_bytes[b], size, memory_order_relaxed);
}

/* Zeroes the histogram and notes the start time. */
void hp_stats_reset(void);
/* Copies the histogram and the time since hp_stats_reset. */
void hp_stats_read(hp_stats_result_t *out);

#endif /* HP_STATS_H */
