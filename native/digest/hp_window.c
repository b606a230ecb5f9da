// SPDX-License-Identifier: MIT
/* The interval index and the snapshot and window queries, from the index or by re-scanning
 * the log (see hp_index.h, hp_digest.h). */
#include "hp_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hp_dalloc.h"
#include "hp_livemap.h"
#include "hp_reader.h"
#include "hp_weights.h"

void hp_index_drop(hp_digest_t *d) {
    free(d->index);
    free(d->big);
    d->index = NULL;
    d->big = NULL;
    d->n_index = d->index_cap = d->n_big = d->big_cap = 0;
    d->index_on = 0;
}

/* Appends an allocation; when the index would pass its limit or memory runs out, the index is
 * dropped (queries then re-scan the log) rather than failing the digest. */
void hp_index_push(hp_digest_t *d, uint64_t t, uint32_t stack, uint64_t size, uint64_t *idx) {
    if (!d->index_on) {
        return;
    }
    if (d->n_index == d->index_cap) {
        /* Double (realloc moves pages: no copy); the last step stops at the limit rather than
         * dropping the index while there is still room. */
        uint64_t room = d->opt.index_limit > (uint64_t)d->big_cap * sizeof(hp_bigsize_t)
                            ? (d->opt.index_limit - (uint64_t)d->big_cap * sizeof(hp_bigsize_t)) /
                                  sizeof(hp_ientry_t)
                            : 0;
        uint64_t want = d->index_cap ? (uint64_t)d->index_cap * 2 : 4096;
        if (want > room) {
            want = room;
        }
        size_t nc = (size_t)want;
        hp_ientry_t *ni = NULL;
        if (want <= d->index_cap || want > SIZE_MAX / sizeof(hp_ientry_t) ||
            (ni = hp_dalloc_big_realloc(d->index, nc * sizeof(hp_ientry_t))) == NULL) {
            hp_index_drop(d);
            return;
        }
        d->index = ni;
        d->index_cap = nc;
    }
    hp_ientry_t *e = &d->index[d->n_index];
    e->ta = t;
    e->tf = UINT64_MAX;
    e->stack = stack;
    if (size >= UINT32_MAX) {
        if (d->n_big == d->big_cap &&
            (hp_index_bytes(d) + (uint64_t)(d->big_cap ? d->big_cap : 16) * sizeof(hp_bigsize_t) >
                 d->opt.index_limit ||
             HP_GROW(d->big, d->big_cap, d->n_big + 1, 0) != 0)) {
            hp_index_drop(d);
            return;
        }
        d->big[d->n_big].index = d->n_index;
        d->big[d->n_big].size = size;
        d->n_big++;
        e->size32 = UINT32_MAX;
    }
    else {
        e->size32 = (uint32_t)size;
    }
    *idx = d->n_index++;
}

void hp_window_fini(hp_window_t *w) {
    for (int i = 0; i < HP_W_N; i++) {
        free(w->m[i]);
        w->m[i] = NULL;
    }
    w->n_slots = 0;
}

static inline void acc_add(hp_acc_t *a, double w, double o, double v) {
    a->bytes += w;
    a->objects += o;
    a->variance += v;
    a->samples++;
}

/* One allocation with interval (ta, tf], ta <= t1, into the measures of window (t0, t1]. */
static inline void classify(hp_window_t *out, int live_only, uint64_t t0, uint64_t t1,
                            uint64_t ta, uint64_t tf, uint32_t s, double w, double o, double v) {
    if (tf > t1) {
        acc_add(&out->m[HP_W_LIVE][s], w, o, v);
        if (!live_only && ta > t0) {
            acc_add(&out->m[HP_W_KEPT][s], w, o, v);
        }
    }
    else if (!live_only) {
        if (ta > t0) {
            acc_add(&out->m[HP_W_FREED][s], w, o, v);
        }
        else if (tf > t0) {
            acc_add(&out->m[HP_W_DROPPED][s], w, o, v);
        }
    }
}

static int window_alloc(hp_window_t *out, size_t n_slots, int live_only) {
    memset(out, 0, sizeof *out);
    out->n_slots = n_slots;
    for (int i = 0; i < (live_only ? 1 : HP_W_N); i++) {
        out->m[i] = calloc(n_slots, sizeof(hp_acc_t));
        if (out->m[i] == NULL) {
            hp_window_fini(out);
            return -1;
        }
    }
    return 0;
}

static int window_index(const hp_digest_t *d, uint64_t t0, uint64_t t1, int live_only,
                        hp_window_t *out) {
    /* Entries are in allocation order, so in time order: those allocated by t1 are a prefix. */
    size_t lo = 0, hi = d->n_index;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->index[mid].ta <= t1) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    size_t end = lo;
    hp_wcache_t *wc = malloc(HP_WCACHE_SIZE * sizeof *wc);
    if (wc == NULL) {
        return HP_DEC_ENOMEM;
    }
    hp_weight_cache_init(wc);
    size_t bi = 0;
    for (size_t i = 0; i < end; i++) {
        const hp_ientry_t *e = &d->index[i];
        uint64_t size = e->size32;
        if (e->size32 == UINT32_MAX) {
            while (bi < d->n_big && d->big[bi].index < i) {
                bi++;
            }
            if (bi < d->n_big && d->big[bi].index == i) {
                size = d->big[bi].size;
            }
        }
        double w, o, v;
        hp_weight(&d->h, wc, size, &w, &o, &v);
        classify(out, live_only, t0, t1, e->ta, e->tf, e->stack, w, o, v);
    }
    free(wc);
    return HP_DEC_OK;
}

