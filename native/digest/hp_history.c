// SPDX-License-Identifier: MIT
/* The time history and its queries (see hp_history.h). */
#include "hp_history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void next_gen(hp_digest_t *d) {
    if (++d->gen == 0) {
        for (size_t s = 0; s < d->site_cap; s++) {
            d->sites[s].gen = 0;
        }
        d->gen = 1;
    }
}

static int close_open(hp_digest_t *d) {
    if (HP_GROW(d->buckets, d->bucket_cap, d->n_closed + 1, 0) != 0 ||
        HP_GROW(d->changes, d->changes_cap, d->n_changes + d->n_dirty, 0) != 0) {
        return -1;
    }
    hp_bucket_t *b = &d->buckets[d->n_closed];
    *b = (hp_bucket_t){.total = d->total, .objects = d->objects, .variance = d->variance,
                       .max = d->open_max, .max_t = d->open_max_t, .rss = d->last_rss,
                       .chg_off = d->n_changes};
    double precision = d->opt.precision;
    for (size_t i = 0; i < d->n_dirty; i++) {
        uint32_t s = d->dirty[i];
        hp_site_t *x = &d->sites[s];
        x->dirty = 0;
        double rec = hp_hist_fold(x->bytes, d->total, precision);
        if (rec != x->last_rec) {
            hp_change_t *c = &d->changes[d->n_changes++];
            c->value = rec;
            c->stack = s;
            c->pad = 0;
            x->last_rec = rec;
        }
    }
    d->n_dirty = 0;
    b->chg_n = d->n_changes - b->chg_off;
    d->n_closed++;
    return 0;
}

/* Merges closed buckets pairwise (their count is even): the width doubles. A merged bucket ends
 * like its second half, its maximum is the larger (the earlier on a tie) and its changes are
 * the union, the later value of a site winning. Compacts the change list in place. */
static void merge_pairs(hp_digest_t *d) {
    size_t half = d->n_closed / 2;
    size_t w = 0;
    for (size_t j = 0; j < half; j++) {
        hp_bucket_t a = d->buckets[2 * j];
        hp_bucket_t b = d->buckets[2 * j + 1];
        next_gen(d);
        size_t off = w;
        for (int part = 0; part < 2; part++) {
            const hp_bucket_t *src = part ? &b : &a;
            for (uint64_t k = 0; k < src->chg_n; k++) {
                hp_change_t c = d->changes[src->chg_off + k];
                hp_site_t *x = &d->sites[c.stack];
                if (x->gen == d->gen) {
                    d->changes[x->pos].value = c.value;
                }
                else {
                    x->gen = d->gen;
                    x->pos = w;
                    d->changes[w++] = c;
                }
            }
        }
        hp_bucket_t m = b;
        if (a.max >= b.max) {
            m.max = a.max;
            m.max_t = a.max_t;
        }
        m.chg_off = off;
        m.chg_n = w - off;
        d->buckets[j] = m;
    }
    d->n_changes = w;
    d->n_closed = half;
    d->width = d->width > UINT64_MAX / 2 ? UINT64_MAX : d->width * 2;
}

/* Closes buckets until time t falls in the open one. */
int hp_hist_advance_slow(hp_digest_t *d, uint64_t t, hp_dec_error_t *err) {
    while (t > d->open_end) {
        if (close_open(d) != 0) {
            return hp_dalloc_oom(err);
        }
        if (d->n_closed >= d->max_buckets) {
            merge_pairs(d);
        }
        d->open_max = d->total;
        d->open_max_t = d->t_changed;
        d->open_end = hp_hist_bucket_end(d, d->n_closed);
    }
    return HP_DEC_OK;
}

/* Bucket k of the history: a closed one, or the open one as if it closed now. */
hp_bucket_t hp_hist_bucket_at(const hp_digest_t *d, uint64_t k) {
    if (k < d->n_closed) {
        return d->buckets[k];
    }
    hp_bucket_t b;
    b.total = d->total;
    b.objects = d->objects;
    b.variance = d->variance;
    b.max = d->open_max;
    b.max_t = d->open_max_t;
    b.rss = d->last_rss;
    b.chg_off = 0;
    b.chg_n = 0;
    return b;
}

void hp_digest_peak(const hp_digest_t *d, uint64_t *time_ns, double *bytes) {
    uint64_t n = hp_hist_count(d);
    double best = 0.0;
    uint64_t when = 0;
    for (uint64_t k = 0; k < n; k++) {
        hp_bucket_t b = hp_hist_bucket_at(d, k);
        if (b.max > best) {
            best = b.max;
            when = b.max_t;
        }
    }
    *time_ns = when;
    *bytes = best;
}

void hp_history_fini(hp_history_t *h) {
    free(h->time_ns);
    free(h->total);
    free(h->objects);
    free(h->variance);
    free(h->max);
    free(h->max_time_ns);
    free(h->rss);
    free(h->top);
    free(h->series);
    memset(h, 0, sizeof *h);
}

typedef struct {
    double peak;
    uint32_t stack;
} rank_t;

static int rank_cmp(const void *a, const void *b) {
    const rank_t *x = a, *y = b;
    if (x->peak != y->peak) {
        return x->peak > y->peak ? -1 : 1;
    }
    return x->stack < y->stack ? -1 : (x->stack > y->stack);
}

