// SPDX-License-Identifier: MIT
/* The PyMem hooks and their installation (see hp_hooks.h). Python.h for the allocator API only. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hp_hooks.h"

#include "hp_events.h"
#include "hp_liveset.h"
#include "hp_sampler.h"
#include "hp_stats.h"

_Atomic int hp_hooks_kind = HP_KIND_NONE;

/* The allocator each domain had before us. Written with the GIL while no hook of ours is
 * installed on that domain; read by hooks. Never freed. */
typedef struct {
    PyMemAllocatorEx orig;
    PyMemAllocatorDomain py_domain;
    hp_domain_t domain;
} hook_ctx_t;

static hook_ctx_t hook_ctx[3] = {
    {.py_domain = PYMEM_DOMAIN_RAW, .domain = HP_DOMAIN_RAW},
    {.py_domain = PYMEM_DOMAIN_MEM, .domain = HP_DOMAIN_MEM},
    {.py_domain = PYMEM_DOMAIN_OBJ, .domain = HP_DOMAIN_OBJ},
};
static int hooks_installed;       /* GIL: our allocators are in place (maybe orphaned by fork) */

int hp_hooks_installed(void) { return hooks_installed; }

void hp_hooks_set_quiet(int quiet) {
    if (quiet) {
        hp_tls.quiet++;
    } else if (hp_tls.quiet > 0) {
        hp_tls.quiet--;
    }
}

int hp_hooks_quiet_depth(void) {
    return (int)hp_tls.quiet;
}

/* pymalloc hands requests above 512 bytes to PyMem_RawMalloc, which would count them a second
 * time in our RAW hook; so OBJ and MEM hooks mark the thread busy around such calls and the RAW
 * hook forwards busy calls untouched. Below this size (512 less the padding of Python's debug
 * hooks) nothing nests, and the common case is a countdown decrement and a tail call. */
#define UNNESTED_MAX 448

/* The sampled path of an allocation (kept out of line so the fast paths stay leaf-like). */
static __attribute__((noinline)) void *sampled_malloc(hook_ctx_t *c, size_t size) {
    void *p = c->orig.malloc(c->orig.ctx, size);
    if (p != NULL && hp_sampler_slow(size)) {
        hp_events_alloc(c->domain, p, size);
    }
    return p;
}

static __attribute__((noinline)) void *sampled_calloc(hook_ctx_t *c, size_t nelem, size_t elsize) {
    void *p = c->orig.calloc(c->orig.ctx, nelem, elsize);
    if (p != NULL && hp_sampler_slow((uint64_t)nelem * elsize)) { /* no overflow: p != NULL */
        hp_events_alloc(c->domain, p, (uint64_t)nelem * elsize);
    }
    return p;
}

/* OBJ or MEM allocations that may nest into RAW: busy around the call, decide after it. */
static __attribute__((noinline)) void *nesting_malloc(hook_ctx_t *c, size_t size) {
    hp_tls.busy = 1;
    void *p = c->orig.malloc(c->orig.ctx, size);
    hp_tls.busy = 0;
    hp_events_after_alloc(c->domain, p, size);
    return p;
}

static __attribute__((noinline)) void *nesting_calloc(hook_ctx_t *c, size_t nelem, size_t elsize) {
    hp_tls.busy = 1;
    void *p = c->orig.calloc(c->orig.ctx, nelem, elsize);
    hp_tls.busy = 0;
    hp_events_after_alloc(c->domain, p, (uint64_t)nelem * elsize);
    return p;
}

static void *raw_malloc(void *ctx, size_t size) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy || HP_LIKELY(hp_sampler_skip(size))) {
        return c->orig.malloc(c->orig.ctx, size);
    }
    return sampled_malloc(c, size);
}

static void *raw_calloc(void *ctx, size_t nelem, size_t elsize) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy || (elsize != 0 && nelem > SIZE_MAX / elsize) ||
        HP_LIKELY(hp_sampler_skip((uint64_t)nelem * elsize))) {
        return c->orig.calloc(c->orig.ctx, nelem, elsize);
    }
    return sampled_calloc(c, nelem, elsize);
}

static void *objmem_malloc(void *ctx, size_t size) {
    hook_ctx_t *c = ctx;
    if (HP_LIKELY(size <= UNNESTED_MAX)) {
        if (HP_LIKELY(hp_sampler_skip(size))) {
            return c->orig.malloc(c->orig.ctx, size);
        }
        return sampled_malloc(c, size);
    }
    return nesting_malloc(c, size);
}

static void *objmem_calloc(void *ctx, size_t nelem, size_t elsize) {
    hook_ctx_t *c = ctx;
    if (elsize != 0 && nelem > SIZE_MAX / elsize) {
        return c->orig.calloc(c->orig.ctx, nelem, elsize); /* overflows: let it fail */
    }
    uint64_t size = (uint64_t)nelem * elsize;
    if (HP_LIKELY(size <= UNNESTED_MAX)) {
        if (HP_LIKELY(hp_sampler_skip(size))) {
            return c->orig.calloc(c->orig.ctx, nelem, elsize);
        }
        return sampled_calloc(c, nelem, elsize);
    }
    return nesting_calloc(c, nelem, elsize);
}

