// SPDX-License-Identifier: MIT
/* Saving a digest and loading it back (hp_digest_dump, hp_digest_load in hp_digest.h). Little
 * endian throughout, independent of the host; a loaded dump is validated before use. */
#include "hp_digest_impl.h"

#include <stdlib.h>
#include <string.h>

#include "hp_dalloc.h"
#include "hp_history.h"
#include "hp_index.h"
#include "hp_tables.h"

#define DUMP_MAGIC "HPNBDGS\0"
#define DUMP_END "HPNBDGE\0"
#define DUMP_VERSION 1u

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int oom;
} wbuf_t;

static void put(wbuf_t *b, const void *src, size_t n) {
    if (b->oom) {
        return;
    }
    if (n > SIZE_MAX - b->len || HP_GROW(b->p, b->cap, b->len + n, 0) != 0) {
        b->oom = 1;
        return;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u64(wbuf_t *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = (uint8_t)(v >> (8 * i));
    }
    put(b, x, 8);
}

static void put_u32(wbuf_t *b, uint32_t v) {
    uint8_t x[4];
    for (int i = 0; i < 4; i++) {
        x[i] = (uint8_t)(v >> (8 * i));
    }
    put(b, x, 4);
}

static void put_f64(wbuf_t *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(b, u);
}

static void put_blob(wbuf_t *b, const char *s, uint64_t n) {
    put_u64(b, n);
    put(b, s, (size_t)n);
}

uint8_t *hp_digest_dump(const hp_digest_t *d, size_t *len, hp_dec_error_t *err) {
    if (!d->have_header) {
        hp_dec_fail(err, HP_DEC_ESTATE, 0, "nothing to save: the log header was not read");
        return NULL;
    }
    wbuf_t b = {0};
    put(&b, DUMP_MAGIC, 8);
    put_u32(&b, DUMP_VERSION);
    put_u64(&b, d->opt.bucket_ns);
    put_u32(&b, d->opt.max_buckets);
    put_f64(&b, d->opt.precision);
    put_u32(&b, (uint32_t)d->opt.strict);
    put_blob(&b, (const char *)d->hbytes, d->hlen);
    put_u64(&b, d->st.offset);
    put_u64(&b, d->st.records);
    put_u64(&b, d->st.time_ns);
    put_u64(&b, d->st.n_threads);
    put_u32(&b, (uint32_t)d->complete);
    for (int i = 0; i < HP_N_COUNTERS; i++) {
        put_u64(&b, d->trailer[i]);
    }
    put_u64(&b, d->allocs);
    put_u64(&b, d->frees);
    put_u64(&b, d->unmatched);
    put_u64(&b, d->reused);
    put_u64(&b, d->live_n);
    put_u64(&b, d->st.n_strings);
    for (uint64_t i = 1; i <= d->st.n_strings; i++) {
        put_blob(&b, d->text + d->str_off[i], d->str_len[i]);
    }
    put_u64(&b, d->st.n_frames);
    for (uint64_t i = 1; i <= d->st.n_frames; i++) {
        put_u64(&b, d->frames[i].file);
        put_u64(&b, d->frames[i].func);
        put_u64(&b, d->frames[i].line);
    }
    put_u64(&b, d->st.n_stacks);
    for (uint64_t i = 1; i <= d->st.n_stacks; i++) {
        put_u64(&b, d->stack_depth[i]);
        for (uint32_t k = 0; k < d->stack_depth[i]; k++) {
            put_u32(&b, d->fpool[d->stack_off[i] + k]);
        }
    }
    put_u64(&b, d->n_markers);
    for (size_t i = 0; i < d->n_markers; i++) {
        put_u64(&b, d->markers[i].time);
        put_u64(&b, d->markers[i].kind);
        put_blob(&b, d->text + d->markers[i].off, d->markers[i].len);
    }
    put_u64(&b, d->n_meta);
    for (size_t i = 0; i < d->n_meta; i++) {
        put_blob(&b, d->text + d->meta[i].koff, d->meta[i].klen);
        put_blob(&b, d->text + d->meta[i].voff, d->meta[i].vlen);
    }
    /* Buckets: the closed ones, then the open one as if it closed now. */
    uint64_t nb = hp_hist_count(d);
    put_u64(&b, d->width);
    put_u64(&b, nb);
    uint64_t n_open_changes = 0;
    if (!d->final) {
        for (size_t i = 0; i < d->n_dirty; i++) {
            const hp_site_t *x = &d->sites[d->dirty[i]];
            if (hp_hist_fold(x->bytes, d->total, d->opt.precision) != x->last_rec) {
                n_open_changes++;
            }
        }
    }
    for (uint64_t k = 0; k < nb; k++) {
        hp_bucket_t bk = hp_hist_bucket_at(d, k);
        put_f64(&b, bk.total);
        put_f64(&b, bk.objects);
        put_f64(&b, bk.variance);
        put_f64(&b, bk.max);
        put_f64(&b, bk.rss);
        put_u64(&b, bk.max_t);
        put_u64(&b, k < d->n_closed ? bk.chg_n : n_open_changes);
    }
    put_u64(&b, d->n_changes + n_open_changes);
    for (size_t i = 0; i < d->n_changes; i++) {
        put_u32(&b, d->changes[i].stack);
        put_f64(&b, d->changes[i].value);
    }
    if (!d->final) {
        for (size_t i = 0; i < d->n_dirty; i++) {
            uint32_t s = d->dirty[i];
            const hp_site_t *x = &d->sites[s];
            double rec = hp_hist_fold(x->bytes, d->total, d->opt.precision);
            if (rec != x->last_rec) {
                put_u32(&b, s);
                put_f64(&b, rec);
            }
        }
    }
    put_u32(&b, (uint32_t)d->index_on);
    if (d->index_on) {
        put_u64(&b, d->n_index);
        size_t bi = 0;
        for (size_t i = 0; i < d->n_index; i++) {
            const hp_ientry_t *e = &d->index[i];
            uint64_t size = e->size32;
            if (e->size32 == UINT32_MAX && bi < d->n_big && d->big[bi].index == i) {
                size = d->big[bi++].size;
            }
            put_u64(&b, e->ta);
            put_u64(&b, e->tf);
            put_u32(&b, e->stack);
            put_u64(&b, size);
        }
    }
    put(&b, DUMP_END, 8);
    if (b.oom) {
        free(b.p);
        hp_dalloc_oom(err);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    int bad;
} rbuf_t;

/* A little-endian integer of `size` bytes (4 or 8); 0 and r->bad once the buffer runs out. */
static uint64_t get_le(rbuf_t *r, int size) {
    if (r->bad || r->end - r->p < size) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--) {
        v = (v << 8) | r->p[i];
    }
    r->p += size;
    return v;
}

static uint64_t get_u64(rbuf_t *r) { return get_le(r, 8); }
static uint32_t get_u32(rbuf_t *r) { return (uint32_t)get_le(r, 4); }

static double get_f64(rbuf_t *r) {
    uint64_t u = get_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* A count of items of at least `min_size` bytes each: checked against what is left. */
static uint64_t get_count(rbuf_t *r, size_t min_size) {
    uint64_t n = get_u64(r);
    if (r->bad || n > (uint64_t)(r->end - r->p) / min_size) {
        r->bad = 1;
        return 0;
    }
    return n;
}

static const uint8_t *get_blob(rbuf_t *r, uint64_t limit, uint64_t *n) {
    *n = get_u64(r);
    if (r->bad || *n > limit || *n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *s = r->p;
    r->p += *n;
    return s;
}

/* A blob of at most `limit` bytes copied into the digest's text pool at *off: 0, 1 if the buffer
 * holds no such blob (r->bad set or the limit passed), -1 out of memory. */
static int get_text(hp_digest_t *d, rbuf_t *r, uint64_t limit, uint64_t *len, uint64_t *off) {
    const uint8_t *s = get_blob(r, limit, len);
    if (s == NULL) {
        return 1;
    }
    return hp_tables_add_text(d, s, *len, off) ? -1 : 0;
}

hp_digest_t *hp_digest_load(const uint8_t *buf, size_t len, hp_dec_error_t *err) {
    rbuf_t r = {buf, buf + len, 0};
    hp_digest_t *d = NULL;
    const char *why = "truncated";
#define CHECK(cond, msg)   \
    do {                   \
        if (r.bad) {       \
            goto bad;      \
        }                  \
        if (!(cond)) {     \
            why = (msg);   \
            goto bad;      \
        }                  \
    } while (0)
/* n = the next table's count (items of at least `min` bytes each); `arr` grown to n + extra. */
#define GET_TABLE(arr, cap, min, extra, zero)                \
    do {                                                     \
        n = get_count(&r, (min));                            \
        CHECK(1, "");                                        \
        if (HP_GROW(arr, cap, (size_t)n + (extra), (zero))) { \
            goto nomem;                                      \
        }                                                    \
    } while (0)

    CHECK(len >= 8 && memcmp(buf, DUMP_MAGIC, 8) == 0, "bad magic");
    r.p += 8;
    CHECK(get_u32(&r) == DUMP_VERSION, "unknown version");
    hp_digest_options_t opt;
    opt.bucket_ns = get_u64(&r);
    opt.max_buckets = get_u32(&r);
    opt.precision = get_f64(&r);
    opt.strict = (int)get_u32(&r);
    opt.index_limit = HP_DIGEST_DEFAULT_INDEX_LIMIT;
    CHECK(opt.strict == 0 || opt.strict == 1, "bad options");
    d = hp_digest_new(&opt, err);
    if (d == NULL) {
        if (err->code == HP_DEC_ESTATE) {   /* options out of range: a damaged file */
            why = "bad options";
            goto bad;
        }
        return NULL;
    }
    uint64_t hlen;
    const uint8_t *hb = get_blob(&r, HP_HEADER_FIXED + HP_MAX_HEADER_BODY, &hlen);
    CHECK(hb != NULL, "bad header");
    hp_dec_error_t herr;
    CHECK(hp_dec_header(hb, (size_t)hlen, &d->h, &herr) == HP_DEC_OK &&
              d->h.header_size == hlen,
          "bad log header");
    d->hbytes = malloc((size_t)hlen);
    if (d->hbytes == NULL) {
        goto nomem;
    }
    memcpy(d->hbytes, hb, (size_t)hlen);
    d->hlen = (size_t)hlen;
    hp_dec_state_init(&d->st, &d->h, d->opt.strict);
    d->have_header = 1;
    d->final = 1;
    d->st.offset = get_u64(&r);
    d->st.records = get_u64(&r);
    d->st.time_ns = get_u64(&r);
    d->st.n_threads = get_u64(&r);
    uint32_t complete = get_u32(&r);
    CHECK(complete <= 1 && d->st.offset >= hlen, "bad state");
    d->complete = (int)complete;
    d->st.done = d->complete;
    for (int i = 0; i < HP_N_COUNTERS; i++) {
        d->trailer[i] = get_u64(&r);
    }
    d->allocs = get_u64(&r);
    d->frees = get_u64(&r);
    d->unmatched = get_u64(&r);
    d->reused = get_u64(&r);
    d->live_n = get_u64(&r);

    uint64_t n = get_count(&r, 8);
    CHECK(1, "");
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t sl;
        const uint8_t *s = get_blob(&r, HP_MAX_STRING, &sl);
        CHECK(s != NULL, "bad string");
        if (hp_tables_add_string(d, i, s, sl)) {
            goto nomem;
        }
    }
    d->st.n_strings = n;
    GET_TABLE(d->frames, d->frame_cap, 24, 1, 1);
    for (uint64_t i = 1; i <= n; i++) {
        d->frames[i].file = get_u64(&r);
        d->frames[i].func = get_u64(&r);
        d->frames[i].line = get_u64(&r);
        CHECK(d->frames[i].file <= d->st.n_strings && d->frames[i].func <= d->st.n_strings,
              "bad frame");
    }
    d->st.n_frames = n;
    n = get_count(&r, 8);
    CHECK(n < UINT32_MAX - 1, "too many stacks");
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t depth = get_u64(&r);
        CHECK(depth <= d->h.max_frames && depth <= (uint64_t)(r.end - r.p) / 4, "bad stack");
        for (uint64_t k = 0; k < depth; k++) {
            d->frame_tmp[k] = get_u32(&r);
            CHECK(d->frame_tmp[k] >= 1 && d->frame_tmp[k] <= d->st.n_frames, "bad stack frame");
        }
        hp_dec_error_t e2;
        if (hp_tables_add_stack(d, i, d->frame_tmp, depth, &e2) != HP_DEC_OK) {
            goto nomem;
        }
    }
    d->st.n_stacks = n;
    GET_TABLE(d->markers, d->markers_cap, 24, 0, 0);
    uint64_t prev_t = 0;
    for (uint64_t i = 0; i < n; i++) {
        hp_dmarker_t *m = &d->markers[i];
        m->time = get_u64(&r);
        m->kind = get_u64(&r);
        CHECK(m->time >= prev_t && m->time <= d->st.time_ns, "bad marker");
        prev_t = m->time;
        int got = get_text(d, &r, HP_MAX_STRING, &m->len, &m->off);
        CHECK(got <= 0, "bad marker");
        if (got < 0) {
            goto nomem;
        }
        d->n_markers++;
    }
    GET_TABLE(d->meta, d->meta_cap, 16, 0, 0);
    for (uint64_t i = 0; i < n; i++) {
        hp_dmeta_t *m = &d->meta[i];
        int key = get_text(d, &r, HP_MAX_STRING, &m->klen, &m->koff);
        CHECK(key <= 0, "bad meta");
        int value = key < 0 ? -1 : get_text(d, &r, HP_MAX_META_VALUE, &m->vlen, &m->voff);
        CHECK(value <= 0, "bad meta");
        if (value < 0) {
            goto nomem;
        }
        d->n_meta++;
    }
    d->width = get_u64(&r);
    uint64_t nb = get_count(&r, 56);
    /* The last bucket is the open one, which holds the time of the last record. */
    CHECK(d->width >= 1 && nb >= 1 && nb <= HP_DIGEST_MAX_BUCKETS &&
              nb - 1 == (d->st.time_ns == 0 ? 0 : (d->st.time_ns - 1) / d->width),
          "bad buckets");
    if (HP_GROW(d->buckets, d->bucket_cap, (size_t)nb, 0)) {
        goto nomem;
    }
    uint64_t chg_total = 0;
    for (uint64_t k = 0; k < nb; k++) {
        hp_bucket_t *b = &d->buckets[k];
        b->total = get_f64(&r);
        b->objects = get_f64(&r);
        b->variance = get_f64(&r);
        b->max = get_f64(&r);
        b->rss = get_f64(&r);
        b->max_t = get_u64(&r);
        b->chg_n = get_u64(&r);
        /* Values may be infinite or NaN: a mode-1 bucket probability of 1e-300 is valid and
         * makes weights overflow. Only what indexes memory is checked. */
        CHECK(b->max_t <= d->st.time_ns && b->chg_n <= (uint64_t)(r.end - r.p) &&
                  chg_total + b->chg_n >= chg_total,
              "bad bucket");
        b->chg_off = chg_total;
        chg_total += b->chg_n;
    }
    d->n_closed = (size_t)nb;
    n = get_count(&r, 12);
    CHECK(n == chg_total, "bad change count");
    if (HP_GROW(d->changes, d->changes_cap, (size_t)n, 0)) {
        goto nomem;
    }
    for (uint64_t i = 0; i < n; i++) {
        hp_change_t *c = &d->changes[i];
        c->stack = get_u32(&r);
        c->value = get_f64(&r);
        c->pad = 0;
        CHECK(c->stack <= d->st.n_stacks && !(c->value < 0.0), "bad change");
        d->sites[c->stack].last_rec = c->value;
    }
    d->n_changes = (size_t)n;
    d->total = d->buckets[nb - 1].total;
    d->objects = d->buckets[nb - 1].objects;
    d->variance = d->buckets[nb - 1].variance;
    d->last_rss = d->buckets[nb - 1].rss;
    d->open_max = d->buckets[nb - 1].max;
    d->open_max_t = d->buckets[nb - 1].max_t;
    uint32_t has_index = get_u32(&r);
    CHECK(has_index <= 1, "bad index flag");
    hp_index_drop(d);
    if (has_index) {
        n = get_count(&r, 28);
        CHECK(1, "");
        d->index = hp_dalloc_big_realloc(NULL, (size_t)(n ? n : 1) * sizeof(hp_ientry_t));
        if (d->index == NULL) {
            goto nomem;
        }
        d->index_cap = (size_t)(n ? n : 1);
        d->index_on = 1;
        uint64_t prev = 0;
        for (uint64_t i = 0; i < n; i++) {
            hp_ientry_t *e = &d->index[i];
            e->ta = get_u64(&r);
            e->tf = get_u64(&r);
            e->stack = get_u32(&r);
            uint64_t size = get_u64(&r);
            CHECK(e->ta >= prev && e->ta <= d->st.time_ns && e->tf >= e->ta &&
                      (e->tf <= d->st.time_ns || e->tf == UINT64_MAX) &&
                      e->stack <= d->st.n_stacks,
                  "bad index entry");
            prev = e->ta;
            if (size >= UINT32_MAX) {
                if (HP_GROW(d->big, d->big_cap, d->n_big + 1, 0)) {
                    goto nomem;
                }
                d->big[d->n_big].index = i;
                d->big[d->n_big].size = size;
                d->n_big++;
                e->size32 = UINT32_MAX;
            }
            else {
                e->size32 = (uint32_t)size;
            }
        }
        d->n_index = (size_t)n;
    }
    CHECK(r.end - r.p == 8 && memcmp(r.p, DUMP_END, 8) == 0, "bad end marker");
#undef GET_TABLE
#undef CHECK
    return d;
bad:
    hp_digest_free(d);
    hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(r.p - buf), "invalid digest cache: %s", why);
    return NULL;
nomem:
    hp_digest_free(d);
    hp_dalloc_oom(err);
    return NULL;
}
