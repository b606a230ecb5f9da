// SPDX-License-Identifier: MIT
/* NumPy array buffers: they bypass PyMem, so the biggest allocations of a data notebook would be
 * invisible. NumPy (>= 1.22) allocates array data through a handler; its default handler is one
 * static struct shared by every context and thread, so wrapping its four functions in place
 * covers every array whose data comes from the default allocator, in every thread, including
 * frees of arrays allocated before profiling (which then just forward). A context that installed
 * its own handler with PyDataMem_SetHandler is not covered.
 *
 * No Python and no NumPy header here: the binding (hp_module.c) finds NumPy's default handler
 * through its capsule, checks it, and hands over the address of the handler's allocator struct,
 * whose layout hp_numpy_allocator_t mirrors (hp_module.c asserts that at compile time).
 *
 * Owns: the patched allocator struct and NumPy's original functions. Written with the GIL by
 * install/uninstall; `orig` is read by the wrapped functions on any thread and stays valid after
 * uninstall, so a call still in flight forwards correctly. install, uninstall and installed need
 * the GIL and are not hook-safe. */
#ifndef HP_NUMPY_H
#define HP_NUMPY_H

#include <stddef.h>

/* NumPy's PyDataMemAllocator (numpy/ndarraytypes.h), field for field. */
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} hp_numpy_allocator_t;

/* Wraps the functions of NumPy's default handler's allocator in place (nothing if already
 * wrapped). Pointer-sized stores: a thread reading them mid-update gets the old or the new
 * function, and each forwards correctly. */
void hp_numpy_install(hp_numpy_allocator_t *allocator);

/* Puts NumPy's functions back if we wrapped them. Safe to call at any time. */
void hp_numpy_uninstall(void);

/* 1 while NumPy's allocator is wrapped. */
int hp_numpy_installed(void);

#endif /* HP_NUMPY_H */
