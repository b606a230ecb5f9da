// SPDX-License-Identifier: MIT
/* NumPy array buffers: they bypass PyMem, so the biggest allocations of a data notebook would be
 * invisible. NumPy (>= 1.22) allocates array data through a handler; its default handler is one
 * static struct shared by every context and thread, so wrapping its four functions in place
 * covers every array whose data comes from the default allocator, in every thread, including
 * frees of arrays allocated before profiling (which then just forward). A context that installed
 * its own handler with PyDataMem_SetHandler is not covered (said by hp_numpy_install's result).
 * All three functions need the GIL and are not hook-safe. */
#ifndef HP_NUMPY_H
#define HP_NUMPY_H

/* Wraps NumPy's default data allocator. Returns 1 if wrapped (or already), 0 if NumPy is not
 * imported, was built without handler support, or its current handler is not the default one;
 * -1 with a Python exception set on an unexpected error. Call only after `numpy` is imported. */
int hp_numpy_install(void);

/* Puts NumPy's functions back if we wrapped them. Safe to call at any time. */
void hp_numpy_uninstall(void);

/* 1 while NumPy's allocator is wrapped. */
int hp_numpy_installed(void);

#endif /* HP_NUMPY_H */
