// SPDX-License-Identifier: MIT
/* The PyMem hooks and the profiling session they feed.
 *
 * A session installs hooks on the RAW, MEM and OBJ domains (and NumPy's data handler, see
 * hp_numpy.h) that forward every call to the allocator that was there before, and on the rare
 * sampled call take the hp_log lock to walk the Python stack, intern it and write an ALLOC record.
 * Frees of sampled blocks (found through the live-set filter) write a FREE record.
 *
 * Threads: the hooks run on any thread; RAW calls may come without the GIL, and then no stack is
 * read (the event gets the empty stack). The session's tables are guarded by the hp_log lock;
 * the lifecycle functions (start, stop, stats) need the GIL and are not hook-safe. State the
 * hooks read is static and never freed, so a hook still running on another thread after stop()
 * only forwards. */
#ifndef HP_HOOKS_H
#define HP_HOOKS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_common.h"
#include "hp_liveset.h"
#include "hp_log.h"
#include "hp_sampler.h"
#include "hp_stats.h"

typedef enum {
    HP_KIND_NONE = 0,
    HP_KIND_PROFILE = 1,
    HP_KIND_STATS = 2,
} hp_kind_t;

/* What the hooks do now. Written with the GIL by start/stop; read by any hook. */
extern _Atomic int hp_hooks_kind;

/* Records a sampled allocation (the slow path). Hook-safe; takes the hp_log lock. */
void hp_hooks_record_alloc(hp_domain_t domain, void *address, uint64_t size);
/* Records the free of `address` if it is a live sampled block. Hook-safe. */
void hp_hooks_record_free(void *address);

/* For a realloc: takes `address` out of the live set (writing its FREE) before the real call,
 * which may hand the address to another thread. Returns 1 and the block in *old if it was a live
 * sampled block. If the realloc then fails the block is still live: give it back with
 * hp_hooks_restore_live(old), which logs it again under its old stack. Hook-safe. */
int hp_hooks_take_live(void *address, hp_live_t *old);
void hp_hooks_restore_live(const hp_live_t *old);

/* After a successful allocation of `size` bytes at `address` by any hooked allocator. */
static inline void hp_hooks_after_alloc(hp_domain_t domain, void *address, uint64_t size) {
    if (address != NULL && hp_sampler_should_sample(size)) {
        hp_hooks_record_alloc(domain, address, size);
    }
}

/* Before `address` is freed (or reallocated) by any hooked allocator. The common case is one
 * load from the live-set filter. */
static inline void hp_hooks_before_free(void *address) {
    if (HP_UNLIKELY(hp_liveset_maybe(address)) && !hp_tls.busy) {
        hp_hooks_record_free(address);
    }
}

/* Registers what else to restore wherever the hooks are taken out (stop, stats stop, a forked
 * child's restart), before our allocators are removed. The binding registers NumPy's handler
 * restore here, so the hooks need not know NumPy. Call once at module init, with the GIL. */
void hp_hooks_on_uninstall(void (*restore)(void));

/* Module init: registers fork handlers and the sampler's thread key. Returns 0 or HP_ETHREAD. */
int hp_hooks_init(void);

/* Starts a profile: opens the log, installs the hooks. 0, or HP_ESTATE if a profile or stats run
 * is active, HP_EINVAL for bad settings, HP_EOPEN (errno set), HP_ENOMEM, HP_ETHREAD. GIL. */
int hp_profile_start(const char *path, int exclusive, const hp_log_settings_t *settings);

/* Stops the profile: restores the allocators, writes the trailer, closes the file, releases the
 * tables. Fills *counters. 0, HP_ESTATE if none runs, HP_EIO if a write failed (the file is
 * closed and readable up to what was written). GIL. */
int hp_profile_stop(hp_counters_t *counters);

/* Enters (quiet != 0) or leaves a quiet section; sections nest. Inside one, the calling thread's
 * allocations are not sampled (frees of sampled blocks still are): heapprof_nb's own bookkeeping
 * during a profile should not show up in it. Thread-local. */
void hp_hooks_set_quiet(int quiet);
/* How deep the calling thread is in quiet sections (0 = sampled normally). */
int hp_hooks_quiet_depth(void);

/* 1 while a profile runs (0 in a forked child, which stops profiling at fork). GIL. */
int hp_profile_running(void);

/* The counters so far. GIL. */
void hp_profile_counters(hp_counters_t *counters);

/* Stats mode: install counting hooks / remove them and read the histogram. GIL. */
int hp_stats_start(void);
int hp_stats_stop(hp_stats_result_t *out);
int hp_stats_running(void);

#endif /* HP_HOOKS_H */
