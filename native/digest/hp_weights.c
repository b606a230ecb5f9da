// SPDX-License-Identifier: MIT
/* Weights of samples (see hp_weights.h). */
#include "hp_weights.h"

#include <math.h>

void hp_weight_raw(const hp_dec_header_t *h, uint64_t s, double *w, double *o, double *v) {
    double ds = (double)s;
    double p;
    if (h->mode == HP_MODE_ALL) {
        *w = ds;
        *o = 1.0;
        *v = 0.0;
        return;
    }
    if (h->mode == HP_MODE_BYTES) {
        if (s == 0) {
            *w = 0.0;
            *o = 0.0;
            *v = 0.0;
            return;
        }
        p = hp_format_byte_probability(s, h->rate);
    }
    else {
        uint32_t i = 0;
        while (i + 1 < h->n_buckets && h->thresholds[i + 1] <= s) {
            i++;
        }
        p = h->probabilities[i];
    }
    *w = ds / p;
    *o = 1.0 / p;
    *v = *w * (*w - ds);
    if (*v < 0.0) {
        *v = 0.0;
    }
}

void hp_weight_cache_init(hp_wcache_t *wc) {
    for (size_t i = 0; i < HP_WCACHE_SIZE; i++) {
        wc[i].size = UINT64_MAX;
    }
}
