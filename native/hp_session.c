// SPDX-License-Identifier: MIT
/* The session's lifecycle and fork handlers (see hp_session.h). */
#include "hp_session.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "hp_common.h"
#include "hp_events.h"
#include "hp_hooks.h"
#include "hp_log.h"
#include "hp_sampler.h"
#include "hp_stacks.h"

static int orphaned;              /* GIL: a forked child holding the parent's session tables */
static void (*extra_restore)(void); /* written once at module init with the GIL */

void hp_session_on_uninstall(void (*restore)(void)) { extra_restore = restore; }

/* Takes every hook out: the registered extra (NumPy's) first, then our allocators. */
static void uninstall_all(void) {
    if (extra_restore != NULL) {
        extra_restore();
    }
    hp_hooks_uninstall();
}

/* In a forked child, before starting anew: take out the hooks and free what the parent's session
 * left in our copy of memory. */
static void forget_orphaned_session(void) {
    if (!orphaned) {
        return;
    }
    uninstall_all();
    hp_stacks_codes_t codes;
    hp_events_end(NULL, &codes);
    hp_stacks_release(&codes);
    orphaned = 0;
}

/* Installs the hooks of `kind` (nothing runs yet). */
static void start_kind(hp_kind_t kind) {
    atomic_store(&hp_hooks_kind, kind);
    hp_hooks_install(kind);
}

static int running(hp_kind_t kind) {
    return atomic_load(&hp_hooks_kind) == (int)kind;
}

/* Takes our hooks out if `kind` runs: then 0 and nothing runs, else HP_ESTATE. */
static int stop_kind(hp_kind_t kind) {
    if (atomic_load(&hp_hooks_kind) != (int)kind) {
        return HP_ESTATE;
    }
    uninstall_all();
    atomic_store(&hp_hooks_kind, HP_KIND_NONE);
    return HP_OK;
}

int hp_session_start_profile(const char *path, int exclusive, const hp_log_settings_t *settings) {
    if (atomic_load(&hp_hooks_kind) != HP_KIND_NONE) {
        return HP_ESTATE;
    }
    if (settings->max_frames < 1 || settings->max_frames > HP_MAX_FRAMES_LIMIT) {
        return HP_EINVAL;
    }
    forget_orphaned_session();
    int rc = hp_sampler_configure(settings->mode, settings->rate, settings->n_buckets,
                                  settings->thresholds, settings->probabilities, settings->seed);
    if (rc != HP_OK) {
        return rc;
    }
    rc = hp_events_alloc_tables();
    if (rc != HP_OK) {
        return rc;
    }
    rc = hp_log_open(path, exclusive, settings);
    if (rc != HP_OK) {
        int saved = errno;
        hp_events_free_tables();
        errno = saved;
        return rc;
    }
    hp_events_begin(settings->max_frames);
    start_kind(HP_KIND_PROFILE);
    return HP_OK;
}

int hp_session_profiling(void) { return running(HP_KIND_PROFILE); }

void hp_session_counters(hp_counters_t *out) {
    hp_events_counters(out);
}

int hp_session_stop_profile(hp_counters_t *out) {
    if (stop_kind(HP_KIND_PROFILE) != HP_OK) {
        return HP_ESTATE;
    }
    hp_counters_t counters;
    hp_stacks_codes_t codes;
    hp_events_end(&counters, &codes);
    int rc = hp_log_close(&counters);
    hp_stacks_release(&codes);
    if (out != NULL) {
        *out = counters;
    }
    return rc;
}

int hp_session_start_stats(void) {
    if (atomic_load(&hp_hooks_kind) != HP_KIND_NONE) {
        return HP_ESTATE;
    }
    forget_orphaned_session();
    hp_stats_reset();
    start_kind(HP_KIND_STATS);
    return HP_OK;
}

int hp_session_stats_running(void) { return running(HP_KIND_STATS); }

int hp_session_stop_stats(hp_stats_result_t *out) {
    if (stop_kind(HP_KIND_STATS) != HP_OK) {
        return HP_ESTATE;
    }
    hp_stats_read(out);
    return HP_OK;
}

/* ------------------------------------------------------------------ fork */

/* The forking thread takes the hp_log lock so the child's copy of the tables and buffer is
 * consistent; the child stops profiling (its allocations are not the parent's), forgets the
 * parent's file without writing to it, and keeps our hooks only as forwarders. */
static void before_fork(void) {
    hp_log_lock();
    hp_sampler_before_fork();
}
static void after_fork_parent(void) {
    hp_sampler_after_fork_parent();
    hp_log_unlock();
}
static void after_fork_child(void) {
    hp_sampler_after_fork_child();
    orphaned = hp_hooks_installed();
    hp_events_stop_in_child();
    atomic_store(&hp_hooks_kind, HP_KIND_NONE);
    hp_log_forget_in_child(); /* releases the lock */
}

int hp_session_init(void) {
    if (hp_sampler_init() != HP_OK) {
        return HP_ETHREAD;
    }
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
        return HP_ETHREAD;
    }
    return HP_OK;
}
