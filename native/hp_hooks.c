// SPDX-License-Identifier: MIT
/* PyMem hooks, the sampled-event path and the session lifecycle (see hp_hooks.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hp_hooks.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hp_frames.h"
#include "hp_intern.h"

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
static int orphaned;              /* GIL: a forked child holding the parent's session tables */
/* What else to restore when the hooks come out (hp_hooks_on_uninstall). Written once at module
 * init with the GIL; read with the GIL. */
static void (*extra_restore)(void);

void hp_hooks_on_uninstall(void (*restore)(void)) { extra_restore = restore; }

static void restore_extra(void) {
    if (extra_restore != NULL) {
        extra_restore();
    }
}

/* A code object the session holds a reference to, with the ids of its strings. */
typedef struct {
    void *code;
    uint32_t file_id;
    uint32_t func_id;
} code_entry_t;

/* The session. Everything below is guarded by the hp_log lock, except `recording`, which hooks
 * read without it first (and again under it). */
static _Atomic int recording;
static struct {
    hp_map_t strings;             /* (str object, 0) -> string id */
    hp_map_t codes;               /* (code object, 0) -> index + 1 into code_entries */
    hp_map_t frames_by_pc;        /* (code object, lasti) -> frame id */
    hp_map_t frames_by_line;      /* (code index, line) -> frame id */
    hp_stacktab_t stacks;
    hp_liveset_t live;
    code_entry_t *code_entries;
    size_t n_codes, cap_codes;
    uint32_t n_strings, n_frames, n_stacks, n_threads;
    uint32_t run;                 /* bumped per start, tells threads their log index is stale */
    uint32_t max_frames;
    hp_counters_t counters;
    hp_rawframe_t raw[HP_MAX_FRAMES_LIMIT];
    uint32_t frame_ids[HP_MAX_FRAMES_LIMIT];
    char text[8192];
} s;

/* ------------------------------------------------------------------ interning (locked) */

static uint32_t intern_string_unlocked(void *key, const char *text, size_t len, int *err) {
    uint32_t id = hp_map_get(&s.strings, (uintptr_t)key, 0);
    if (id != 0) {
        return id;
    }
    id = ++s.n_strings;
    if (hp_map_put(&s.strings, (uintptr_t)key, 0, id) != HP_OK) {
        s.n_strings--;
        *err = HP_ENOMEM;
        return 0;
    }
    if (hp_log_string_unlocked(id, text, len) != HP_OK) {
        *err = HP_EIO;
    }
    return id;
}

static code_entry_t *intern_code_unlocked(void *code, int *err) {
    uint32_t index = hp_map_get(&s.codes, (uintptr_t)code, 0);
    if (index != 0) {
        return &s.code_entries[index - 1];
    }
    if (s.n_codes == s.cap_codes) {
        size_t cap = s.cap_codes ? s.cap_codes * 2 : 256;
        code_entry_t *grown = realloc(s.code_entries, cap * sizeof(*grown));
        if (grown == NULL) {
            *err = HP_ENOMEM;
            return NULL;
        }
        s.code_entries = grown;
        s.cap_codes = cap;
    }
    if (hp_map_put(&s.codes, (uintptr_t)code, 0, (uint32_t)s.n_codes + 1) != HP_OK) {
        *err = HP_ENOMEM;
        return NULL;
    }
    size_t file_len, func_len;
    hp_frames_describe_no_py(code, s.text, sizeof(s.text), &file_len, &func_len); /* increfs */
    code_entry_t *e = &s.code_entries[s.n_codes++];
    e->code = code;
    /* Strings are keyed by the code object's own str objects, which it keeps alive. */
    PyCodeObject *co = code;
    e->file_id = intern_string_unlocked(co->co_filename, s.text, file_len, err);
    e->func_id = intern_string_unlocked(co->co_qualname, s.text + file_len, func_len, err);
    return e;
}

