// SPDX-License-Identifier: MIT
/* Wrapping NumPy's default data allocator (see hp_numpy.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hp_numpy.h"

#include "hp_hooks.h"

#ifdef HP_HAVE_NUMPY
#define NPY_NO_DEPRECATED_API NPY_1_22_API_VERSION
#define NPY_TARGET_VERSION NPY_1_22_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL hp_numpy_ARRAY_API
#include <numpy/arrayobject.h>

#include <string.h>

/* NumPy's handler we patched and its original functions. GIL for writes; hooks read `orig`. */
static PyDataMem_Handler *patched;
static PyDataMemAllocator orig;

static void stats_or_sample(void *p, size_t size) {
    if (atomic_load_explicit(&hp_hooks_kind, memory_order_relaxed) == HP_KIND_STATS) {
        if (p != NULL) {
            hp_stats_count(size);
        }
    } else {
        hp_hooks_after_alloc(HP_DOMAIN_NUMPY, p, size);
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
    int was_live = ptr != NULL && hp_liveset_maybe(ptr) && hp_hooks_take_live(ptr, &old);
    void *p = orig.realloc(orig.ctx, ptr, size);
    if (p == NULL && was_live) {
        hp_hooks_restore_live(&old);
    }
    hp_tls.busy = 0;
    stats_or_sample(p, size);
    return p;
}

static void np_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    if (ptr != NULL) {
        hp_hooks_before_free(ptr);
    }
    orig.free(orig.ctx, ptr, size);
}

static int import_numpy_api(void) {
    if (PyArray_API != NULL) {
        return 0;
    }
    /* Only when the program imported NumPy itself: we never import it. */
    PyObject *modules = PyImport_GetModuleDict();
    if (PyDict_GetItemString(modules, "numpy") == NULL) {
        return 1;
    }
    if (_import_array() < 0) {
        PyErr_Clear(); /* an incompatible NumPy: profile without its arrays */
        return 1;
    }
    return 0;
}

int hp_numpy_install(void) {
    if (patched != NULL) {
        return 1;
    }
    int rc = import_numpy_api();
    if (rc != 0) {
        return rc > 0 ? 0 : -1;
    }
    if (PyArray_GetNDArrayCFeatureVersion() < NPY_1_22_API_VERSION) {
        return 0;
    }
    PyObject *capsule = PyDataMem_GetHandler();
    if (capsule == NULL) {
        return -1;
    }
    PyDataMem_Handler *handler = PyCapsule_GetPointer(capsule, "mem_handler");
    Py_DECREF(capsule); /* the default handler's capsule is a module-lifetime singleton */
    if (handler == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (strncmp(handler->name, "default_allocator", sizeof(handler->name)) != 0 ||
        handler->version != 1) {
        return 0;
    }
    orig = handler->allocator;
    patched = handler;
    /* Pointer-sized stores: a thread reading them mid-update gets the old or the new function,
     * and each forwards correctly. */
    handler->allocator.malloc = np_malloc;
    handler->allocator.calloc = np_calloc;
    handler->allocator.realloc = np_realloc;
    handler->allocator.free = np_free;
    return 1;
}

void hp_numpy_uninstall(void) {
    if (patched == NULL) {
        return;
    }
    patched->allocator.malloc = orig.malloc;
    patched->allocator.calloc = orig.calloc;
    patched->allocator.realloc = orig.realloc;
    patched->allocator.free = orig.free;
    patched = NULL; /* `orig` stays valid for hooks still running */
}

int hp_numpy_installed(void) { return patched != NULL; }

#else /* !HP_HAVE_NUMPY */

int hp_numpy_install(void) { return 0; }
void hp_numpy_uninstall(void) {}
int hp_numpy_installed(void) { return 0; }

#endif
