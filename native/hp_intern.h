// SPDX-License-Identifier: MIT
/* Interning tables: a map from a pair of 64-bit keys to a dense 32-bit id, and a table of stacks
 * (sequences of frame ids) to ids. Used to give every string, code location and stack an id the
 * first time it is seen, so the log defines each once and events refer to it by number.
 *
 * Not thread-safe: every table is guarded by whoever owns it (the profiler's tables by the
 * hp_log lock). Memory comes from libc, which no PyMem hook sees, so these are hook-safe. */
#ifndef HP_INTERN_H
#define HP_INTERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t k1;
    uint64_t k2;
    uint32_t value;   /* 0 = empty slot */
} hp_map_entry_t;

typedef struct {
    hp_map_entry_t *slots;
    size_t capacity;  /* power of two */
    size_t count;
} hp_map_t;

/* Returns 0 or HP_ENOMEM. */
int hp_map_init(hp_map_t *m, size_t capacity);
void hp_map_fini(hp_map_t *m);
/* The value stored for (k1, k2), or 0. */
uint32_t hp_map_get(const hp_map_t *m, uint64_t k1, uint64_t k2);
/* Stores value (nonzero) for a key not yet present. Returns 0 or HP_ENOMEM (map unchanged). */
int hp_map_put(hp_map_t *m, uint64_t k1, uint64_t k2, uint32_t value);

typedef struct {
    uint64_t hash;
    uint32_t offset;  /* into frames */
    uint32_t depth;
    uint32_t id;      /* 0 = empty slot */
} hp_stack_slot_t;

typedef struct {
    hp_stack_slot_t *slots;
    size_t capacity;  /* power of two */
    size_t count;
    uint32_t *frames; /* all stacks' frame ids, back to back */
    size_t frames_len;
    size_t frames_cap;
} hp_stacktab_t;

int hp_stacktab_init(hp_stacktab_t *t, size_t capacity);
void hp_stacktab_fini(hp_stacktab_t *t);
/* Looks up a stack; returns its id or 0. */
uint32_t hp_stacktab_get(const hp_stacktab_t *t, const uint32_t *frames, uint32_t depth, uint64_t hash);
/* Adds a stack not yet present under `id`. Returns 0 or HP_ENOMEM (table unchanged). */
int hp_stacktab_put(hp_stacktab_t *t, const uint32_t *frames, uint32_t depth, uint64_t hash, uint32_t id);
/* The hash hp_stacktab_get/put expect. */
uint64_t hp_stack_hash(const uint32_t *frames, uint32_t depth);

#endif /* HP_INTERN_H */
