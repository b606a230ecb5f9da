// SPDX-License-Identifier: MIT
/* The digest proper: records -> state (see hp_digest.h for what is kept and why): its lifecycle,
 * the per-record path that keeps the live map, the sites and the totals, feeding, and the info
 * query. The tables, the history, the window queries and the dump have files of their own.
 *
 * The hot path is one call of hp_dec_record() and one switch per record: an ALLOC or FREE is a
 * probe of the live map (open addressing, linear probing, backward-shift deletion), four
 * additions to the site and the totals, and a compare against the end of the open bucket. A
 * bucket is closed only when a record falls past its end; closing walks the sites touched in it
 * (the dirty list), never all sites. */
#include "hp_digest.h"

#include <stdlib.h>
#include <string.h>

#include "hp_dalloc.h"
#include "hp_digest_impl.h"
#include "hp_history.h"
#include "hp_index.h"
#include "hp_livemap.h"
#include "hp_tables.h"
#include "hp_weights.h"

void hp_digest_options_default(hp_digest_options_t *opt) {
    opt->bucket_ns = 0;
    opt->max_buckets = HP_DIGEST_AUTO_BUCKETS;
    opt->precision = HP_DIGEST_DEFAULT_PRECISION;
    opt->index_limit = HP_DIGEST_DEFAULT_INDEX_LIMIT;
    opt->strict = 0;
}

hp_digest_t *hp_digest_new(const hp_digest_options_t *opt, hp_dec_error_t *err) {
    if (opt->max_buckets < 2 || opt->max_buckets > HP_DIGEST_MAX_BUCKETS ||
        (opt->max_buckets & 1) || !(opt->precision >= 0.0 && opt->precision <= 1.0)) {
        hp_dec_fail(err, HP_DEC_ESTATE, 0,
                    "invalid digest options (max_buckets even in 2..%u, precision in [0, 1])",
                    HP_DIGEST_MAX_BUCKETS);
        return NULL;
    }
    hp_digest_t *d = calloc(1, sizeof *d);
    if (d == NULL) {
        hp_dalloc_oom(err);
        return NULL;
    }
    d->opt = *opt;
    d->width = opt->bucket_ns ? opt->bucket_ns : 1;
    d->max_buckets = opt->bucket_ns ? HP_DIGEST_MAX_BUCKETS : opt->max_buckets;
    d->open_end = d->width;
    d->last_rss = NAN;
    d->index_on = opt->index_limit > 0;
    hp_weight_cache_init(d->wc);
    if (hp_livemap_init(&d->live, 1024) != 0 ||
        hp_dalloc_grow2((void **)&d->str_off, (void **)&d->str_len, &d->str_cap, 16, sizeof(uint64_t),
              sizeof(uint64_t)) != 0 ||
        hp_dalloc_grow2((void **)&d->stack_off, (void **)&d->stack_depth, &d->stack_cap, 16,
              sizeof(uint64_t), sizeof(uint32_t)) != 0 ||
        HP_GROW(d->frames, d->frame_cap, 16, 1) != 0 || HP_GROW(d->sites, d->site_cap, 16, 1) != 0 ||
        HP_GROW(d->dirty, d->dirty_cap, 16, 0) != 0) {
        goto fail;
    }
    return d;
fail:
    hp_digest_free(d);
    hp_dalloc_oom(err);
    return NULL;
}

void hp_digest_free(hp_digest_t *d) {
    if (d == NULL) {
        return;
    }
    free(d->hbytes);
    free(d->text);
    free(d->str_off);
    free(d->str_len);
    free(d->frames);
    free(d->stack_off);
    free(d->stack_depth);
    free(d->fpool);
    free(d->sites);
    free(d->dirty);
    free(d->markers);
    free(d->meta);
    hp_livemap_fini(&d->live);
    free(d->buckets);
    free(d->changes);
    free(d->index);
    free(d->big);
    free(d);
}

