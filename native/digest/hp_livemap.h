// SPDX-License-Identifier: MIT
/* The digest's live map: the sampled allocations live at the current point of the replay,
 * address -> (size, stack, time or index position), for matching FREEs; used by the digest and by
 * the window queries that re-scan the log. Open addressing with linear probing and backward-shift
 * deletion. A map belongs to its caller (no lock). */
#ifndef HP_LIVEMAP_H
#define HP_LIVEMAP_H

#include "hp_digest_impl.h"

/* An empty map of `cap` slots (a power of two). 0 or -1 (out of memory). */
int hp_livemap_init(hp_livemap_t *m, size_t cap);

void hp_livemap_fini(hp_livemap_t *m);

/* Doubles the slots. 0 or -1 (out of memory; the map unchanged). */
int hp_livemap_rehash(hp_livemap_t *m);

/* Removes the entry at slot `e` (backward-shift deletion keeps probe chains whole). */
void hp_livemap_delete(hp_livemap_t *m, hp_dlive_t *e);

static inline size_t hp_livemap_slot(uint64_t addr, size_t mask) {
    return (size_t)hp_mix64(addr) & mask;
}

/* The slot of `addr`, or the empty slot where it would go (*found tells which). */
static inline hp_dlive_t *hp_livemap_probe(hp_livemap_t *m, uint64_t addr, int *found) {
    size_t j = hp_livemap_slot(addr, m->mask);
    for (;;) {
        hp_dlive_t *e = &m->slots[j];
        if (!e->used) {
            *found = 0;
            return e;
        }
        if (e->addr == addr) {
            *found = 1;
            return e;
        }
        j = (j + 1) & m->mask;
    }
}

/* Makes room so one insert keeps the load at most 3/4. */
static inline int hp_livemap_reserve(hp_livemap_t *m) {
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) {
        return hp_livemap_rehash(m);
    }
    return 0;
}

#endif /* HP_LIVEMAP_H */