int hp_digest_history(const hp_digest_t *d, uint64_t points, uint32_t top, hp_history_t *out) {
    memset(out, 0, sizeof *out);
    uint64_t nb = hp_hist_count(d);
    if (points == 0) {
        points = 1;
    }
    uint64_t g = nb ? (nb + points - 1) / points : 1;
    uint64_t np = nb ? (nb + g - 1) / g : 0;
    size_t ns = (size_t)d->st.n_stacks + 1;
    int32_t *slot = NULL;
    rank_t *ranks = NULL;
    double *cur = NULL;
    out->n_points = np;
    out->group = g;
    out->bucket_ns = hp_dalloc_sat_mul(g, d->width);
    size_t n = (size_t)(np ? np : 1);
    out->time_ns = malloc(n * sizeof(uint64_t));
    out->total = malloc(n * sizeof(double));
    out->objects = malloc(n * sizeof(double));
    out->variance = malloc(n * sizeof(double));
    out->max = malloc(n * sizeof(double));
    out->max_time_ns = malloc(n * sizeof(uint64_t));
    out->rss = malloc(n * sizeof(double));
    slot = malloc(ns * sizeof *slot);
    ranks = malloc(ns * sizeof *ranks);
    if (!out->time_ns || !out->total || !out->objects || !out->variance || !out->max ||
        !out->max_time_ns || !out->rss || !slot || !ranks) {
        goto nomem;
    }
    for (uint64_t j = 0; j < np; j++) {
        uint64_t first = j * g;
        uint64_t last = first + g < nb ? first + g - 1 : nb - 1;
        hp_bucket_t b = hp_hist_bucket_at(d, last);
        out->time_ns[j] = last == nb - 1 ? d->st.time_ns : hp_hist_bucket_end(d, last);
        out->total[j] = b.total;
        out->objects[j] = b.objects;
        out->variance[j] = b.variance > 0 ? b.variance : 0.0;
        out->rss[j] = b.rss;
        double mx = -1.0;
        uint64_t mt = 0;
        for (uint64_t k = first; k <= last; k++) {
            hp_bucket_t c = hp_hist_bucket_at(d, k);
            if (c.max > mx) {
                mx = c.max;
                mt = c.max_t;
            }
        }
        out->max[j] = mx;
        out->max_time_ns[j] = mt;
    }

    /* The largest sites by the largest value in their series as kept now (merged buckets keep
     * a site's last value of the pair only), the open bucket included: the same ranking before
     * and after a dump and load. */
    int virt = !d->final;
    double *pk = calloc(ns, sizeof *pk);
    if (pk == NULL) {
        goto nomem;
    }
    for (size_t c = 0; c < d->n_changes; c++) {
        const hp_change_t *e = &d->changes[c];
        if (e->value > pk[e->stack]) {
            pk[e->stack] = e->value;
        }
    }
    if (virt) {
        for (size_t i = 0; i < d->n_dirty; i++) {
            uint32_t s = d->dirty[i];
            double rec = hp_hist_fold(d->sites[s].bytes, d->total, d->opt.precision);
            if (rec > pk[s]) {
                pk[s] = rec;
            }
        }
    }
    size_t nr = 0;
    for (size_t s = 0; s < ns; s++) {
        slot[s] = -1;
        if (pk[s] > 0.0) {
            ranks[nr].peak = pk[s];
            ranks[nr].stack = (uint32_t)s;
            nr++;
        }
    }
    free(pk);
    qsort(ranks, nr, sizeof *ranks, rank_cmp);
    uint32_t nt = nr < top ? (uint32_t)nr : top;
    out->n_top = nt;
    out->top = malloc((nt ? nt : 1) * sizeof(uint32_t));
    if (np && nt > SIZE_MAX / sizeof(double) / np) {
        goto nomem;
    }
    out->series = calloc((size_t)((nt ? nt : 1) * (np ? np : 1)), sizeof(double));
    cur = calloc(nt ? nt : 1, sizeof(double));
    if (!out->top || !out->series || !cur) {
        goto nomem;
    }
    for (uint32_t i = 0; i < nt; i++) {
        out->top[i] = ranks[i].stack;
        slot[ranks[i].stack] = (int32_t)i;
    }
    if (nt > 0) {
        uint64_t j = 0;
        for (uint64_t k = 0; k < nb; k++) {
            if (k < d->n_closed) {
                const hp_bucket_t *b = &d->buckets[k];
                for (uint64_t c = 0; c < b->chg_n; c++) {
                    const hp_change_t *e = &d->changes[b->chg_off + c];
                    if (slot[e->stack] >= 0) {
                        cur[slot[e->stack]] = e->value;
                    }
                }
            }
            else {
                for (size_t i = 0; i < d->n_dirty; i++) {
                    uint32_t s = d->dirty[i];
                    if (slot[s] >= 0) {
                        cur[slot[s]] = hp_hist_fold(d->sites[s].bytes, d->total, d->opt.precision);
                    }
                }
            }
            uint64_t last = (j + 1) * g - 1;
            if (k == last || k == nb - 1) {
                for (uint32_t i = 0; i < nt; i++) {
                    out->series[(size_t)i * np + j] = cur[i];
                }
                j++;
            }
        }
    }
    free(slot);
    free(ranks);
    free(cur);
    return HP_DEC_OK;
nomem:
    free(slot);
    free(ranks);
    free(cur);
    hp_history_fini(out);
    return HP_DEC_ENOMEM;
}
