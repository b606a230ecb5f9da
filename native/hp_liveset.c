// SPDX-License-Identifier: MIT
/* The exact table behind the live-block filter: linear probing with backward-shift deletion, so
 * no tombstones accumulate over a long run of allocations and frees. */
#include "hp_liveset.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAPACITY 1024u  /* slots of the smallest table */
#define SATURATED 255u      /* a filter count that no longer knows its true value */

_Atomic uint8_t hp_live_filter[HP_FILTER_SIZE]; /* written under the hp_log lock, read by any thread */

static inline size_t slot_of(uintptr_t address, size_t capacity) {
    return hp_mix64(address) & (capacity - 1);
}

static void filter_add(uintptr_t address) {
    _Atomic uint8_t *c = &hp_live_filter[hp_filter_index(address)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    if (v < SATURATED) {
        atomic_store_explicit(c, (uint8_t)(v + 1), memory_order_relaxed);
    }
}

static void filter_remove(uintptr_t address) {
    _Atomic uint8_t *c = &hp_live_filter[hp_filter_index(address)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    if (v > 0 && v < SATURATED) { /* a saturated count no longer knows its true value: keep it */
        atomic_store_explicit(c, (uint8_t)(v - 1), memory_order_relaxed);
    }
}

int hp_liveset_init(hp_liveset_t *s, size_t capacity) {
    size_t c = MIN_CAPACITY;
    while (c < capacity) {
        c <<= 1;
    }
    s->slots = calloc(c, sizeof(*s->slots));
    s->capacity = s->slots ? c : 0;
    s->count = 0;
    return s->slots ? HP_OK : HP_ENOMEM;
}

void hp_liveset_fini(hp_liveset_t *s) {
    /* Clear every count, saturated ones included, so no slot stays "maybe" into the next run.
     * Only lock holders write the filter; a racing reader sees a zero or the old count, both of
     * which only decide whether it takes the lock. */
    memset((void *)hp_live_filter, 0, sizeof(hp_live_filter));
    free(s->slots);
    s->slots = NULL;
    s->capacity = s->count = 0;
}

static void insert_slot(hp_live_t *slots, size_t capacity, const hp_live_t *block) {
    size_t mask = capacity - 1;
    size_t i = slot_of(block->address, capacity);
    while (slots[i].address != 0) {
        i = (i + 1) & mask;
    }
    slots[i] = *block;
}

int hp_liveset_add(hp_liveset_t *s, const hp_live_t *block) {
    if ((s->count + 1) * 2 > s->capacity) {
        size_t capacity = s->capacity * 2;
        hp_live_t *slots = calloc(capacity, sizeof(*slots));
        if (slots == NULL) {
            return HP_ENOMEM;
        }
        for (size_t i = 0; i < s->capacity; i++) {
            if (s->slots[i].address != 0) {
                insert_slot(slots, capacity, &s->slots[i]);
            }
        }
        free(s->slots);
        s->slots = slots;
        s->capacity = capacity;
    }
    insert_slot(s->slots, s->capacity, block);
    s->count++;
    filter_add(block->address);
    return HP_OK;
}

int hp_liveset_remove(hp_liveset_t *s, uintptr_t address, hp_live_t *out) {
    if (s->slots == NULL || address == 0) {
        return 0;
    }
    size_t mask = s->capacity - 1;
    size_t i = slot_of(address, s->capacity);
    while (s->slots[i].address != address) {
        if (s->slots[i].address == 0) {
            return 0;
        }
        i = (i + 1) & mask;
    }
    if (out != NULL) {
        *out = s->slots[i];
    }
    /* Backward-shift deletion: pull later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; s->slots[j].address != 0; j = (j + 1) & mask) {
        size_t home = slot_of(s->slots[j].address, s->capacity);
        /* Move j into the hole if its home is not cyclically in (hole, j]. */
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            s->slots[hole] = s->slots[j];
            hole = j;
        }
    }
    s->slots[hole].address = 0;
    s->count--;
    filter_remove(address);
    return 1;
}
