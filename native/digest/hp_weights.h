// SPDX-License-Identifier: MIT
/* The estimate each sample stands for (docs/log-format.md, Weights; p from
 * hp_format_byte_probability in byte mode): bytes s/p, objects 1/p, variance w(w - s), computed
 * exactly as tests/reference_decoder.py does, behind a small direct-mapped cache by size. The
 * cache belongs to its caller. */
#ifndef HP_WEIGHTS_H
#define HP_WEIGHTS_H

#include "hp_digest_impl.h"

void hp_weight_raw(const hp_dec_header_t *h, uint64_t s, double *w, double *o, double *v);

void hp_weight_cache_init(hp_wcache_t *wc);

static inline void hp_weight(const hp_dec_header_t *h, hp_wcache_t *wc, uint64_t s, double *w,
                         double *o, double *v) {
    if (h->mode == HP_MODE_ALL) {
        *w = (double)s;
        *o = 1.0;
        *v = 0.0;
        return;
    }
    hp_wcache_t *c = &wc[(hp_mix64(s) >> 20) & (HP_WCACHE_SIZE - 1)];
    if (c->size != s) {
        hp_weight_raw(h, s, &c->w, &c->o, &c->v);
        c->size = s;
    }
    *w = c->w;
    *o = c->o;
    *v = c->v;
}

#endif /* HP_WEIGHTS_H */
