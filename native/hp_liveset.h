// SPDX-License-Identifier: MIT
/* The set of live sampled blocks: every address whose ALLOC was logged and whose FREE was not.
 *
 * Every free in the process asks "is this address sampled?", so the common answer (no) must cost
 * about one load. A counting filter answers it without a lock: one byte per slot of a fixed
 * array, indexed by a hash of the address, counting how many live sampled addresses fall there
 * (saturating at 255, then never decremented). Zero means "certainly not sampled"; anything else
 * sends the caller to the exact table under the hp_log lock.
 *
 * The filter is static and never freed, so a hook still running after stop() reads valid memory.
 * Races: an address is inserted before its malloc returns to the program, so no free of it can
 * precede the insert; the filter byte is written under the lock and read with relaxed atomics. */
#ifndef HP_LIVESET_H
#define HP_LIVESET_H

#include <stdatomic.h>
#include <stdint.h>

#include "hp_common.h"

#define HP_FILTER_BITS 20
#define HP_FILTER_SIZE (1u << HP_FILTER_BITS)

extern _Atomic uint8_t hp_live_filter[HP_FILTER_SIZE];

/* Blocks are 16-byte aligned, so bits 4..23 of the address: two instructions on every free.
 * Addresses 16 MiB apart share a slot; with thousands of live samples in a million slots a
 * free still finds a zero almost always. */
static inline uint32_t hp_filter_index(uintptr_t address) {
    return (uint32_t)((address >> 4) & (HP_FILTER_SIZE - 1));
}

/* Lock-free, hook-safe: 0 if `address` is certainly not a live sampled block. */
static inline int hp_liveset_maybe(const void *address) {
    return atomic_load_explicit(&hp_live_filter[hp_filter_index((uintptr_t)address)],
                                memory_order_relaxed) != 0;
}

/* What the set keeps per block, so a failed realloc can restore it. */
typedef struct {
    uintptr_t address;   /* 0 = empty slot */
    uint64_t size;
    uint32_t stack_id;
    uint32_t thread;
    uint8_t domain;
} hp_live_t;

/* Guarded by the hp_log lock. */
typedef struct {
    hp_live_t *slots;
    size_t capacity;
    size_t count;
} hp_liveset_t;

int hp_liveset_init(hp_liveset_t *s, size_t capacity);
/* Frees the table and zeroes the whole filter. */
void hp_liveset_fini(hp_liveset_t *s);
/* Adds a block (address not present). Returns 0 or HP_ENOMEM. */
int hp_liveset_add(hp_liveset_t *s, const hp_live_t *block);
/* Removes `address` if present, copying its record to *out; returns 1 if it was there. */
int hp_liveset_remove(hp_liveset_t *s, uintptr_t address, hp_live_t *out);

#endif /* HP_LIVESET_H */
