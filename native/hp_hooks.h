// SPDX-License-Identifier: MIT
/* The PyMem hooks: the hot path of every allocation in the process.
 *
 * On the RAW, MEM and OBJ domains our allocators forward every call to the allocator that was
 * there before, after a countdown decrement (hp_sampler.h) or, for a free, one load from the
 * live-set filter (hp_liveset.h); the rare sampled call goes to the sampled-event path
 * (hp_events.h). Stats mode installs counting hooks instead (hp_stats.h).
 *
 * Owns:
 * - each domain's saved allocator and our context for it: written by hp_hooks_install with the
 *   GIL while none of our hooks is on that domain, read by the hooks; static, never freed, so a
 *   hook still running on another thread after uninstall only forwards;
 * - hp_hooks_kind and whether our allocators are in place: written by the session with the GIL
 *   (and by its fork handler in the child), read by any hook;
 * - the calling thread's quiet depth (thread-local, in hp_tls).
 * RAW calls may come without the GIL; no hook takes the GIL or creates a Python object.
 *
 * Python.h is included by hp_hooks.c only for the allocator API (PyMemAllocatorEx,
 * PyMem_GetAllocator, PyMem_SetAllocator), not for objects. */
#ifndef HP_HOOKS_H
#define HP_HOOKS_H

#include <stdatomic.h>

typedef enum {
    HP_KIND_NONE = 0,
    HP_KIND_PROFILE = 1,
    HP_KIND_STATS = 2,
} hp_kind_t;

/* What the hooks do now (an hp_kind_t). See above for who writes it. */
extern _Atomic int hp_hooks_kind;

/* Installs our allocators of `kind` (PROFILE or STATS) on the three domains, saving whatever was
 * there unless it is our own forwarder left from an earlier run. GIL; not hook-safe. */
void hp_hooks_install(hp_kind_t kind);

/* Puts back the allocators we replaced, unless someone installed theirs on top of ours since
 * (tracemalloc started after us): then ours stay in place as pure forwarders. GIL. */
void hp_hooks_uninstall(void);

/* 1 between install and uninstall (in a forked child too: the parent's hooks came along). GIL. */
int hp_hooks_installed(void);

/* Enters (quiet != 0) or leaves a quiet section; sections nest. Inside one, the calling thread's
 * allocations are not sampled (frees of sampled blocks still are): heapprof_nb's own bookkeeping
 * during a profile should not show up in it. Thread-local. */
void hp_hooks_set_quiet(int quiet);
/* How deep the calling thread is in quiet sections (0 = sampled normally). */
int hp_hooks_quiet_depth(void);

#endif /* HP_HOOKS_H */
