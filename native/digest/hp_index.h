// SPDX-License-Identifier: MIT
/* The interval index: one 24-byte entry per sampled allocation (times, stack, size), capped at
 * the digest's index_limit, from which the window queries of hp_digest.h are answered (hp_window.c);
 * without it they re-scan the log. */
#ifndef HP_INDEX_H
#define HP_INDEX_H

#include "hp_digest_impl.h"

void hp_index_drop(hp_digest_t *d);

/* Appends an allocation; when the index would pass its limit or memory runs out, the index is
 * dropped (queries then re-scan the log) rather than failing the digest. */
void hp_index_push(hp_digest_t *d, uint64_t t, uint32_t stack, uint64_t size, uint64_t *idx);

static inline uint64_t hp_index_bytes(const hp_digest_t *d) {
    return (uint64_t)d->index_cap * sizeof(hp_ientry_t) + (uint64_t)d->big_cap * sizeof(hp_bigsize_t);
}

#endif /* HP_INDEX_H */
