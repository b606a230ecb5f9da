// SPDX-License-Identifier: MIT
/* Stack interning for the running profile: the calling thread's Python stack becomes one stack
 * id, and every string, frame and stack is defined in the log (STRING, FRAME, STACK) the first
 * time it is seen.
 *
 * Owns: the profile's interning tables (strings by str object, code objects, frames by
 * instruction and by line, stacks), the code objects it holds references to, and the scratch
 * arrays of one walk. Guarded by the hp_log lock: every function suffixed _unlocked needs it held.
 * hp_stacks_alloc runs before the run starts and hp_stacks_release after it ended (GIL, no lock).
 * Tables come from libc (hp_intern.h), so the _unlocked functions are hook-safe. */
#ifndef HP_STACKS_H
#define HP_STACKS_H

#include <stddef.h>
#include <stdint.h>

#include "hp_record.h"

/* Code objects a finished run held references to; hp_stacks_release drops them. */
typedef struct {
    struct hp_code_entry *entries;
    size_t n;
} hp_stacks_codes_t;

/* Allocates empty tables for a run. Returns 0 or HP_ENOMEM (nothing left allocated). GIL, before
 * the hooks are installed. */
int hp_stacks_alloc(void);

/* Starts the ids of a new run from 1 and zeroes its counters; walks stop at `max_frames`. */
void hp_stacks_reset_unlocked(uint32_t max_frames);

/* The id of the calling thread's current stack (0 = empty), defining what is new in the log.
 * Call only with the GIL held (it walks frames). On failure returns 0 and sets *err to HP_ENOMEM
 * or HP_EIO (the writer is off). Hook-safe. */
uint32_t hp_stacks_current_unlocked(int *err);

/* Fills the stacks, frames and truncated_stacks counters. */
void hp_stacks_counters_unlocked(hp_counters_t *c);

/* Frees the tables and hands over the code objects, to release outside the lock. */
void hp_stacks_free_unlocked(hp_stacks_codes_t *codes);

/* Drops the references in `codes` and frees the list (a dealloc may run). GIL, no lock. */
void hp_stacks_release(hp_stacks_codes_t *codes);

#endif /* HP_STACKS_H */