static uint32_t intern_frame_unlocked(const hp_rawframe_t *raw, int *err) {
    uint32_t id = hp_map_get(&s.frames_by_pc, (uintptr_t)raw->code, (uint64_t)(int64_t)raw->lasti);
    if (id != 0) {
        return id;
    }
    code_entry_t *code = intern_code_unlocked(raw->code, err);
    if (code == NULL) {
        return 0;
    }
    uint64_t code_index = (uint64_t)(code - s.code_entries);
    int line = hp_frames_line_no_py(raw->code, raw->lasti);
    id = hp_map_get(&s.frames_by_line, code_index, (uint64_t)line);
    if (id == 0) {
        id = ++s.n_frames;
        if (hp_map_put(&s.frames_by_line, code_index, (uint64_t)line, id) != HP_OK) {
            s.n_frames--;
            *err = HP_ENOMEM;
            return 0;
        }
        uint8_t *p = hp_log_reserve_unlocked(1 + 4 * HP_MAX_VARINT);
        if (p == NULL) {
            *err = HP_EIO;
            return 0;
        }
        size_t n = 0;
        p[n++] = HP_TAG_FRAME;
        n += hp_put_varint(p + n, id);
        n += hp_put_varint(p + n, code->file_id);
        n += hp_put_varint(p + n, code->func_id);
        n += hp_put_varint(p + n, (uint64_t)line);
        hp_log_commit_unlocked(n);
    }
    if (hp_map_put(&s.frames_by_pc, (uintptr_t)raw->code, (uint64_t)(int64_t)raw->lasti, id) != HP_OK) {
        *err = HP_ENOMEM; /* the frame is defined; only the shortcut is lost */
    }
    return id;
}

/* The id of the calling thread's current stack (0 = empty), defining it in the log if new. */
static uint32_t intern_stack_unlocked(int *err) {
    int truncated = 0;
    int depth = hp_frames_walk_no_py(s.raw, (int)s.max_frames, &truncated);
    if (depth == 0) {
        return 0;
    }
    for (int i = 0; i < depth; i++) {
        s.frame_ids[i] = intern_frame_unlocked(&s.raw[i], err);
        if (s.frame_ids[i] == 0) {
            return 0;
        }
    }
    uint64_t hash = hp_stack_hash(s.frame_ids, (uint32_t)depth);
    uint32_t id = hp_stacktab_get(&s.stacks, s.frame_ids, (uint32_t)depth, hash);
    if (id != 0) {
        return id;
    }
    id = s.n_stacks + 1;
    if (hp_stacktab_put(&s.stacks, s.frame_ids, (uint32_t)depth, hash, id) != HP_OK) {
        *err = HP_ENOMEM;
        return 0;
    }
    s.n_stacks++;
    s.counters.truncated_stacks += (uint64_t)truncated;
    uint8_t *p = hp_log_reserve_unlocked(1 + (size_t)(depth + 2) * HP_MAX_VARINT);
    if (p == NULL) {
        *err = HP_EIO;
        return 0;
    }
    size_t n = 0;
    p[n++] = HP_TAG_STACK;
    n += hp_put_varint(p + n, id);
    n += hp_put_varint(p + n, (uint64_t)depth);
    for (int i = 0; i < depth; i++) {
        n += hp_put_varint(p + n, s.frame_ids[i]);
    }
    hp_log_commit_unlocked(n);
    return id;
}

/* This thread's index in the log, writing its THREAD record the first time in this run. */
static uint32_t thread_index_unlocked(int *err) {
    hp_thread_t *t = hp_sampler_thread();
    if (t == NULL) {
        return 0;
    }
    if (t->log_run == s.run && t->log_index != 0) {
        return t->log_index;
    }
    uint8_t *p = hp_log_reserve_unlocked(1 + 2 * HP_MAX_VARINT);
    if (p == NULL) {
        *err = HP_EIO;
        return 0;
    }
    t->log_run = s.run;
    t->log_index = ++s.n_threads;
    size_t n = 0;
    p[n++] = HP_TAG_THREAD;
    n += hp_put_varint(p + n, t->log_index);
    n += hp_put_varint(p + n, (uint64_t)syscall(SYS_gettid));
    hp_log_commit_unlocked(n);
    return t->log_index;
}

