// SPDX-License-Identifier: MIT
/* Open-addressing hash tables with linear probing; they only grow (entries live for a run). */
#include "hp_intern.h"

#include <stdlib.h>
#include <string.h>

#include "hp_common.h"

#define MIN_CAPACITY 16u          /* slots of the smallest table */
#define INITIAL_STACK_FRAMES 4096u /* frame ids of all stacks, before the first growth */

static size_t round_pow2(size_t n) {
    size_t c = MIN_CAPACITY;
    while (c < n) {
        c <<= 1;
    }
    return c;
}

static inline uint64_t pair_hash(uint64_t k1, uint64_t k2) {
    return hp_mix64(k1 ^ hp_mix64(k2 + UINT64_C(0x9e3779b97f4a7c15)));
}

int hp_map_init(hp_map_t *m, size_t capacity) {
    m->capacity = round_pow2(capacity);
    m->count = 0;
    m->slots = calloc(m->capacity, sizeof(*m->slots));
    return m->slots != NULL ? HP_OK : HP_ENOMEM;
}

void hp_map_fini(hp_map_t *m) {
    free(m->slots);
    m->slots = NULL;
    m->capacity = m->count = 0;
}

uint32_t hp_map_get(const hp_map_t *m, uint64_t k1, uint64_t k2) {
    size_t mask = m->capacity - 1;
    for (size_t i = pair_hash(k1, k2) & mask;; i = (i + 1) & mask) {
        const hp_map_entry_t *e = &m->slots[i];
        if (e->value == 0) {
            return 0;
        }
        if (e->k1 == k1 && e->k2 == k2) {
            return e->value;
        }
    }
}

static void map_insert(hp_map_entry_t *slots, size_t capacity, hp_map_entry_t entry) {
    size_t mask = capacity - 1;
    size_t i = pair_hash(entry.k1, entry.k2) & mask;
    while (slots[i].value != 0) {
        i = (i + 1) & mask;
    }
    slots[i] = entry;
}

int hp_map_put(hp_map_t *m, uint64_t k1, uint64_t k2, uint32_t value) {
    if ((m->count + 1) * 2 > m->capacity) {
        size_t capacity = m->capacity * 2;
        hp_map_entry_t *slots = calloc(capacity, sizeof(*slots));
        if (slots == NULL) {
            return HP_ENOMEM;
        }
        for (size_t i = 0; i < m->capacity; i++) {
            if (m->slots[i].value != 0) {
                map_insert(slots, capacity, m->slots[i]);
            }
        }
        free(m->slots);
        m->slots = slots;
        m->capacity = capacity;
    }
    hp_map_entry_t e = {k1, k2, value};
    map_insert(m->slots, m->capacity, e);
    m->count++;
    return HP_OK;
}

uint64_t hp_stack_hash(const uint32_t *frames, uint32_t depth) {
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ depth;
    for (uint32_t i = 0; i < depth; i++) {
        h = hp_mix64(h ^ frames[i]) + i;
    }
    return h;
}

int hp_stacktab_init(hp_stacktab_t *t, size_t capacity) {
    memset(t, 0, sizeof(*t));
    t->capacity = round_pow2(capacity);
    t->slots = calloc(t->capacity, sizeof(*t->slots));
    if (t->slots == NULL) {
        return HP_ENOMEM;
    }
    t->frames_cap = INITIAL_STACK_FRAMES;
    t->frames = malloc(t->frames_cap * sizeof(*t->frames));
    if (t->frames == NULL) {
        free(t->slots);
        t->slots = NULL;
        return HP_ENOMEM;
    }
    return HP_OK;
}

void hp_stacktab_fini(hp_stacktab_t *t) {
    free(t->slots);
    free(t->frames);
    memset(t, 0, sizeof(*t));
}

uint32_t hp_stacktab_get(const hp_stacktab_t *t, const uint32_t *frames, uint32_t depth, uint64_t hash) {
    size_t mask = t->capacity - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const hp_stack_slot_t *s = &t->slots[i];
        if (s->id == 0) {
            return 0;
        }
        /* depth 0 (no Python frame) may come with frames == NULL: memcmp of NULL is undefined. */
        if (s->hash == hash && s->depth == depth &&
            (depth == 0 || memcmp(t->frames + s->offset, frames, depth * sizeof(*frames)) == 0)) {
            return s->id;
        }
    }
}

static void stack_insert(hp_stack_slot_t *slots, size_t capacity, hp_stack_slot_t slot) {
    size_t mask = capacity - 1;
    size_t i = slot.hash & mask;
    while (slots[i].id != 0) {
        i = (i + 1) & mask;
    }
    slots[i] = slot;
}

int hp_stacktab_put(hp_stacktab_t *t, const uint32_t *frames, uint32_t depth, uint64_t hash, uint32_t id) {
    if (t->frames_len + depth > UINT32_MAX) {
        return HP_ENOMEM;
    }
    if (t->frames_len + depth > t->frames_cap) {
        size_t cap = t->frames_cap * 2;
        while (cap < t->frames_len + depth) {
            cap *= 2;
        }
        uint32_t *grown = realloc(t->frames, cap * sizeof(*grown));
        if (grown == NULL) {
            return HP_ENOMEM;
        }
        t->frames = grown;
        t->frames_cap = cap;
    }
    if ((t->count + 1) * 2 > t->capacity) {
        size_t capacity = t->capacity * 2;
        hp_stack_slot_t *slots = calloc(capacity, sizeof(*slots));
        if (slots == NULL) {
            return HP_ENOMEM;
        }
        for (size_t i = 0; i < t->capacity; i++) {
            if (t->slots[i].id != 0) {
                stack_insert(slots, capacity, t->slots[i]);
            }
        }
        free(t->slots);
        t->slots = slots;
        t->capacity = capacity;
    }
    if (depth > 0) {
        memcpy(t->frames + t->frames_len, frames, depth * sizeof(*frames));
    }
    hp_stack_slot_t slot = {hash, (uint32_t)t->frames_len, depth, id};
    stack_insert(t->slots, t->capacity, slot);
    t->frames_len += depth;
    t->count++;
    return HP_OK;
}
