// SPDX-License-Identifier: MIT
/* The digest's memory helpers: growing arrays, large tables offered to transparent huge pages,
 * saturating multiplication, the out-of-memory error. Stateless; allocations come from libc. */
#ifndef HP_DALLOC_H
#define HP_DALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "hp_decode.h"

/* hp_dalloc_grow for an array variable and its capacity. */
#define HP_GROW(arr, cap, need, zero) hp_dalloc_grow((void **)&(arr), &(cap), (need), sizeof *(arr), (zero))

/* Grows *p (of *cap elements of `elem` bytes) to hold `need`; new memory is zeroed when `zero`.
 * Returns 0 or -1 (out of memory or size overflow; *p unchanged). */
int hp_dalloc_grow(void **p, size_t *cap, size_t need, size_t elem, int zero);

/* Grows a pair of arrays that share one capacity. */
int hp_dalloc_grow2(void **a, void **b, size_t *cap, size_t need, size_t ea, size_t eb);

/* A large table (the live map, the interval index): probed at random, so on 4 KiB pages nearly
 * every probe also misses the TLB; from 4 MiB it is 2 MiB-aligned and offered to transparent huge
 * pages (Linux; elsewhere a plain allocation). Zeroed when `zero`. NULL when out of memory. */
void *hp_dalloc_big(size_t bytes, int zero);

/* Grows a block with realloc (for large blocks glibc moves pages with mremap: no copy, and only
 * the new pages are faulted in) and offers its 2 MiB-aligned part to transparent huge pages. */
void *hp_dalloc_big_realloc(void *old, size_t bytes);

/* Fills *err with HP_DEC_ENOMEM; returns it. */
int hp_dalloc_oom(hp_dec_error_t *err);

/* a * b, or UINT64_MAX if that overflows. */
static inline uint64_t hp_dalloc_sat_mul(uint64_t a, uint64_t b) {
    if (a != 0 && b > UINT64_MAX / a) {
        return UINT64_MAX;
    }
    return a * b;
}

#endif /* HP_DALLOC_H */
