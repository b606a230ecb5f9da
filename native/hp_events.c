// SPDX-License-Identifier: MIT
/* The sampled-event path (see hp_events.h). */
#include "hp_events.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hp_frames.h"
#include "hp_log.h"

/* Initial size of the live set (it grows). */
#define INITIAL_LIVE 4096u

static _Atomic int recording; /* see hp_events.h */

/* The hp_log lock. */
static struct {
    hp_liveset_t live;
    hp_counters_t counters;       /* samples, frees_recorded, dropped; the rest from hp_stacks */
    uint32_t n_threads;
    uint32_t run;                 /* bumped per start, tells threads their log index is stale */
} ev;

/* This thread's index in the log, writing its THREAD record the first time in this run. */
static uint32_t thread_index_unlocked(int *err) {
    hp_thread_t *th = hp_sampler_thread();
    if (th == NULL) {
        return 0;
    }
    if (th->log_run == ev.run && th->log_index != 0) {
        return th->log_index;
    }
    uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_THREAD_MAX);
    if (p == NULL) {
        *err = HP_EIO;
        return 0;
    }
    th->log_run = ev.run;
    th->log_index = ++ev.n_threads;
    hp_log_commit_unlocked(hp_record_thread(p, th->log_index, (uint64_t)syscall(SYS_gettid)));
    return th->log_index;
}

static int write_alloc_unlocked(const hp_live_t *b, uint64_t dt) {
    uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_ALLOC_MAX);
    if (p == NULL) {
        return HP_EIO;
    }
    hp_log_commit_unlocked(hp_record_alloc(p, dt, b->domain, b->thread,
                                           b->stack_id, b->size, (uint64_t)b->address));
    ev.counters.samples++;
    return HP_OK;
}

void hp_events_alloc(hp_domain_t domain, void *address, uint64_t size) {
    if (!atomic_load_explicit(&recording, memory_order_acquire) || hp_tls.busy || hp_tls.quiet) {
        return;
    }
    hp_tls.busy = 1;
    /* Frames may be read only by the thread that holds the GIL, and it is our own stack. */
    int have_gil = hp_frames_have_gil_no_py();
    hp_log_lock();
    if (atomic_load_explicit(&recording, memory_order_relaxed) && hp_log_writable_unlocked()) {
        int err = HP_OK;
        hp_live_t b = {(uintptr_t)address, size, 0, 0, (uint8_t)domain};
        b.stack_id = have_gil ? hp_stacks_current_unlocked(&err) : 0;
        b.thread = thread_index_unlocked(&err);
        if (err != HP_OK || hp_liveset_add(&ev.live, &b) != HP_OK) {
            ev.counters.dropped++;
        } else if (write_alloc_unlocked(&b, hp_log_dt_unlocked()) != HP_OK) {
            hp_liveset_remove(&ev.live, b.address, NULL);
            ev.counters.dropped++;
        }
    }
    hp_log_unlock();
    hp_tls.busy = 0;
}

int hp_events_take_live(void *address, hp_live_t *out) {
    int found = 0;
    hp_log_lock();
    if (atomic_load_explicit(&recording, memory_order_relaxed) &&
        hp_liveset_remove(&ev.live, (uintptr_t)address, out)) {
        found = 1;
        uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_FREE_MAX);
        if (p != NULL) {
            hp_log_commit_unlocked(hp_record_free(p, hp_log_dt_unlocked(), (uint64_t)(uintptr_t)address));
            ev.counters.frees_recorded++;
        } else {
            ev.counters.dropped++;
        }
    }
    hp_log_unlock();
    return found;
}

void hp_events_free(void *address) {
    hp_tls.busy = 1;
    (void)hp_events_take_live(address, NULL);
    hp_tls.busy = 0;
}

void hp_events_restore_live(const hp_live_t *old) {
    hp_log_lock();
    if (atomic_load_explicit(&recording, memory_order_relaxed) && hp_log_writable_unlocked() &&
        hp_liveset_add(&ev.live, old) == HP_OK) {
        if (write_alloc_unlocked(old, hp_log_dt_unlocked()) != HP_OK) {
            hp_liveset_remove(&ev.live, old->address, NULL);
        }
    }
    hp_log_unlock();
}

/* ------------------------------------------------------------------ lifecycle (GIL) */

int hp_events_alloc_tables(void) {
    if (hp_stacks_alloc() != HP_OK) {
        return HP_ENOMEM;
    }
    if (hp_liveset_init(&ev.live, INITIAL_LIVE) != HP_OK) {
        hp_stacks_codes_t none;
        hp_stacks_free_unlocked(&none); /* no run yet: nothing is shared, no code object held */
        return HP_ENOMEM;
    }
    return HP_OK;
}

void hp_events_free_tables(void) {
    hp_stacks_codes_t none;
    hp_stacks_free_unlocked(&none); /* before any run: no hook reads them, no code object held */
    hp_liveset_fini(&ev.live);
}

void hp_events_begin(uint32_t max_frames) {
    hp_log_lock();
    memset(&ev.counters, 0, sizeof(ev.counters));
    ev.n_threads = 0;
    ev.run++;
    hp_stacks_reset_unlocked(max_frames);
    atomic_store(&recording, 1);
    hp_log_unlock();
}

void hp_events_end(hp_counters_t *counters, hp_stacks_codes_t *codes) {
    hp_log_lock();
    atomic_store(&recording, 0); /* hooks still in flight see this under the lock and drop out */
    hp_stacks_counters_unlocked(&ev.counters);
    if (counters != NULL) {
        *counters = ev.counters;
    }
    hp_stacks_free_unlocked(codes);
    hp_liveset_fini(&ev.live);
    hp_log_unlock();
}

void hp_events_stop_in_child(void) {
    atomic_store(&recording, 0);
}

void hp_events_counters(hp_counters_t *out) {
    hp_log_lock();
    *out = ev.counters;
    hp_stacks_counters_unlocked(out);
    hp_log_unlock();
}