static int write_alloc_unlocked(const hp_live_t *b, uint64_t dt) {
    uint8_t *p = hp_log_reserve_unlocked(2 + 5 * HP_MAX_VARINT);
    if (p == NULL) {
        return HP_EIO;
    }
    size_t n = 0;
    p[n++] = HP_TAG_ALLOC;
    n += hp_put_varint(p + n, dt);
    p[n++] = b->domain;
    n += hp_put_varint(p + n, b->thread);
    n += hp_put_varint(p + n, b->stack_id);
    n += hp_put_varint(p + n, b->size);
    n += hp_put_varint(p + n, (uint64_t)b->address);
    hp_log_commit_unlocked(n);
    s.counters.samples++;
    return HP_OK;
}

/* ------------------------------------------------------------------ sampled events */

void hp_hooks_record_alloc(hp_domain_t domain, void *address, uint64_t size) {
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
        b.stack_id = have_gil ? intern_stack_unlocked(&err) : 0;
        b.thread = thread_index_unlocked(&err);
        if (err != HP_OK || hp_liveset_add(&s.live, &b) != HP_OK) {
            s.counters.dropped++;
        } else if (write_alloc_unlocked(&b, hp_log_dt_unlocked()) != HP_OK) {
            hp_liveset_remove(&s.live, b.address, NULL);
            s.counters.dropped++;
        }
    }
    hp_log_unlock();
    hp_tls.busy = 0;
}

/* Removes a live sampled block and writes its FREE; returns 1 and the block if it was live. */
int hp_hooks_take_live(void *address, hp_live_t *out) {
    int found = 0;
    hp_log_lock();
    if (atomic_load_explicit(&recording, memory_order_relaxed) &&
        hp_liveset_remove(&s.live, (uintptr_t)address, out)) {
        found = 1;
        uint8_t *p = hp_log_reserve_unlocked(1 + 2 * HP_MAX_VARINT);
        if (p != NULL) {
            size_t n = 0;
            p[n++] = HP_TAG_FREE;
            n += hp_put_varint(p + n, hp_log_dt_unlocked());
            n += hp_put_varint(p + n, (uint64_t)(uintptr_t)address);
            hp_log_commit_unlocked(n);
            s.counters.frees_recorded++;
        } else {
            s.counters.dropped++;
        }
    }
    hp_log_unlock();
    return found;
}

void hp_hooks_record_free(void *address) {
    hp_tls.busy = 1;
    (void)hp_hooks_take_live(address, NULL);
    hp_tls.busy = 0;
}

/* A realloc that failed leaves the old block live: log it again under its old stack. */
void hp_hooks_restore_live(const hp_live_t *old) {
    hp_log_lock();
    if (atomic_load_explicit(&recording, memory_order_relaxed) && hp_log_writable_unlocked() &&
        hp_liveset_add(&s.live, old) == HP_OK) {
        if (write_alloc_unlocked(old, hp_log_dt_unlocked()) != HP_OK) {
            hp_liveset_remove(&s.live, old->address, NULL);
        }
    }
    hp_log_unlock();
}

/* ------------------------------------------------------------------ PyMem hooks */

/* pymalloc hands requests above 512 bytes to PyMem_RawMalloc, which would count them a second
 * time in our RAW hook; so OBJ and MEM hooks mark the thread busy around such calls and the RAW
 * hook forwards busy calls untouched. Below this size (512 less the padding of Python's debug
 * hooks) nothing nests, and the common case is a countdown decrement and a tail call. */
#define UNNESTED_MAX 448

/* The sampled path of an allocation (kept out of line so the fast paths stay leaf-like). */
static __attribute__((noinline)) void *sampled_malloc(hook_ctx_t *c, size_t size) {
    void *p = c->orig.malloc(c->orig.ctx, size);
    if (p != NULL && hp_sampler_slow(size)) {
        hp_hooks_record_alloc(c->domain, p, size);
    }
    return p;
}

static __attribute__((noinline)) void *sampled_calloc(hook_ctx_t *c, size_t nelem, size_t elsize) {
    void *p = c->orig.calloc(c->orig.ctx, nelem, elsize);
    if (p != NULL && hp_sampler_slow((uint64_t)nelem * elsize)) { /* no overflow: p != NULL */
        hp_hooks_record_alloc(c->domain, p, (uint64_t)nelem * elsize);
    }
    return p;
}