static inline void site_add(hp_digest_t *d, uint32_t s, double w, double o, double v,
                            uint64_t t) {
    hp_site_t *x = &d->sites[s];
    x->bytes += w;
    x->objects += o;
    x->variance += v;
    x->n++;
    if (!x->dirty) {
        x->dirty = 1;
        d->dirty[d->n_dirty++] = s;
    }
    d->total += w;
    d->objects += o;
    d->variance += v;
    d->live_n++;
    d->t_changed = t;
    if (d->total > d->open_max) {
        d->open_max = d->total;
        d->open_max_t = t;
    }
}

/* Sums return to exactly 0 when their last sample leaves, so no rounding residue survives. */
static inline void site_sub(hp_digest_t *d, uint32_t s, double w, double o, double v,
                            uint64_t t) {
    hp_site_t *x = &d->sites[s];
    if (--x->n == 0) {
        x->bytes = x->objects = x->variance = 0.0;
    }
    else {
        x->bytes -= w;
        x->objects -= o;
        x->variance -= v;
    }
    if (!x->dirty) {
        x->dirty = 1;
        d->dirty[d->n_dirty++] = s;
    }
    if (--d->live_n == 0) {
        d->total = d->objects = d->variance = 0.0;
    }
    else {
        d->total -= w;
        d->objects -= o;
        d->variance -= v;
    }
    d->t_changed = t;
}

static int on_alloc(hp_digest_t *d, const hp_dec_record_t *r, hp_dec_error_t *err) {
    uint64_t t = r->time_ns;
    if (hp_livemap_reserve(&d->live) != 0) {
        return hp_dalloc_oom(err);
    }
    int found;
    hp_dlive_t *e = hp_livemap_probe(&d->live, r->address, &found);
    double w, o, v;
    if (found) {
        if (d->opt.strict) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, d->st.offset,
                               "ALLOC of address %#llx that is still live",
                               (unsigned long long)r->address);
        }
        d->reused++;
        hp_weight(&d->h, d->wc, e->size, &w, &o, &v);
        site_sub(d, e->stack, w, o, v, t);
        if (d->index_on) {
            d->index[e->aux].tf = t;
        }
    }
    else {
        e->used = 1;
        e->addr = r->address;
        d->live.count++;
    }
    uint32_t s = (uint32_t)r->stack_id;   /* <= n_stacks < 2**32, checked by add_stack */
    e->size = r->size;
    e->stack = s;
    e->aux = 0;
    hp_index_push(d, t, s, r->size, &e->aux);
    hp_weight(&d->h, d->wc, r->size, &w, &o, &v);
    site_add(d, s, w, o, v, t);
    d->allocs++;
    return HP_DEC_OK;
}

static int on_free(hp_digest_t *d, const hp_dec_record_t *r, hp_dec_error_t *err) {
    int found;
    hp_dlive_t *e = hp_livemap_probe(&d->live, r->address, &found);
    if (!found) {
        if (d->opt.strict) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, d->st.offset,
                               "FREE of address %#llx that is not live",
                               (unsigned long long)r->address);
        }
        d->unmatched++;
        return HP_DEC_OK;
    }
    double w, o, v;
    hp_weight(&d->h, d->wc, e->size, &w, &o, &v);
    site_sub(d, e->stack, w, o, v, r->time_ns);
    if (d->index_on) {
        d->index[e->aux].tf = r->time_ns;
    }
    hp_livemap_delete(&d->live, e);
    d->frees++;
    return HP_DEC_OK;
}

/* Strict mode's anomalies, found before the record moves the buckets: a digest stopped by one
 * holds exactly the records before it (its history must not reach the bad record's time). */
static int strict_check(hp_digest_t *d, const hp_dec_record_t *r, hp_dec_error_t *err) {
    int found;
    (void)hp_livemap_probe(&d->live, r->address, &found);
    if (r->tag == HP_TAG_ALLOC && found) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, d->st.offset,
                           "ALLOC of address %#llx that is still live",
                           (unsigned long long)r->address);
    }
    if (r->tag == HP_TAG_FREE && !found) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, d->st.offset,
                           "FREE of address %#llx that is not live",
                           (unsigned long long)r->address);
    }
    return HP_DEC_OK;
}