/* Any realloc that may touch a sampled block, nest into RAW, or be sampled itself. */
static __attribute__((noinline)) void *tracked_realloc(hook_ctx_t *c, void *ptr, size_t size) {
    hp_tls.busy = 1;
    /* Out of the live set before the real call: once the block is released another thread may
     * be handed the same address and insert it. */
    hp_live_t old;
    int was_live = ptr != NULL && hp_liveset_maybe(ptr) && hp_events_take_live(ptr, &old);
    void *p = c->orig.realloc(c->orig.ctx, ptr, size);
    if (p == NULL && was_live) {
        hp_events_restore_live(&old);
    }
    hp_tls.busy = 0;
    hp_events_after_alloc(c->domain, p, size);
    return p;
}

static void *raw_realloc(void *ctx, void *ptr, size_t size) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy || (!hp_liveset_maybe(ptr) && HP_LIKELY(hp_sampler_skip(size)))) {
        return c->orig.realloc(c->orig.ctx, ptr, size);
    }
    return tracked_realloc(c, ptr, size);
}

static void *objmem_realloc(void *ctx, void *ptr, size_t size) {
    hook_ctx_t *c = ctx;
    if (HP_LIKELY(size <= UNNESTED_MAX) && !hp_liveset_maybe(ptr) && HP_LIKELY(hp_sampler_skip(size))) {
        return c->orig.realloc(c->orig.ctx, ptr, size);
    }
    return tracked_realloc(c, ptr, size);
}

/* A free whose address passed the filter: record it if it is a live sampled block, then free. */
static __attribute__((noinline)) void free_maybe_sampled(hook_ctx_t *c, void *ptr) {
    if (!hp_tls.busy) {
        hp_events_free(ptr);
    }
    c->orig.free(c->orig.ctx, ptr);
}

static void profile_free(void *ctx, void *ptr) {
    hook_ctx_t *c = ctx;
    if (HP_UNLIKELY(hp_liveset_maybe(ptr))) {
        free_maybe_sampled(c, ptr);
        return;
    }
    c->orig.free(c->orig.ctx, ptr);
}

/* Stats mode: busy around the real call (a nested RAW call is not counted twice), then count. */
static inline void *counted(void *p, uint64_t size) {
    hp_tls.busy = 0;
    if (p != NULL) {
        hp_stats_count(size);
    }
    return p;
}

static void *stats_malloc(void *ctx, size_t size) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy) {
        return c->orig.malloc(c->orig.ctx, size);
    }
    hp_tls.busy = 1;
    return counted(c->orig.malloc(c->orig.ctx, size), size);
}

static void *stats_calloc(void *ctx, size_t nelem, size_t elsize) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy) {
        return c->orig.calloc(c->orig.ctx, nelem, elsize);
    }
    hp_tls.busy = 1;
    return counted(c->orig.calloc(c->orig.ctx, nelem, elsize), (uint64_t)nelem * elsize);
}

static void *stats_realloc(void *ctx, void *ptr, size_t size) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy) {
        return c->orig.realloc(c->orig.ctx, ptr, size);
    }
    hp_tls.busy = 1;
    return counted(c->orig.realloc(c->orig.ctx, ptr, size), size);
}

static void stats_free(void *ctx, void *ptr) {
    hook_ctx_t *c = ctx;
    c->orig.free(c->orig.ctx, ptr);
}

void hp_hooks_install(hp_kind_t kind) {
    for (int i = 0; i < 3; i++) {
        hook_ctx_t *c = &hook_ctx[i];
        PyMemAllocatorEx current;
        PyMem_GetAllocator(c->py_domain, &current);
        /* Ours may still be in place as a forwarder (left under someone else's hooks at the last
         * stop, and put back when they stopped): then `orig` is already right, and saving ours
         * as the original would make every call forward to itself. */
        if (current.ctx != c) {
            c->orig = current;
        }
        PyMemAllocatorEx ours = {c, objmem_malloc, objmem_calloc, objmem_realloc, profile_free};
        if (c->domain == HP_DOMAIN_RAW) {
            ours = (PyMemAllocatorEx){c, raw_malloc, raw_calloc, raw_realloc, profile_free};
        }
        if (kind == HP_KIND_STATS) {
            ours = (PyMemAllocatorEx){c, stats_malloc, stats_calloc, stats_realloc, stats_free};
        }
        PyMem_SetAllocator(c->py_domain, &ours);
    }
    hooks_installed = 1;
}

/* Theirs keep working on top of ours and still reach the original allocator through ours. */
void hp_hooks_uninstall(void) {
    for (int i = 0; i < 3; i++) {
        hook_ctx_t *c = &hook_ctx[i];
        PyMemAllocatorEx current;
        PyMem_GetAllocator(c->py_domain, &current);
        if (current.ctx == c) {
            PyMem_SetAllocator(c->py_domain, &c->orig);
        }
    }
    hooks_installed = 0;
}