/* OBJ or MEM allocations that may nest into RAW: busy around the call, decide after it. */
static __attribute__((noinline)) void *nesting_malloc(hook_ctx_t *c, size_t size) {
    hp_tls.busy = 1;
    void *p = c->orig.malloc(c->orig.ctx, size);
    hp_tls.busy = 0;
    hp_hooks_after_alloc(c->domain, p, size);
    return p;
}

static __attribute__((noinline)) void *nesting_calloc(hook_ctx_t *c, size_t nelem, size_t elsize) {
    hp_tls.busy = 1;
    void *p = c->orig.calloc(c->orig.ctx, nelem, elsize);
    hp_tls.busy = 0;
    hp_hooks_after_alloc(c->domain, p, (uint64_t)nelem * elsize);
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
    int was_live = ptr != NULL && hp_liveset_maybe(ptr) && hp_hooks_take_live(ptr, &old);
    void *p = c->orig.realloc(c->orig.ctx, ptr, size);
    if (p == NULL && was_live) {
        hp_hooks_restore_live(&old);
    }
    hp_tls.busy = 0;
    hp_hooks_after_alloc(c->domain, p, size);
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
        hp_hooks_record_free(ptr);
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

static void *stats_malloc(void *ctx, size_t size) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy) {
        return c->orig.malloc(c->orig.ctx, size);
    }
    hp_tls.busy = 1;
    void *p = c->orig.malloc(c->orig.ctx, size);
    hp_tls.busy = 0;
    if (p != NULL) {
        hp_stats_count(size);
    }
    return p;
}

static void *stats_calloc(void *ctx, size_t nelem, size_t elsize) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy) {
        return c->orig.calloc(c->orig.ctx, nelem, elsize);
    }
    hp_tls.busy = 1;
    void *p = c->orig.calloc(c->orig.ctx, nelem, elsize);
    hp_tls.busy = 0;
    if (p != NULL) {
        hp_stats_count((uint64_t)nelem * elsize);
    }
    return p;
}

static void *stats_realloc(void *ctx, void *ptr, size_t size) {
    hook_ctx_t *c = ctx;
    if (hp_tls.busy) {
        return c->orig.realloc(c->orig.ctx, ptr, size);
    }
    hp_tls.busy = 1;
    void *p = c->orig.realloc(c->orig.ctx, ptr, size);
    hp_tls.busy = 0;
    if (p != NULL) {
        hp_stats_count(size);
    }
    return p;
}

static void stats_free(void *ctx, void *ptr) {
    hook_ctx_t *c = ctx;
    c->orig.free(c->orig.ctx, ptr);
}

