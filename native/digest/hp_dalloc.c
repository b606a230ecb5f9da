// SPDX-License-Identifier: MIT
/* The digest's memory helpers (see hp_dalloc.h). */
#include "hp_dalloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_ALIGN ((size_t)2 << 20)
#define HUGE_MIN ((size_t)4 << 20)

/* Grows *p (of *cap elements of `elem` bytes) to hold `need`; new memory is zeroed when `zero`.
 * Returns 0 or -1 (out of memory or size overflow; *p unchanged). */
int hp_dalloc_grow(void **p, size_t *cap, size_t need, size_t elem, int zero) {
    if (need <= *cap) {
        return 0;
    }
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) {
            return -1;
        }
        nc *= 2;
    }
    if (nc > SIZE_MAX / elem) {
        return -1;
    }
    void *q = realloc(*p, nc * elem);
    if (q == NULL) {
        return -1;
    }
    if (zero) {
        memset((char *)q + *cap * elem, 0, (nc - *cap) * elem);
    }
    *p = q;
    *cap = nc;
    return 0;
}

/* Grows a pair of arrays that share one capacity. */
int hp_dalloc_grow2(void **a, void **b, size_t *cap, size_t need, size_t ea, size_t eb) {
    if (need <= *cap) {
        return 0;
    }
    size_t ca = *cap, cb = *cap;
    if (hp_dalloc_grow(a, &ca, need, ea, 1) != 0 || hp_dalloc_grow(b, &cb, need, eb, 1) != 0) {
        /* One of them may have grown; capacity stays the smaller, which is safe. */
        return -1;
    }
    *cap = ca < cb ? ca : cb;
    return 0;
}

void *hp_dalloc_big(size_t bytes, int zero) {
    if (bytes < HUGE_MIN) {
        return zero ? calloc(1, bytes) : malloc(bytes);
    }
    void *p = NULL;
    if (posix_memalign(&p, HUGE_ALIGN, bytes) != 0) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    if (zero) {
        memset(p, 0, bytes);
    }
    return p;
}

/* Grows a block with realloc (for large blocks glibc moves pages with mremap: no copy, and only
 * the new pages are faulted in) and offers its 2 MiB-aligned part to transparent huge pages. */
void *hp_dalloc_big_realloc(void *old, size_t bytes) {
    void *p = realloc(old, bytes);
#ifdef MADV_HUGEPAGE
    if (p != NULL && bytes >= HUGE_MIN) {
        uintptr_t a = ((uintptr_t)p + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1);
        uintptr_t e = ((uintptr_t)p + bytes) & ~(uintptr_t)(HUGE_ALIGN - 1);
        if (e > a) {
            (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
        }
    }
#endif
    return p;
}

int hp_dalloc_oom(hp_dec_error_t *err) {
    return hp_dec_fail(err, HP_DEC_ENOMEM, 0, "out of memory");
}