/* The same answer by re-reading the log: only the live set of the re-scan is kept. */
static int window_rescan(const hp_digest_t *d, uint64_t t0, uint64_t t1, int live_only, int fd,
                         hp_window_t *out, hp_dec_error_t *err) {
    hp_reader_t r;
    hp_reader_init(&r);
    hp_livemap_t lm = {0};
    hp_wcache_t *wc = malloc(HP_WCACHE_SIZE * sizeof *wc);
    int rc = HP_DEC_OK;
    if (wc == NULL || hp_livemap_init(&lm, 1024) != 0) {
        rc = hp_dalloc_oom(err);
        goto done;
    }
    hp_weight_cache_init(wc);
    const uint64_t limit = d->st.offset;
    const size_t n_slots = out->n_slots;
    hp_dec_state_t st;
    int have_header = 0;
    int stop = 0;
    hp_dec_record_t rec;
    while (!stop && r.file_off < limit) {
        uint64_t left = limit - r.file_off;
        size_t got;
        rc = hp_reader_fill(&r, fd, left < HP_DIGEST_CHUNK ? (size_t)left : HP_DIGEST_CHUNK,
                            &got, err);
        if (rc != HP_DEC_OK) {
            goto done;
        }
        if (got == 0) {
            rc = hp_dec_fail(err, HP_DEC_EFORMAT, r.file_off,
                             "the log is shorter than when it was digested");
            goto done;
        }
        if (!have_header) {
            if (hp_reader_pending(&r) < d->hlen) {
                continue;
            }
            if (memcmp(r.buf + r.start, d->hbytes, d->hlen) != 0) {
                rc = hp_dec_fail(err, HP_DEC_EFORMAT, 0,
                                 "the log's header changed since it was digested");
                goto done;
            }
            hp_dec_state_init(&st, &d->h, d->opt.strict);
            r.start += d->hlen;
            have_header = 1;
        }
        while (!stop) {
            size_t n;
            rc = hp_dec_record(&st, r.buf + r.start, hp_reader_pending(&r), &rec, &n, err);
            if (rc == HP_DEC_MORE) {
                rc = HP_DEC_OK;
                break;
            }
            if (rc != HP_DEC_OK) {
                goto done;
            }
            r.start += n;
            switch (rec.tag) {
            case HP_TAG_ALLOC:
            case HP_TAG_FREE:
            case HP_TAG_RSS:
            case HP_TAG_MARKER:
            case HP_TAG_TRAILER:
                if (rec.time_ns > t1) {
                    stop = 1;
                    continue;
                }
                break;
            default:
                continue;
            }
            int found;
            double w, o, v;
            if (rec.tag == HP_TAG_ALLOC) {
                if (rec.stack_id >= n_slots) {
                    rc = hp_dec_fail(err, HP_DEC_EFORMAT, st.offset,
                                     "the log changed since it was digested");
                    goto done;
                }
                if (hp_livemap_reserve(&lm) != 0) {
                    rc = hp_dalloc_oom(err);
                    goto done;
                }
                hp_dlive_t *e = hp_livemap_probe(&lm, rec.address, &found);
                if (found) {
                    hp_weight(&d->h, wc, e->size, &w, &o, &v);
                    classify(out, live_only, t0, t1, e->aux, rec.time_ns, e->stack, w, o, v);
                }
                else {
                    e->used = 1;
                    e->addr = rec.address;
                    lm.count++;
                }
                e->size = rec.size;
                e->stack = (uint32_t)rec.stack_id;
                e->aux = rec.time_ns;
            }
            else if (rec.tag == HP_TAG_FREE) {
                hp_dlive_t *e = hp_livemap_probe(&lm, rec.address, &found);
                if (found) {
                    hp_weight(&d->h, wc, e->size, &w, &o, &v);
                    classify(out, live_only, t0, t1, e->aux, rec.time_ns, e->stack, w, o, v);
                    hp_livemap_delete(&lm, e);
                }
            }
        }
    }
    for (size_t i = 0; i <= lm.mask; i++) {
        const hp_dlive_t *e = &lm.slots[i];
        if (e->used) {
            double w, o, v;
            hp_weight(&d->h, wc, e->size, &w, &o, &v);
            classify(out, live_only, t0, t1, e->aux, UINT64_MAX, e->stack, w, o, v);
        }
    }
done:
    free(wc);
    hp_livemap_fini(&lm);
    hp_reader_fini(&r);
    return rc;
}

int hp_digest_window(const hp_digest_t *d, uint64_t t0, uint64_t t1, int live_only, int fd,
                     hp_window_t *out, hp_dec_error_t *err) {
    memset(out, 0, sizeof *out);
    if (t0 > t1) {
        return hp_dec_fail(err, HP_DEC_ESTATE, 0, "t0 > t1");
    }
    if (window_alloc(out, (size_t)d->st.n_stacks + 1, live_only) != 0) {
        return hp_dalloc_oom(err);
    }
    if (!d->have_header) {
        return HP_DEC_OK;
    }
    int rc;
    if (d->index_on) {
        rc = window_index(d, t0, t1, live_only, out);
        if (rc != HP_DEC_OK) {
            hp_dalloc_oom(err);
        }
    }
    else if (fd < 0) {
        rc = hp_dec_fail(err, HP_DEC_ESTATE, 0,
                         "no interval index in memory and no log to re-scan");
    }
    else {
        rc = window_rescan(d, t0, t1, live_only, fd, out, err);
    }
    if (rc != HP_DEC_OK) {
        hp_window_fini(out);
    }
    return rc;
}
