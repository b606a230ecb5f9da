// SPDX-License-Identifier: MIT
/* Which allocations to sample, and with what weight.
 *
 * Byte sampling (mode HP_MODE_BYTES, after tcmalloc and Go): every thread keeps a countdown of
 * bytes. An allocation of s bytes subtracts s; when the countdown would go below zero the
 * allocation is sampled and a fresh gap is drawn from an exponential distribution with mean R
 * (-R ln U, hp_sampler_byte_gap). Because the exponential is memoryless, the countdown left before any allocation is
 * itself Exp(R), so each allocation is sampled independently with probability
 *     p(s) = 1 - exp(-s/R)                     (hp_format_byte_probability, hp_format.h)
 * and weighting each sample by s/p bytes (1/p objects) makes every sum an unbiased estimate of the
 * true sum. Its variance for a set of live blocks is sum(s^2 (1-p)/p), about R*B for B bytes of
 * small blocks: one sigma is sqrt(R/B) relative, e.g. 2.5% of 100 MB at R = 64 KiB. The weight is
 * applied per sample by the readers (docs/log-format.md, Weights), never after aggregation.
 *
 * Per-size probabilities (HP_MODE_SIZES, heapprof): an allocation falls in the bucket of the
 * largest threshold <= s and is sampled with that bucket's probability p; weight s/p. Instead of a
 * random draw per allocation, each thread counts down a geometric number of allocations per bucket
 * (floor(ln U / ln(1 - p)), hp_sampler_count_gap), which is the same distribution at the cost of a
 * decrement.
 *
 * HP_MODE_ALL samples everything with weight s (exact mode, `rate=1`).
 *
 * A run's settings change only while no hook is installed (hp_sampler_configure), which also zeroes
 * every registered thread's countdown: zero sends a thread to the slow path, where it reseeds and
 * draws a fresh gap under the new settings, so no gap drawn under an old rate leaks into a new run
 * and the hot path needs no check of which run it is in.
 */
#ifndef HP_SAMPLER_H
#define HP_SAMPLER_H

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hp_common.h"

/* Slow-path state of one thread: allocated on its first slow path, freed at thread exit.
 * Thread-local: only its own thread touches it, except hp_sampler_fork_child. */
typedef struct hp_thread {
    uint64_t rng[4];                          /* xoshiro256** state */
    uint32_t log_index;                       /* index in the current log, 0 = not yet written */
    uint32_t log_run;                         /* which run log_index belongs to */
    uint32_t size_epoch;                      /* epoch the bucket countdowns were drawn in */
    uint32_t rng_epoch;                       /* epoch the generator was seeded in */
    int64_t size_countdown[HP_MAX_BUCKETS];   /* allocations to skip per bucket (mode SIZES) */
    struct hp_tls *tls;                       /* this thread's hot-path state */
    struct hp_thread *prev, *next;            /* the registry; guarded by its own mutex */
} hp_thread_t;

/* The hot-path part, in static TLS (see HP_TLS). */
typedef struct hp_tls {
    uint64_t bytes_left;  /* bytes until the next sample (mode BYTES); 0 means "not drawn yet in
                           * this run" (a drawn gap is >= 1) and stays 0 in the other modes, so
                           * every allocation takes the slow path there. hp_sampler_configure
                           * zeroes it from another thread, with no hook of ours running. */
    uint32_t busy;        /* nonzero while this thread is inside a hook's own work */
    uint32_t quiet;       /* nonzero while heapprof_nb's own Python code runs: not sampled */
    hp_thread_t *thread;  /* slow-path state, NULL until needed */
} hp_tls_t;

extern HP_TLS hp_tls_t hp_tls;

/* Settings of the current run. Written by hp_sampler_configure with no hook installed, read by
 * hooks; the epoch is bumped last (release) and read with acquire on the slow path. */
typedef struct {
    hp_mode_t mode;
    uint64_t rate;
    int n_buckets;
    uint64_t thresholds[HP_MAX_BUCKETS];
    double probabilities[HP_MAX_BUCKETS];
    double log1m_p[HP_MAX_BUCKETS];           /* ln(1 - p), for geometric gaps */
    uint64_t seed;
} hp_sampler_config_t;

extern hp_sampler_config_t hp_sampler_config;
extern _Atomic uint32_t hp_sampler_epoch;

/* Validates and installs settings for the next run; HP_EINVAL if they are malformed (rate 0,
 * thresholds not increasing, a probability outside (0, 1], too many buckets).
 * Call only with no hook installed. Not hook-safe. */
int hp_sampler_configure(hp_mode_t mode, uint64_t rate, int n_buckets, const uint64_t *thresholds,
                         const double *probabilities, uint64_t seed);

/* The slow path of hp_sampler_should_sample: returns 1 if the allocation is sampled. Hook-safe. */
int hp_sampler_slow(uint64_t size);

/* The hot path: 1 if an allocation of `size` bytes is certainly not sampled, and then its bytes
 * are taken off the countdown. 0 means "ask hp_sampler_slow". Hook-safe: a TLS load, a compare
 * and a TLS store. */
static inline int hp_sampler_skip(uint64_t size) {
    uint64_t left = hp_tls.bytes_left;
    if (HP_LIKELY(size < left)) {
        hp_tls.bytes_left = left - size;
        return 1;
    }
    return 0;
}

/* The countdown maths, pure functions of a uniform draw u in (0, 1] (so ln u is finite).
 * A byte gap of mean `rate`: -rate ln u, at least 1 (0 is the "not drawn yet" mark of
 * bytes_left) and saturated at UINT64_MAX. */
static inline uint64_t hp_sampler_byte_gap(uint64_t rate, double u) {
    double gap = -(double)rate * log(u);
    return gap >= 1.8e19 ? UINT64_MAX : (gap < 1.0 ? 1 : (uint64_t)gap);
}

/* The number of allocations to skip before the next sample of a bucket with probability p < 1,
 * given log1m_p = ln(1 - p): geometric, floor(ln u / ln(1 - p)), saturated at INT64_MAX. */
static inline int64_t hp_sampler_count_gap(double log1m_p, double u) {
    double gap = floor(log(u) / log1m_p);
    return gap >= 9.0e18 ? INT64_MAX : (int64_t)gap;
}

/* Returns 1 if an allocation of `size` bytes is to be sampled. Hook-safe. */
static inline int hp_sampler_should_sample(uint64_t size) {
    return !hp_sampler_skip(size) && hp_sampler_slow(size);
}

/* This thread's slow-path state, allocated on first use; NULL if that allocation failed.
 * Hook-safe (uses libc calloc, which no PyMem hook sees). */
hp_thread_t *hp_sampler_thread(void);

/* A uniform 64-bit draw from this thread's generator. Hook-safe. */
uint64_t hp_sampler_next(hp_thread_t *t);

/* Registers the thread-exit destructor; call once at module init. Returns 0 or HP_ETHREAD. */
int hp_sampler_init(void);

/* fork: the registry's mutex is taken before and released after, in both processes; the child
 * keeps only its own thread in the registry. */
void hp_sampler_before_fork(void);
void hp_sampler_after_fork_parent(void);
void hp_sampler_after_fork_child(void);

#endif /* HP_SAMPLER_H */
