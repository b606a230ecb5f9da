// SPDX-License-Identifier: MIT
/* Wrapping NumPy's default data allocator (see hp_numpy.h). */
#include "hp_numpy.h"

#include <stdatomic.h>
#include <stdint.h>

#include "hp_events.h"
#include "hp_hooks.h"
#include "hp_stats.h"

static hp_numpy_allocator_t *patched; /* GIL */
static hp_numpy_allocator_t orig;     /* written with the GIL before patching; read by any thread */

static void stats_or_sample(void *p, size_t size) {
    if (atomic_load_explicit(&hp_hooks_kind, memory_order_relaxed) == HP_KIND_STATS) {
        if (p != NULL) {
            hp_stats_count(size);
        }
    } else {
        hp_events_after_alloc(HP_DOMAIN_NUMPY, p, size);
    }
}

static void *np_malloc(void *ctx, size_t size) {
    (void)ctx;
    if (hp_tls.busy) {
        return orig.malloc(orig.ctx, size);
    }
    hp_tls.busy = 1;
    void *p = orig.malloc(orig.ctx, size);
    hp_tls.busy = 0;
    stats_or_sample(p, size);
    return p;
}

static void *np_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    if (hp_tls.busy) {
        return orig.calloc(orig.ctx, nelem, elsize);
    }
    hp_tls.busy = 1;
    void *p = orig.calloc(orig.ctx, nelem, elsize);
    hp_tls.busy = 0;
    stats_or_sample(p, (uint64_t)nelem * elsize);
    return p;
}

static void *np_realloc(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    if (hp_tls.busy) {
        return orig.realloc(orig.ctx, ptr, size);
    }
    /* Out of the live set before the real call (another thread may be handed the address), and
     * back in if the call fails: then the old block is still allocated. */
    hp_tls.busy = 1;
    hp_live_t old;
    int was_live = ptr != NULL && hp_liveset_maybe(ptr) && hp_events_take_live(ptr, &old);
    void *p = orig.realloc(orig.ctx, ptr, size);
    if (p == NULL && was_live) {
        hp_events_restore_live(&old);
    }
    hp_tls.busy = 0;
    stats_or_sample(p, size);
    return p;
}

static void np_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    if (ptr != NULL) {
        hp_events_before_free(ptr);
    }
    orig.free(orig.ctx, ptr, size);
}

void hp_numpy_install(hp_numpy_allocator_t *allocator) {
    if (patched != NULL) {
        return;
    }
    orig = *allocator;
    patched = allocator;
    allocator->malloc = np_malloc;
    allocator->calloc = np_calloc;
    allocator->realloc = np_realloc;
    allocator->free = np_free;
}

void hp_numpy_uninstall(void) {
    if (patched == NULL) {
        return;
    }
    patched->malloc = orig.malloc;
    patched->calloc = orig.calloc;
    patched->realloc = orig.realloc;
    patched->free = orig.free;
    patched = NULL; /* `orig` stays valid for hooks still running */
}

int hp_numpy_installed(void) { return patched != NULL; }
