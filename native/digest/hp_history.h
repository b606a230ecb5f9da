// SPDX-License-Identifier: MIT
/* The time history: buckets of live totals closed as time passes (doubling their width in
 * automatic mode), the per-site series folded below the precision, and the history and peak
 * queries of hp_digest.h. */
#ifndef HP_HISTORY_H
#define HP_HISTORY_H

#include "hp_dalloc.h"
#include "hp_digest_impl.h"

/* Closes buckets until time t falls in the open one. */
int hp_hist_advance_slow(hp_digest_t *d, uint64_t t, hp_dec_error_t *err);

/* Bucket k of the history: a closed one, or the open one as if it closed now. */
hp_bucket_t hp_hist_bucket_at(const hp_digest_t *d, uint64_t k);

static inline double hp_hist_fold(double x, double total, double precision) {
    return (x > 0.0 && x >= precision * total) ? x : 0.0;
}

static inline uint64_t hp_hist_bucket_end(const hp_digest_t *d, uint64_t i) {
    return hp_dalloc_sat_mul(i + 1, d->width);
}

static inline int hp_hist_advance(hp_digest_t *d, uint64_t t, hp_dec_error_t *err) {
    return t > d->open_end ? hp_hist_advance_slow(d, t, err) : HP_DEC_OK;
}

static inline uint64_t hp_hist_count(const hp_digest_t *d) {
    return d->n_closed + (d->final ? 0 : 1);
}

#endif /* HP_HISTORY_H */
