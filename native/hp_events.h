// SPDX-License-Identifier: MIT
/* The sampled-event path: what a hook does once an allocation is sampled, or a sampled block is
 * freed. It takes the hp_log lock, reads the stack (hp_stacks.h), keeps the live set and writes
 * THREAD, ALLOC and FREE records.
 *
 * Owns:
 * - `recording` (atomic): 1 while a profile records. Hooks read it without the lock first and
 *   again under it; the session writes it under the lock (start, stop) and in a forked child.
 * - the live set of sampled blocks (hp_liveset.h), the samples/frees_recorded/dropped counters,
 *   the THREAD index count and the run number: guarded by the hp_log lock.
 * The live-set filter the inline functions read is static and never freed (hp_liveset.h).
 *
 * Every function but the lifecycle ones (alloc, begin, end, free_tables, counters: GIL, no hook
 * running them) is hook-safe and never raises. */
#ifndef HP_EVENTS_H
#define HP_EVENTS_H

#include <stdint.h>

#include "hp_common.h"
#include "hp_liveset.h"
#include "hp_record.h"
#include "hp_sampler.h"
#include "hp_stacks.h"

/* Records a sampled allocation: the stack if the thread holds the GIL, the live set, ALLOC.
 * A failure drops the event and counts it. Hook-safe; takes the hp_log lock. */
void hp_events_alloc(hp_domain_t domain, void *address, uint64_t size);
/* Records the free of `address` if it is a live sampled block. Hook-safe. */
void hp_events_free(void *address);

/* For a realloc: takes `address` out of the live set (writing its FREE) before the real call,
 * which may hand the address to another thread. Returns 1 and the block in *old if it was a live
 * sampled block. If the realloc then fails the block is still live: give it back with
 * hp_events_restore_live(old), which logs it again under its old stack. Hook-safe. */
int hp_events_take_live(void *address, hp_live_t *old);
void hp_events_restore_live(const hp_live_t *old);

/* After a successful allocation of `size` bytes at `address` by any hooked allocator. */
static inline void hp_events_after_alloc(hp_domain_t domain, void *address, uint64_t size) {
    if (address != NULL && hp_sampler_should_sample(size)) {
        hp_events_alloc(domain, address, size);
    }
}

/* Before `address` is freed (or reallocated) by any hooked allocator. The common case is one
 * load from the live-set filter. */
static inline void hp_events_before_free(void *address) {
    if (HP_UNLIKELY(hp_liveset_maybe(address)) && !hp_tls.busy) {
        hp_events_free(address);
    }
}

/* Lifecycle, called by the session with the GIL.
 * alloc: the run's tables (live set, hp_stacks_alloc), before the log is opened; 0 or HP_ENOMEM.
 * free_tables: undoes alloc when the run could not start (no record was written).
 * begin: zeroes the counters, starts a new run of ids and turns recording on.
 * end: turns recording off (hooks in flight see it under the lock and drop out), fills *counters
 *   (if not NULL), frees the tables and hands over the code objects to release after the lock
 *   (hp_stacks_release).
 * stop_in_child: recording off in a forked child (fork handler: the only thread, no lock). */
int hp_events_alloc_tables(void);
void hp_events_free_tables(void);
void hp_events_begin(uint32_t max_frames);
void hp_events_end(hp_counters_t *counters, hp_stacks_codes_t *codes);
void hp_events_stop_in_child(void);
/* The counters so far (takes the lock). */
void hp_events_counters(hp_counters_t *counters);

#endif /* HP_EVENTS_H */
