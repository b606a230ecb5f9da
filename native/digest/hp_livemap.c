// SPDX-License-Identifier: MIT
/* The digest's live map (see hp_livemap.h). */
#include "hp_livemap.h"

#include <stdlib.h>

#include "hp_dalloc.h"

int hp_livemap_init(hp_livemap_t *m, size_t cap) {
    m->slots = cap <= SIZE_MAX / sizeof *m->slots ? hp_dalloc_big(cap * sizeof *m->slots, 1) : NULL;
    if (m->slots == NULL) {
        return -1;
    }
    m->mask = cap - 1;
    m->count = 0;
    return 0;
}

void hp_livemap_fini(hp_livemap_t *m) {
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}

int hp_livemap_rehash(hp_livemap_t *m) {
    size_t old_cap = m->mask + 1;
    if (old_cap > SIZE_MAX / 2 / sizeof(hp_dlive_t)) {
        return -1;
    }
    hp_livemap_t n;
    if (hp_livemap_init(&n, old_cap * 2) != 0) {
        return -1;
    }
    for (size_t i = 0; i < old_cap; i++) {
        hp_dlive_t *e = &m->slots[i];
        if (e->used) {
            size_t j = hp_livemap_slot(e->addr, n.mask);
            while (n.slots[j].used) {
                j = (j + 1) & n.mask;
            }
            n.slots[j] = *e;
        }
    }
    n.count = m->count;
    free(m->slots);
    *m = n;
    return 0;
}

/* Removes the entry at slot `e` (backward-shift deletion keeps probe chains whole). */
void hp_livemap_delete(hp_livemap_t *m, hp_dlive_t *e) {
    size_t i = (size_t)(e - m->slots);
    size_t j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        hp_dlive_t *x = &m->slots[j];
        if (!x->used) {
            break;
        }
        size_t k = hp_livemap_slot(x->addr, m->mask);
        /* x may move to i if its home k is not cyclically in (i, j]. */
        int in_range = (i <= j) ? (k > i && k <= j) : (k > i || k <= j);
        if (!in_range) {
            m->slots[i] = *x;
            i = j;
        }
    }
    m->slots[i].used = 0;
    m->count--;
}