static int apply(hp_digest_t *d, const hp_dec_record_t *r, hp_dec_error_t *err) {
    int rc;
    switch (r->tag) {
    case HP_TAG_ALLOC:
        if ((d->opt.strict && (rc = strict_check(d, r, err)) != 0) ||
            (rc = hp_hist_advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        return on_alloc(d, r, err);
    case HP_TAG_FREE:
        if ((d->opt.strict && (rc = strict_check(d, r, err)) != 0) ||
            (rc = hp_hist_advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        return on_free(d, r, err);
    case HP_TAG_RSS:
        if ((rc = hp_hist_advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        d->last_rss = (double)r->size;
        return HP_DEC_OK;
    case HP_TAG_STRING:
        return hp_tables_add_string(d, r->id, r->text, r->text_len) ? hp_dalloc_oom(err) : HP_DEC_OK;
    case HP_TAG_FRAME:
        if (r->id >= SIZE_MAX / sizeof(hp_dframe_t) || HP_GROW(d->frames, d->frame_cap, r->id + 1, 1)) {
            return hp_dalloc_oom(err);
        }
        d->frames[r->id].file = r->filename_id;
        d->frames[r->id].func = r->function_id;
        d->frames[r->id].line = r->line;
        return HP_DEC_OK;
    case HP_TAG_STACK:
        hp_dec_stack_frames(r, d->frame_tmp);
        return hp_tables_add_stack(d, r->id, d->frame_tmp, r->depth, err);
    case HP_TAG_THREAD:
        return HP_DEC_OK;
    case HP_TAG_MARKER: {
        if ((rc = hp_hist_advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        if (HP_GROW(d->markers, d->markers_cap, d->n_markers + 1, 0)) {
            return hp_dalloc_oom(err);
        }
        hp_dmarker_t *m = &d->markers[d->n_markers];
        m->time = r->time_ns;
        m->kind = r->kind;
        m->len = r->text_len;
        if (hp_tables_add_text(d, r->text, r->text_len, &m->off)) {
            return hp_dalloc_oom(err);
        }
        d->n_markers++;
        return HP_DEC_OK;
    }
    case HP_TAG_META: {
        if (HP_GROW(d->meta, d->meta_cap, d->n_meta + 1, 0)) {
            return hp_dalloc_oom(err);
        }
        hp_dmeta_t *m = &d->meta[d->n_meta];
        m->klen = r->text_len;
        m->vlen = r->value_len;
        if (hp_tables_add_text(d, r->text, r->text_len, &m->koff) ||
            hp_tables_add_text(d, r->value, r->value_len, &m->voff)) {
            return hp_dalloc_oom(err);
        }
        d->n_meta++;
        return HP_DEC_OK;
    }
    case HP_TAG_TRAILER:
        if ((rc = hp_hist_advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        memcpy(d->trailer, r->counters, sizeof d->trailer);
        d->complete = 1;
        return HP_DEC_OK;
    default:
        return hp_dec_fail(err, HP_DEC_EFORMAT, d->st.offset, "unknown record tag");
    }
}

/* The fast path: ALLOC and FREE records, most of a log, decoded inline when at least FAST_MIN
 * bytes are at hand (so no bounds check per byte). Anything unusual -- another tag, an over-long
 * varint, a value that fails validation -- returns 0 and the record goes through
 * hp_dec_record(), which decides and reports exactly as for every other record. */
#define FAST_MIN 64   /* > the longest ALLOC: 1 + 10 + 1 + 4 x 10 bytes */

static inline int fast_varint(const uint8_t **pp, uint64_t *v) {
    const uint8_t *p = *pp;
    uint64_t b = *p++;
    if (b < 0x80) {
        *v = b;
        *pp = p;
        return 1;
    }
    uint64_t r = b & 0x7F;
    for (unsigned shift = 7;; shift += 7) {
        b = *p++;
        if (b < 0x80) {
            if (shift == 63 && b > 1) {
                return 0;
            }
            *v = r | (b << shift);
            *pp = p;
            return 1;
        }
        if (shift == 63) {
            return 0;
        }
        r |= (b & 0x7F) << shift;
    }
}

static inline int fast_event(hp_dec_state_t *st, const uint8_t *buf, hp_dec_record_t *r,
                             size_t *used) {
    const uint8_t *p = buf + 1;
    if (st->done) {
        return 0;
    }
    if (buf[0] == HP_TAG_ALLOC) {
        if (!fast_varint(&p, &r->dt)) {
            return 0;
        }
        r->domain = *p++;
        if (!fast_varint(&p, &r->thread) || !fast_varint(&p, &r->stack_id) ||
            !fast_varint(&p, &r->size) || !fast_varint(&p, &r->address)) {
            return 0;
        }
        if (r->domain > HP_MAX_DOMAIN || r->thread > st->n_threads ||
            r->stack_id > st->n_stacks) {
            return 0;
        }
    }
    else if (buf[0] == HP_TAG_FREE) {
        if (!fast_varint(&p, &r->dt) || !fast_varint(&p, &r->address)) {
            return 0;
        }
    }
    else {
        return 0;
    }
    if (r->dt > UINT64_MAX - st->time_ns) {
        return 0;
    }
    r->tag = buf[0];
    r->time_ns = st->time_ns + r->dt;
    st->time_ns = r->time_ns;
    *used = (size_t)(p - buf);
    st->offset += *used;
    st->records++;
    return 1;
}

/* Decodes up to FAST_BATCH consecutive ALLOC/FREE records at buf[*pos], then applies them.
 * Between the two steps it prefetches what applying them will touch: the live-map slot of
 * each address and, for a FREE, the interval-index entry it will close. With a live set larger
 * than the cache, those loads are the cost of the digest; overlapping them is what the batch is
 * for. Stops at the first record the fast path does not take (or the end of the data); on an
 * error the state is rewound to the failing record, as if it had been decoded alone. */
#define FAST_BATCH 32

static int fast_batch(hp_digest_t *d, const uint8_t *buf, size_t len, size_t *pos,
                      hp_dec_error_t *err) {
    hp_dec_record_t recs[FAST_BATCH];
    uint64_t offs[FAST_BATCH];
    size_t starts[FAST_BATCH];
    for (;;) {
        int nb = 0;
        while (nb < FAST_BATCH && len - *pos >= FAST_MIN) {
            size_t n;
            offs[nb] = d->st.offset;
            starts[nb] = *pos;
            if (!fast_event(&d->st, buf + *pos, &recs[nb], &n)) {
                break;
            }
            __builtin_prefetch(&d->live.slots[hp_livemap_slot(recs[nb].address, d->live.mask)], 1);
            *pos += n;
            nb++;
        }
        if (nb == 0) {
            return HP_DEC_OK;
        }
        if (d->index_on) {
            for (int i = 0; i < nb; i++) {
                if (recs[i].tag == HP_TAG_FREE) {
                    const hp_dlive_t *e = &d->live.slots[hp_livemap_slot(recs[i].address, d->live.mask)];
                    if (e->used && e->addr == recs[i].address) {
                        __builtin_prefetch(&d->index[e->aux], 1);
                    }
                }
            }
        }
        for (int i = 0; i < nb; i++) {
            const hp_dec_record_t *r = &recs[i];
            int rc = d->opt.strict ? strict_check(d, r, err) : HP_DEC_OK;
            if (rc == HP_DEC_OK) {
                rc = hp_hist_advance(d, r->time_ns, err);
            }
            if (rc == HP_DEC_OK) {
                rc = r->tag == HP_TAG_ALLOC ? on_alloc(d, r, err) : on_free(d, r, err);
            }
            if (rc != HP_DEC_OK) {
                err->offset = offs[i];
                d->st.offset = offs[i];
                d->st.records -= (uint64_t)(nb - i);
                d->st.time_ns = r->time_ns - r->dt;
                *pos = starts[i];
                return rc;
            }
        }
        if (nb < FAST_BATCH) {
            return HP_DEC_OK;
        }
    }
}

static int poison(hp_digest_t *d, int rc, hp_dec_error_t *err) {
    d->failed = 1;
    d->error = *err;
    d->error.code = rc;
    return rc;
}

int hp_digest_feed(hp_digest_t *d, const uint8_t *buf, size_t len, size_t *used,
                   hp_dec_error_t *err) {
    *used = 0;
    if (d->failed) {
        *err = d->error;
        return d->error.code;
    }
    if (d->final) {
        return hp_dec_fail(err, HP_DEC_ESTATE, 0, "this digest was loaded and takes no input");
    }
    size_t pos = 0;
    int rc;
    if (!d->have_header) {
        if (len == 0) {
            return HP_DEC_OK;
        }
        rc = hp_dec_header(buf, len, &d->h, err);
        if (rc == HP_DEC_MORE) {
            return HP_DEC_OK;
        }
        if (rc != HP_DEC_OK) {
            return poison(d, rc, err);
        }
        d->hlen = (size_t)d->h.header_size;
        d->hbytes = malloc(d->hlen);
        if (d->hbytes == NULL) {
            return poison(d, hp_dalloc_oom(err), err);
        }
        memcpy(d->hbytes, buf, d->hlen);
        hp_dec_state_init(&d->st, &d->h, d->opt.strict);
        d->have_header = 1;
        pos = d->hlen;
    }
    hp_dec_record_t rec;
    while (pos < len) {
        size_t n;
        uint64_t at = d->st.offset;
        if (len - pos >= FAST_MIN) {
            rc = fast_batch(d, buf, len, &pos, err);
            if (rc != HP_DEC_OK) {
                *used = pos;
                return poison(d, rc, err);
            }
            if (pos >= len) {
                break;
            }
            at = d->st.offset;
        }
        hp_dec_state_t before = d->st;
        rc = hp_dec_record(&d->st, buf + pos, len - pos, &rec, &n, err);
        if (rc == HP_DEC_MORE) {
            break;
        }
        if (rc != HP_DEC_OK) {
            *used = pos;
            return poison(d, rc, err);
        }
        rc = apply(d, &rec, err);
        if (rc != HP_DEC_OK) {
            d->st = before; /* the rejected record is not consumed, as in fast_batch */
            err->offset = at;
            *used = pos;
            return poison(d, rc, err);
        }
        pos += n;
    }
    *used = pos;
    return HP_DEC_OK;
}

void hp_digest_info(const hp_digest_t *d, hp_digest_info_t *info) {
    memset(info, 0, sizeof *info);
    info->have_header = d->have_header;
    info->complete = d->complete;
    info->final = d->final;
    info->failed = d->failed;
    info->has_index = d->index_on;
    info->offset = d->have_header ? d->st.offset : 0;
    info->records = d->st.records;
    info->end_ns = d->st.time_ns;
    info->bucket_ns = d->width;
    info->n_buckets = d->n_closed + (d->final ? 0 : 1);
    info->n_strings = d->st.n_strings;
    info->n_frames = d->st.n_frames;
    info->n_stacks = d->st.n_stacks;
    info->n_threads = d->st.n_threads;
    info->n_markers = d->n_markers;
    info->n_meta = d->n_meta;
    info->allocs = d->allocs;
    info->frees = d->frees;
    info->unmatched_frees = d->unmatched;
    info->reused_addresses = d->reused;
    info->live_samples = d->live_n;
    info->live_bytes = d->total;
    info->live_objects = d->objects;
    info->live_variance = d->variance > 0 ? d->variance : 0.0;
    info->index_bytes = hp_index_bytes(d);
    info->memory_bytes =
        sizeof *d + d->text_cap + d->str_cap * 16 + d->frame_cap * sizeof(hp_dframe_t) +
        d->stack_cap * 12 + d->fpool_cap * 4 + d->site_cap * sizeof(hp_site_t) + d->dirty_cap * 4 +
        d->markers_cap * sizeof(hp_dmarker_t) + d->meta_cap * sizeof(hp_dmeta_t) +
        (d->live.slots ? (d->live.mask + 1) * sizeof(hp_dlive_t) : 0) +
        d->bucket_cap * sizeof(hp_bucket_t) + d->changes_cap * sizeof(hp_change_t) + hp_index_bytes(d);
    memcpy(info->trailer, d->trailer, sizeof d->trailer);
}

const hp_dec_header_t *hp_digest_header(const hp_digest_t *d, const uint8_t **bytes) {
    if (!d->have_header) {
        return NULL;
    }
    if (bytes) {
        *bytes = d->hbytes;
    }
    return &d->h;
}

const hp_dec_error_t *hp_digest_last_error(const hp_digest_t *d) {
    return d->failed ? &d->error : NULL;
}