static void install_hooks(hp_kind_t kind) {
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

/* Puts back the allocators we replaced, unless someone installed theirs on top of ours since
 * (tracemalloc started after us): then ours stay in place as pure forwarders, so theirs keep
 * working and still reach the original allocator through ours. */
static void uninstall_hooks(void) {
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

/* ------------------------------------------------------------------ lifecycle */

static void free_tables_unlocked(void) {
    hp_map_fini(&s.strings);
    hp_map_fini(&s.codes);
    hp_map_fini(&s.frames_by_pc);
    hp_map_fini(&s.frames_by_line);
    hp_stacktab_fini(&s.stacks);
    hp_liveset_fini(&s.live);
}

static int alloc_tables(void) {
    if (hp_map_init(&s.strings, 1024) != HP_OK || hp_map_init(&s.codes, 1024) != HP_OK ||
        hp_map_init(&s.frames_by_pc, 4096) != HP_OK || hp_map_init(&s.frames_by_line, 4096) != HP_OK ||
        hp_stacktab_init(&s.stacks, 4096) != HP_OK || hp_liveset_init(&s.live, 4096) != HP_OK) {
        free_tables_unlocked();
        return HP_ENOMEM;
    }
    return HP_OK;
}

/* Drops the references to code objects, outside the lock (a dealloc may free memory). GIL. */
static void release_codes(code_entry_t *entries, size_t n) {
    for (size_t i = 0; i < n; i++) {
        hp_frames_release(entries[i].code);
    }
    free(entries);
}

/* In a forked child, before starting anew: take out the hooks and free what the parent's session
 * left in our copy of memory. GIL. */
static void forget_orphaned_session(void) {
    if (!orphaned) {
        return;
    }
    restore_extra();
    uninstall_hooks();
    hp_log_lock();
    code_entry_t *codes = s.code_entries;
    size_t n_codes = s.n_codes;
    s.code_entries = NULL;
    s.n_codes = s.cap_codes = 0;
    free_tables_unlocked();
    hp_log_unlock();
    release_codes(codes, n_codes);
    orphaned = 0;
}

int hp_profile_start(const char *path, int exclusive, const hp_log_settings_t *settings) {
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
    rc = alloc_tables();
    if (rc != HP_OK) {
        return rc;
    }
    rc = hp_log_open(path, exclusive, settings);
    if (rc != HP_OK) {
        int saved = errno;
        free_tables_unlocked();
        errno = saved;
        return rc;
    }
    hp_log_lock();
    memset(&s.counters, 0, sizeof(s.counters));
    s.code_entries = NULL;
    s.n_codes = s.cap_codes = 0;
    s.n_strings = s.n_frames = s.n_stacks = s.n_threads = 0;
    s.run++;
    s.max_frames = settings->max_frames;
    atomic_store(&recording, 1);
    hp_log_unlock();
    atomic_store(&hp_hooks_kind, HP_KIND_PROFILE);
    install_hooks(HP_KIND_PROFILE);
    return HP_OK;
}

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

int hp_profile_running(void) {
    return atomic_load(&hp_hooks_kind) == HP_KIND_PROFILE;
}

void hp_profile_counters(hp_counters_t *out) {
    hp_log_lock();
    *out = s.counters;
    out->stacks = s.n_stacks;
    out->frames = s.n_frames;
    hp_log_unlock();
}

int hp_profile_stop(hp_counters_t *out) {
    if (atomic_load(&hp_hooks_kind) != HP_KIND_PROFILE) {
        return HP_ESTATE;
    }
    restore_extra();
    uninstall_hooks();
    atomic_store(&hp_hooks_kind, HP_KIND_NONE);
    hp_log_lock();
    atomic_store(&recording, 0); /* hooks still in flight see this under the lock and drop out */
    s.counters.stacks = s.n_stacks;
    s.counters.frames = s.n_frames;
    hp_counters_t counters = s.counters;
    code_entry_t *codes = s.code_entries;
    size_t n_codes = s.n_codes;
    s.code_entries = NULL;
    s.n_codes = s.cap_codes = 0;
    free_tables_unlocked();
    hp_log_unlock();
    int rc = hp_log_close(&counters);
    release_codes(codes, n_codes);
    if (out != NULL) {
        *out = counters;
    }
    return rc;
}

int hp_stats_start(void) {
    if (atomic_load(&hp_hooks_kind) != HP_KIND_NONE) {
        return HP_ESTATE;
    }
    forget_orphaned_session();
    hp_stats_reset();
    atomic_store(&hp_hooks_kind, HP_KIND_STATS);
    install_hooks(HP_KIND_STATS);
    return HP_OK;
}

int hp_stats_running(void) {
    return atomic_load(&hp_hooks_kind) == HP_KIND_STATS;
}

int hp_stats_stop(hp_stats_result_t *out) {
    if (atomic_load(&hp_hooks_kind) != HP_KIND_STATS) {
        return HP_ESTATE;
    }
    restore_extra();
    uninstall_hooks();
    atomic_store(&hp_hooks_kind, HP_KIND_NONE);
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
    orphaned = hooks_installed;
    atomic_store(&recording, 0);
    atomic_store(&hp_hooks_kind, HP_KIND_NONE);
    hp_log_forget_in_child(); /* releases the lock */
}

int hp_hooks_init(void) {
    if (hp_sampler_init() != HP_OK) {
        return HP_ETHREAD;
    }
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
        return HP_ETHREAD;
    }
    return HP_OK;
}
