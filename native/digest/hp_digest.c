// SPDX-License-Identifier: MIT
/* The digest state and its queries (see hp_digest.h for what is kept and why).
 *
 * The hot path is one call of hp_dec_record() and one switch per record: an ALLOC or FREE is a
 * probe of the live map (open addressing, linear probing, backward-shift deletion), four
 * additions to the site and the totals, and a compare against the end of the open bucket. A
 * bucket is closed only when a record falls past its end; closing walks the sites touched in it
 * (the dirty list), never all sites. */
#include "hp_digest.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Types */

/* A live sampled allocation. `aux` is its index in the interval index (digest) or its
 * allocation time (re-scan). */
typedef struct {
    uint64_t addr;
    uint64_t size;
    uint64_t aux;
    uint32_t stack;
    uint32_t used;
} live_t;

typedef struct {
    live_t *slots;
    size_t mask;   /* capacity - 1, capacity a power of two */
    size_t count;
} livemap_t;

/* Per stack (site). */
typedef struct {
    double bytes;     /* live estimates now */
    double objects;
    double variance;
    double last_rec;  /* the value last written to the series (0 = folded / none) */
    uint64_t n;       /* live samples */
    uint64_t pos;     /* scratch for merges */
    uint32_t gen;     /* scratch for merges */
    uint32_t dirty;   /* touched since the open bucket began */
} site_t;

typedef struct {
    double total;
    double objects;
    double variance;
    double max;
    double rss;
    uint64_t max_t;
    uint64_t chg_off;
    uint64_t chg_n;
} bucket_t;

typedef struct {
    double value;
    uint32_t stack;
    uint32_t pad;
} change_t;

/* One sampled allocation in the interval index: 24 bytes. A size that does not fit 32 bits is
 * stored as UINT32_MAX and found in the `big` side table (sorted by entry index). */
typedef struct {
    uint64_t ta;
    uint64_t tf;   /* UINT64_MAX while live */
    uint32_t stack;
    uint32_t size32;
} ientry_t;

typedef struct {
    uint64_t index;
    uint64_t size;
} bigsize_t;

typedef struct {
    uint64_t time;
    uint64_t kind;
    uint64_t off;
    uint64_t len;
} marker_t;

typedef struct {
    uint64_t koff, klen, voff, vlen;
} meta_t;

typedef struct {
    uint64_t line;
    uint64_t file;
    uint64_t func;
} frame_t;

#define WC_BITS 10
#define WC_SIZE (1u << WC_BITS)
typedef struct {
    uint64_t size;   /* UINT64_MAX = empty */
    double w, o, v;
} wcache_t;

struct hp_digest {
    hp_digest_options_t opt;
    int have_header;
    int complete;
    int final;
    int failed;
    hp_dec_error_t error;

    hp_dec_header_t h;
    uint8_t *hbytes;
    size_t hlen;
    hp_dec_state_t st;

    /* Text of strings, marker labels and META pairs. */
    char *text;
    size_t text_len, text_cap;
    uint64_t *str_off, *str_len;   /* index = string id; 0 is "" */
    size_t str_cap;
    frame_t *frames;               /* index = frame id */
    size_t frame_cap;
    uint64_t *stack_off;           /* index = stack id; 0 is the empty stack */
    uint32_t *stack_depth;
    size_t stack_cap;
    uint32_t *fpool;
    size_t fpool_len, fpool_cap;
    site_t *sites;                 /* index = stack id */
    size_t site_cap;
    uint32_t *dirty;
    size_t n_dirty, dirty_cap;
    marker_t *markers;
    size_t n_markers, markers_cap;
    meta_t *meta;
    size_t n_meta, meta_cap;
    uint64_t frame_tmp[HP_MAX_FRAMES_LIMIT];

    /* Live set and totals. */
    livemap_t live;
    double total, objects, variance;
    uint64_t live_n;
    uint64_t t_changed;   /* when the total last changed */
    double last_rss;

    /* Buckets: n_closed closed ones, then the open one (index n_closed), unless final. */
    uint64_t width;
    uint32_t max_buckets;
    bucket_t *buckets;
    size_t n_closed, bucket_cap;
    uint64_t open_end;
    double open_max;
    uint64_t open_max_t;
    change_t *changes;
    size_t n_changes, changes_cap;
    uint32_t gen;

    /* Interval index. */
    int index_on;
    ientry_t *index;
    size_t n_index, index_cap;
    bigsize_t *big;
    size_t n_big, big_cap;

    uint64_t allocs, frees, unmatched, reused;
    uint64_t trailer[HP_N_COUNTERS];

    wcache_t wc[WC_SIZE];
};

/* ------------------------------------------------------------------------------------------ */
/* Small helpers */

/* Grows *p (of *cap elements of `elem` bytes) to hold `need`; new memory is zeroed when `zero`.
 * Returns 0 or -1 (out of memory or size overflow; *p unchanged). */
static int grow(void **p, size_t *cap, size_t need, size_t elem, int zero) {
    if (need <= *cap) {
        return 0;
    }
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) {
            return -1;
        }
        nc *= 2;
    }
    if (nc > SIZE_MAX / elem) {
        return -1;
    }
    void *q = realloc(*p, nc * elem);
    if (q == NULL) {
        return -1;
    }
    if (zero) {
        memset((char *)q + *cap * elem, 0, (nc - *cap) * elem);
    }
    *p = q;
    *cap = nc;
    return 0;
}

#define GROW(arr, cap, need, zero) grow((void **)&(arr), &(cap), (need), sizeof *(arr), (zero))

/* Grows a pair of arrays that share one capacity. */
static int grow2(void **a, void **b, size_t *cap, size_t need, size_t ea, size_t eb) {
    if (need <= *cap) {
        return 0;
    }
    size_t ca = *cap, cb = *cap;
    if (grow(a, &ca, need, ea, 1) != 0 || grow(b, &cb, need, eb, 1) != 0) {
        /* One of them may have grown; capacity stays the smaller, which is safe. */
        return -1;
    }
    *cap = ca < cb ? ca : cb;
    return 0;
}

static inline size_t addr_slot(uint64_t addr, size_t mask);

/* Large tables (the live map, the interval index) are probed at random: on 4 KiB pages nearly
 * every probe also misses the TLB. From HUGE_MIN bytes they are allocated 2 MiB-aligned and
 * offered to transparent huge pages (Linux; elsewhere this is a plain allocation). */
#define HUGE_ALIGN ((size_t)2 << 20)
#define HUGE_MIN ((size_t)4 << 20)

static void *big_alloc(size_t bytes, int zero) {
    if (bytes < HUGE_MIN) {
        return zero ? calloc(1, bytes) : malloc(bytes);
    }
    void *p = NULL;
    if (posix_memalign(&p, HUGE_ALIGN, bytes) != 0) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    if (zero) {
        memset(p, 0, bytes);
    }
    return p;
}

/* Grows a block with realloc (for large blocks glibc moves pages with mremap: no copy, and only
 * the new pages are faulted in) and offers its 2 MiB-aligned part to transparent huge pages. */
static void *big_realloc(void *old, size_t bytes) {
    void *p = realloc(old, bytes);
#ifdef MADV_HUGEPAGE
    if (p != NULL && bytes >= HUGE_MIN) {
        uintptr_t a = ((uintptr_t)p + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1);
        uintptr_t e = ((uintptr_t)p + bytes) & ~(uintptr_t)(HUGE_ALIGN - 1);
        if (e > a) {
            (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
        }
    }
#endif
    return p;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static inline uint64_t sat_mul(uint64_t a, uint64_t b) {
    if (a != 0 && b > UINT64_MAX / a) {
        return UINT64_MAX;
    }
    return a * b;
}

static int oom(hp_dec_error_t *err) {
    return hp_dec_fail(err, HP_DEC_ENOMEM, 0, "out of memory");
}

/* ------------------------------------------------------------------------------------------ */
/* Live map */

static inline size_t addr_slot(uint64_t addr, size_t mask) {
    return (size_t)mix64(addr) & mask;
}

static int live_init(livemap_t *m, size_t cap) {
    m->slots = cap <= SIZE_MAX / sizeof *m->slots ? big_alloc(cap * sizeof *m->slots, 1) : NULL;
    if (m->slots == NULL) {
        return -1;
    }
    m->mask = cap - 1;
    m->count = 0;
    return 0;
}

static void live_fini(livemap_t *m) {
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}

static int live_rehash(livemap_t *m) {
    size_t old_cap = m->mask + 1;
    if (old_cap > SIZE_MAX / 2 / sizeof(live_t)) {
        return -1;
    }
    livemap_t n;
    if (live_init(&n, old_cap * 2) != 0) {
        return -1;
    }
    for (size_t i = 0; i < old_cap; i++) {
        live_t *e = &m->slots[i];
        if (e->used) {
            size_t j = addr_slot(e->addr, n.mask);
            while (n.slots[j].used) {
                j = (j + 1) & n.mask;
            }
            n.slots[j] = *e;
        }
    }
    n.count = m->count;
    free(m->slots);
    *m = n;
    return 0;
}

/* The slot of `addr`, or the empty slot where it would go (*found tells which). */
static inline live_t *live_probe(livemap_t *m, uint64_t addr, int *found) {
    size_t j = addr_slot(addr, m->mask);
    for (;;) {
        live_t *e = &m->slots[j];
        if (!e->used) {
            *found = 0;
            return e;
        }
        if (e->addr == addr) {
            *found = 1;
            return e;
        }
        j = (j + 1) & m->mask;
    }
}

/* Makes room so one insert keeps the load at most 3/4. */
static inline int live_reserve(livemap_t *m) {
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) {
        return live_rehash(m);
    }
    return 0;
}

/* Removes the entry at slot `e` (backward-shift deletion keeps probe chains whole). */
static void live_delete(livemap_t *m, live_t *e) {
    size_t i = (size_t)(e - m->slots);
    size_t j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        live_t *x = &m->slots[j];
        if (!x->used) {
            break;
        }
        size_t k = addr_slot(x->addr, m->mask);
        /* x may move to i if its home k is not cyclically in (i, j]. */
        int in_range = (i <= j) ? (k > i && k <= j) : (k > i || k <= j);
        if (!in_range) {
            m->slots[i] = *x;
            i = j;
        }
    }
    m->slots[i].used = 0;
    m->count--;
}

/* ------------------------------------------------------------------------------------------ */
/* Weights (log-format.md "Weights"), exactly as tests/reference_decoder.py computes them. */

static void weigh_raw(const hp_dec_header_t *h, uint64_t s, double *w, double *o, double *v) {
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

static void wcache_init(wcache_t *wc) {
    for (size_t i = 0; i < WC_SIZE; i++) {
        wc[i].size = UINT64_MAX;
    }
}

static inline void weigh(const hp_dec_header_t *h, wcache_t *wc, uint64_t s, double *w,
                         double *o, double *v) {
    if (h->mode == HP_MODE_ALL) {
        *w = (double)s;
        *o = 1.0;
        *v = 0.0;
        return;
    }
    wcache_t *c = &wc[(mix64(s) >> 20) & (WC_SIZE - 1)];
    if (c->size != s) {
        weigh_raw(h, s, &c->w, &c->o, &c->v);
        c->size = s;
    }
    *w = c->w;
    *o = c->o;
    *v = c->v;
}

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle */

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
        oom(err);
        return NULL;
    }
    d->opt = *opt;
    d->width = opt->bucket_ns ? opt->bucket_ns : 1;
    d->max_buckets = opt->bucket_ns ? HP_DIGEST_MAX_BUCKETS : opt->max_buckets;
    d->open_end = d->width;
    d->last_rss = NAN;
    d->index_on = opt->index_limit > 0;
    wcache_init(d->wc);
    if (live_init(&d->live, 1024) != 0 ||
        grow2((void **)&d->str_off, (void **)&d->str_len, &d->str_cap, 16, sizeof(uint64_t),
              sizeof(uint64_t)) != 0 ||
        grow2((void **)&d->stack_off, (void **)&d->stack_depth, &d->stack_cap, 16,
              sizeof(uint64_t), sizeof(uint32_t)) != 0 ||
        GROW(d->frames, d->frame_cap, 16, 1) != 0 || GROW(d->sites, d->site_cap, 16, 1) != 0 ||
        GROW(d->dirty, d->dirty_cap, 16, 0) != 0) {
        goto fail;
    }
    return d;
fail:
    hp_digest_free(d);
    oom(err);
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
    live_fini(&d->live);
    free(d->buckets);
    free(d->changes);
    free(d->index);
    free(d->big);
    free(d);
}

/* ------------------------------------------------------------------------------------------ */
/* Tables */

static int add_text(hp_digest_t *d, const uint8_t *s, uint64_t len, uint64_t *off) {
    if (len > SIZE_MAX - d->text_len - 1 || GROW(d->text, d->text_cap, d->text_len + len + 1, 0)) {
        return -1;
    }
    *off = d->text_len;
    if (len) {
        memcpy(d->text + d->text_len, s, (size_t)len);
    }
    d->text_len += (size_t)len;
    d->text[d->text_len++] = '\0';   /* keeps every text NUL-terminated for convenience */
    return 0;
}

static int add_string(hp_digest_t *d, uint64_t id, const uint8_t *s, uint64_t len) {
    if (id >= SIZE_MAX / 8 ||
        grow2((void **)&d->str_off, (void **)&d->str_len, &d->str_cap, (size_t)id + 1,
              sizeof(uint64_t), sizeof(uint64_t)) != 0 ||
        add_text(d, s, len, &d->str_off[id]) != 0) {
        return -1;
    }
    d->str_len[id] = len;
    return 0;
}

static int add_stack(hp_digest_t *d, uint64_t id, const uint64_t *fids, uint64_t depth,
                     hp_dec_error_t *err) {
    if (id >= UINT32_MAX - 1) {
        return hp_dec_fail(err, HP_DEC_ELIMIT, d->st.offset, "more than 2**32-2 stacks");
    }
    if (grow2((void **)&d->stack_off, (void **)&d->stack_depth, &d->stack_cap, (size_t)id + 1,
              sizeof(uint64_t), sizeof(uint32_t)) != 0 ||
        GROW(d->sites, d->site_cap, (size_t)id + 1, 1) != 0 ||
        GROW(d->dirty, d->dirty_cap, (size_t)id + 1, 0) != 0 ||
        d->fpool_len > SIZE_MAX - depth ||
        GROW(d->fpool, d->fpool_cap, d->fpool_len + (size_t)depth, 0) != 0) {
        return oom(err);
    }
    for (uint64_t i = 0; i < depth; i++) {
        if (fids[i] > UINT32_MAX) {
            return hp_dec_fail(err, HP_DEC_ELIMIT, d->st.offset, "more than 2**32-1 frames");
        }
        d->fpool[d->fpool_len + i] = (uint32_t)fids[i];
    }
    d->stack_off[id] = d->fpool_len;
    d->stack_depth[id] = (uint32_t)depth;
    d->fpool_len += (size_t)depth;
    return HP_DEC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Buckets */

static inline double fold(double x, double total, double precision) {
    return (x > 0.0 && x >= precision * total) ? x : 0.0;
}

static inline uint64_t bucket_end(const hp_digest_t *d, uint64_t i) {
    return sat_mul(i + 1, d->width);
}

static void next_gen(hp_digest_t *d) {
    if (++d->gen == 0) {
        for (size_t s = 0; s < d->site_cap; s++) {
            d->sites[s].gen = 0;
        }
        d->gen = 1;
    }
}

static int close_open(hp_digest_t *d) {
    if (GROW(d->buckets, d->bucket_cap, d->n_closed + 1, 0) != 0 ||
        GROW(d->changes, d->changes_cap, d->n_changes + d->n_dirty, 0) != 0) {
        return -1;
    }
    bucket_t *b = &d->buckets[d->n_closed];
    b->total = d->total;
    b->objects = d->objects;
    b->variance = d->variance;
    b->max = d->open_max;
    b->max_t = d->open_max_t;
    b->rss = d->last_rss;
    b->chg_off = d->n_changes;
    double precision = d->opt.precision;
    for (size_t i = 0; i < d->n_dirty; i++) {
        uint32_t s = d->dirty[i];
        site_t *x = &d->sites[s];
        x->dirty = 0;
        double rec = fold(x->bytes, d->total, precision);
        if (rec != x->last_rec) {
            change_t *c = &d->changes[d->n_changes++];
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
        bucket_t a = d->buckets[2 * j];
        bucket_t b = d->buckets[2 * j + 1];
        next_gen(d);
        size_t off = w;
        for (int part = 0; part < 2; part++) {
            const bucket_t *src = part ? &b : &a;
            for (uint64_t k = 0; k < src->chg_n; k++) {
                change_t c = d->changes[src->chg_off + k];
                site_t *x = &d->sites[c.stack];
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
        bucket_t m = b;
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
static int advance_slow(hp_digest_t *d, uint64_t t, hp_dec_error_t *err) {
    while (t > d->open_end) {
        if (close_open(d) != 0) {
            return oom(err);
        }
        if (d->n_closed >= d->max_buckets) {
            merge_pairs(d);
        }
        d->open_max = d->total;
        d->open_max_t = d->t_changed;
        d->open_end = bucket_end(d, d->n_closed);
    }
    return HP_DEC_OK;
}

static inline int advance(hp_digest_t *d, uint64_t t, hp_dec_error_t *err) {
    return t > d->open_end ? advance_slow(d, t, err) : HP_DEC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Interval index */

static void drop_index(hp_digest_t *d) {
    free(d->index);
    free(d->big);
    d->index = NULL;
    d->big = NULL;
    d->n_index = d->index_cap = d->n_big = d->big_cap = 0;
    d->index_on = 0;
}

static inline uint64_t index_bytes(const hp_digest_t *d) {
    return (uint64_t)d->index_cap * sizeof(ientry_t) + (uint64_t)d->big_cap * sizeof(bigsize_t);
}

/* Appends an allocation; when the index would pass its limit or memory runs out, the index is
 * dropped (queries then re-scan the log) rather than failing the digest. */
static void index_push(hp_digest_t *d, uint64_t t, uint32_t stack, uint64_t size, uint64_t *idx) {
    if (!d->index_on) {
        return;
    }
    if (d->n_index == d->index_cap) {
        /* Double (realloc moves pages: no copy); the last step stops at the limit rather than
         * dropping the index while there is still room. */
        uint64_t room = d->opt.index_limit > (uint64_t)d->big_cap * sizeof(bigsize_t)
                            ? (d->opt.index_limit - (uint64_t)d->big_cap * sizeof(bigsize_t)) /
                                  sizeof(ientry_t)
                            : 0;
        uint64_t want = d->index_cap ? (uint64_t)d->index_cap * 2 : 4096;
        if (want > room) {
            want = room;
        }
        size_t nc = (size_t)want;
        ientry_t *ni = NULL;
        if (want <= d->index_cap || want > SIZE_MAX / sizeof(ientry_t) ||
            (ni = big_realloc(d->index, nc * sizeof(ientry_t))) == NULL) {
            drop_index(d);
            return;
        }
        d->index = ni;
        d->index_cap = nc;
    }
    ientry_t *e = &d->index[d->n_index];
    e->ta = t;
    e->tf = UINT64_MAX;
    e->stack = stack;
    if (size >= UINT32_MAX) {
        if (d->n_big == d->big_cap &&
            (index_bytes(d) + (uint64_t)(d->big_cap ? d->big_cap : 16) * sizeof(bigsize_t) >
                 d->opt.index_limit ||
             GROW(d->big, d->big_cap, d->n_big + 1, 0) != 0)) {
            drop_index(d);
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

/* ------------------------------------------------------------------------------------------ */
/* Records */

static inline void site_add(hp_digest_t *d, uint32_t s, double w, double o, double v,
                            uint64_t t) {
    site_t *x = &d->sites[s];
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
    site_t *x = &d->sites[s];
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
    if (live_reserve(&d->live) != 0) {
        return oom(err);
    }
    int found;
    live_t *e = live_probe(&d->live, r->address, &found);
    double w, o, v;
    if (found) {
        if (d->opt.strict) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, d->st.offset,
                               "ALLOC of address %#llx that is still live",
                               (unsigned long long)r->address);
        }
        d->reused++;
        weigh(&d->h, d->wc, e->size, &w, &o, &v);
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
    index_push(d, t, s, r->size, &e->aux);
    weigh(&d->h, d->wc, r->size, &w, &o, &v);
    site_add(d, s, w, o, v, t);
    d->allocs++;
    return HP_DEC_OK;
}

static int on_free(hp_digest_t *d, const hp_dec_record_t *r, hp_dec_error_t *err) {
    int found;
    live_t *e = live_probe(&d->live, r->address, &found);
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
    weigh(&d->h, d->wc, e->size, &w, &o, &v);
    site_sub(d, e->stack, w, o, v, r->time_ns);
    if (d->index_on) {
        d->index[e->aux].tf = r->time_ns;
    }
    live_delete(&d->live, e);
    d->frees++;
    return HP_DEC_OK;
}

/* Strict mode's anomalies, found before the record moves the buckets: a digest stopped by one
 * holds exactly the records before it (its history must not reach the bad record's time). */
static int strict_check(hp_digest_t *d, const hp_dec_record_t *r, hp_dec_error_t *err) {
    int found;
    (void)live_probe(&d->live, r->address, &found);
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
            (rc = advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        return on_alloc(d, r, err);
    case HP_TAG_FREE:
        if ((d->opt.strict && (rc = strict_check(d, r, err)) != 0) ||
            (rc = advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        return on_free(d, r, err);
    case HP_TAG_RSS:
        if ((rc = advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        d->last_rss = (double)r->size;
        return HP_DEC_OK;
    case HP_TAG_STRING:
        return add_string(d, r->id, r->text, r->text_len) ? oom(err) : HP_DEC_OK;
    case HP_TAG_FRAME:
        if (r->id >= SIZE_MAX / sizeof(frame_t) || GROW(d->frames, d->frame_cap, r->id + 1, 1)) {
            return oom(err);
        }
        d->frames[r->id].file = r->filename_id;
        d->frames[r->id].func = r->function_id;
        d->frames[r->id].line = r->line;
        return HP_DEC_OK;
    case HP_TAG_STACK:
        hp_dec_stack_frames(r, d->frame_tmp);
        return add_stack(d, r->id, d->frame_tmp, r->depth, err);
    case HP_TAG_THREAD:
        return HP_DEC_OK;
    case HP_TAG_MARKER: {
        if ((rc = advance(d, r->time_ns, err)) != 0) {
            return rc;
        }
        if (GROW(d->markers, d->markers_cap, d->n_markers + 1, 0)) {
            return oom(err);
        }
        marker_t *m = &d->markers[d->n_markers];
        m->time = r->time_ns;
        m->kind = r->kind;
        m->len = r->text_len;
        if (add_text(d, r->text, r->text_len, &m->off)) {
            return oom(err);
        }
        d->n_markers++;
        return HP_DEC_OK;
    }
    case HP_TAG_META: {
        if (GROW(d->meta, d->meta_cap, d->n_meta + 1, 0)) {
            return oom(err);
        }
        meta_t *m = &d->meta[d->n_meta];
        m->klen = r->text_len;
        m->vlen = r->value_len;
        if (add_text(d, r->text, r->text_len, &m->koff) ||
            add_text(d, r->value, r->value_len, &m->voff)) {
            return oom(err);
        }
        d->n_meta++;
        return HP_DEC_OK;
    }
    case HP_TAG_TRAILER:
        if ((rc = advance(d, r->time_ns, err)) != 0) {
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
            __builtin_prefetch(&d->live.slots[addr_slot(recs[nb].address, d->live.mask)], 1);
            *pos += n;
            nb++;
        }
        if (nb == 0) {
            return HP_DEC_OK;
        }
        if (d->index_on) {
            for (int i = 0; i < nb; i++) {
                if (recs[i].tag == HP_TAG_FREE) {
                    const live_t *e = &d->live.slots[addr_slot(recs[i].address, d->live.mask)];
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
                rc = advance(d, r->time_ns, err);
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
            return poison(d, oom(err), err);
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

/* ------------------------------------------------------------------------------------------ */
/* Reader */

void hp_reader_init(hp_reader_t *r) {
    memset(r, 0, sizeof *r);
}

void hp_reader_fini(hp_reader_t *r) {
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* Room for `more` bytes after r->end: move pending bytes to the front, grow if needed. */
static int reader_room(hp_reader_t *r, size_t more) {
    if (r->start > 0) {
        size_t n = r->end - r->start;
        memmove(r->buf, r->buf + r->start, n);
        r->start = 0;
        r->end = n;
    }
    if (more > SIZE_MAX - r->end) {
        return -1;
    }
    return GROW(r->buf, r->cap, r->end + more, 0);
}

int hp_reader_fill(hp_reader_t *r, int fd, size_t chunk, size_t *got, hp_dec_error_t *err) {
    *got = 0;
    if (r->cap - r->end < chunk && reader_room(r, chunk) != 0) {
        return oom(err);
    }
    for (;;) {
        ssize_t n = pread(fd, r->buf + r->end, chunk, (off_t)r->file_off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            hp_dec_fail(err, HP_DEC_EIO, r->file_off, "reading the log failed: %s", strerror(e));
            err->sys_errno = e;
            return HP_DEC_EIO;
        }
        r->end += (size_t)n;
        r->file_off += (uint64_t)n;
        *got = (size_t)n;
        return HP_DEC_OK;
    }
}

int hp_reader_append(hp_reader_t *r, const uint8_t *data, size_t len) {
    if (r->cap - r->end < len && reader_room(r, len) != 0) {
        return HP_DEC_ENOMEM;
    }
    if (len) {
        memcpy(r->buf + r->end, data, len);
    }
    r->end += len;
    r->file_off += len;
    return HP_DEC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Accessors */

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
    info->index_bytes = index_bytes(d);
    info->memory_bytes =
        sizeof *d + d->text_cap + d->str_cap * 16 + d->frame_cap * sizeof(frame_t) +
        d->stack_cap * 12 + d->fpool_cap * 4 + d->site_cap * sizeof(site_t) + d->dirty_cap * 4 +
        d->markers_cap * sizeof(marker_t) + d->meta_cap * sizeof(meta_t) +
        (d->live.slots ? (d->live.mask + 1) * sizeof(live_t) : 0) +
        d->bucket_cap * sizeof(bucket_t) + d->changes_cap * sizeof(change_t) + index_bytes(d);
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

const char *hp_digest_string(const hp_digest_t *d, uint64_t id, size_t *len) {
    if (id == 0 || id > d->st.n_strings) {
        *len = 0;
        return "";
    }
    *len = (size_t)d->str_len[id];
    return d->text + d->str_off[id];
}

void hp_digest_frame(const hp_digest_t *d, uint64_t id, uint64_t *filename_id,
                     uint64_t *function_id, uint64_t *line) {
    if (id == 0 || id > d->st.n_frames) {
        *filename_id = *function_id = *line = 0;
        return;
    }
    *filename_id = d->frames[id].file;
    *function_id = d->frames[id].func;
    *line = d->frames[id].line;
}

const uint32_t *hp_digest_stack(const hp_digest_t *d, uint64_t id, size_t *depth) {
    if (id == 0 || id > d->st.n_stacks) {
        *depth = 0;
        return d->fpool;
    }
    *depth = d->stack_depth[id];
    return d->fpool + d->stack_off[id];
}

void hp_digest_marker(const hp_digest_t *d, uint64_t i, uint64_t *time_ns, uint64_t *kind,
                      const char **label, size_t *len) {
    const marker_t *m = &d->markers[i];
    *time_ns = m->time;
    *kind = m->kind;
    *label = d->text + m->off;
    *len = (size_t)m->len;
}

void hp_digest_meta(const hp_digest_t *d, uint64_t i, const char **key, size_t *key_len,
                    const char **value, size_t *value_len) {
    const meta_t *m = &d->meta[i];
    *key = d->text + m->koff;
    *key_len = (size_t)m->klen;
    *value = d->text + m->voff;
    *value_len = (size_t)m->vlen;
}

/* ------------------------------------------------------------------------------------------ */
/* History and peak */

/* Bucket k of the history: a closed one, or the open one as if it closed now. */
static bucket_t bucket_at(const hp_digest_t *d, uint64_t k) {
    if (k < d->n_closed) {
        return d->buckets[k];
    }
    bucket_t b;
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

static inline uint64_t n_history(const hp_digest_t *d) {
    return d->n_closed + (d->final ? 0 : 1);
}

void hp_digest_peak(const hp_digest_t *d, uint64_t *time_ns, double *bytes) {
    uint64_t n = n_history(d);
    double best = 0.0;
    uint64_t when = 0;
    for (uint64_t k = 0; k < n; k++) {
        bucket_t b = bucket_at(d, k);
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
    uint64_t nb = n_history(d);
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
    out->bucket_ns = sat_mul(g, d->width);
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
        bucket_t b = bucket_at(d, last);
        out->time_ns[j] = last == nb - 1 ? d->st.time_ns : bucket_end(d, last);
        out->total[j] = b.total;
        out->objects[j] = b.objects;
        out->variance[j] = b.variance > 0 ? b.variance : 0.0;
        out->rss[j] = b.rss;
        double mx = -1.0;
        uint64_t mt = 0;
        for (uint64_t k = first; k <= last; k++) {
            bucket_t c = bucket_at(d, k);
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
        const change_t *e = &d->changes[c];
        if (e->value > pk[e->stack]) {
            pk[e->stack] = e->value;
        }
    }
    if (virt) {
        for (size_t i = 0; i < d->n_dirty; i++) {
            uint32_t s = d->dirty[i];
            double rec = fold(d->sites[s].bytes, d->total, d->opt.precision);
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
                const bucket_t *b = &d->buckets[k];
                for (uint64_t c = 0; c < b->chg_n; c++) {
                    const change_t *e = &d->changes[b->chg_off + c];
                    if (slot[e->stack] >= 0) {
                        cur[slot[e->stack]] = e->value;
                    }
                }
            }
            else {
                for (size_t i = 0; i < d->n_dirty; i++) {
                    uint32_t s = d->dirty[i];
                    if (slot[s] >= 0) {
                        cur[slot[s]] = fold(d->sites[s].bytes, d->total, d->opt.precision);
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

/* ------------------------------------------------------------------------------------------ */
/* Snapshot and window queries */

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
    wcache_t *wc = malloc(WC_SIZE * sizeof *wc);
    if (wc == NULL) {
        return HP_DEC_ENOMEM;
    }
    wcache_init(wc);
    size_t bi = 0;
    for (size_t i = 0; i < end; i++) {
        const ientry_t *e = &d->index[i];
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
        weigh(&d->h, wc, size, &w, &o, &v);
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
    livemap_t lm = {0};
    wcache_t *wc = malloc(WC_SIZE * sizeof *wc);
    int rc = HP_DEC_OK;
    if (wc == NULL || live_init(&lm, 1024) != 0) {
        rc = oom(err);
        goto done;
    }
    wcache_init(wc);
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
                if (live_reserve(&lm) != 0) {
                    rc = oom(err);
                    goto done;
                }
                live_t *e = live_probe(&lm, rec.address, &found);
                if (found) {
                    weigh(&d->h, wc, e->size, &w, &o, &v);
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
                live_t *e = live_probe(&lm, rec.address, &found);
                if (found) {
                    weigh(&d->h, wc, e->size, &w, &o, &v);
                    classify(out, live_only, t0, t1, e->aux, rec.time_ns, e->stack, w, o, v);
                    live_delete(&lm, e);
                }
            }
        }
    }
    for (size_t i = 0; i <= lm.mask; i++) {
        const live_t *e = &lm.slots[i];
        if (e->used) {
            double w, o, v;
            weigh(&d->h, wc, e->size, &w, &o, &v);
            classify(out, live_only, t0, t1, e->aux, UINT64_MAX, e->stack, w, o, v);
        }
    }
done:
    free(wc);
    live_fini(&lm);
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
        return oom(err);
    }
    if (!d->have_header) {
        return HP_DEC_OK;
    }
    int rc;
    if (d->index_on) {
        rc = window_index(d, t0, t1, live_only, out);
        if (rc != HP_DEC_OK) {
            oom(err);
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

/* ------------------------------------------------------------------------------------------ */
/* Dump and load. Little endian throughout, independent of the host. */

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
    if (n > SIZE_MAX - b->len || GROW(b->p, b->cap, b->len + n, 0) != 0) {
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
    uint64_t nb = n_history(d);
    put_u64(&b, d->width);
    put_u64(&b, nb);
    uint64_t n_open_changes = 0;
    if (!d->final) {
        for (size_t i = 0; i < d->n_dirty; i++) {
            const site_t *x = &d->sites[d->dirty[i]];
            if (fold(x->bytes, d->total, d->opt.precision) != x->last_rec) {
                n_open_changes++;
            }
        }
    }
    for (uint64_t k = 0; k < nb; k++) {
        bucket_t bk = bucket_at(d, k);
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
            const site_t *x = &d->sites[s];
            double rec = fold(x->bytes, d->total, d->opt.precision);
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
            const ientry_t *e = &d->index[i];
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
        oom(err);
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

static uint64_t get_u64(rbuf_t *r) {
    if (r->bad || r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | r->p[i];
    }
    r->p += 8;
    return v;
}

static uint32_t get_u32(rbuf_t *r) {
    if (r->bad || r->end - r->p < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        v = (v << 8) | r->p[i];
    }
    r->p += 4;
    return v;
}

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
        if (add_string(d, i, s, sl)) {
            goto nomem;
        }
    }
    d->st.n_strings = n;
    n = get_count(&r, 24);
    CHECK(1, "");
    if (GROW(d->frames, d->frame_cap, (size_t)n + 1, 1)) {
        goto nomem;
    }
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
        if (add_stack(d, i, d->frame_tmp, depth, &e2) != HP_DEC_OK) {
            goto nomem;
        }
    }
    d->st.n_stacks = n;
    n = get_count(&r, 24);
    CHECK(1, "");
    if (GROW(d->markers, d->markers_cap, (size_t)n, 0)) {
        goto nomem;
    }
    uint64_t prev_t = 0;
    for (uint64_t i = 0; i < n; i++) {
        marker_t *m = &d->markers[i];
        m->time = get_u64(&r);
        m->kind = get_u64(&r);
        const uint8_t *s = get_blob(&r, HP_MAX_STRING, &m->len);
        CHECK(s != NULL && m->time >= prev_t &&
                  m->time <= d->st.time_ns,
              "bad marker");
        prev_t = m->time;
        if (add_text(d, s, m->len, &m->off)) {
            goto nomem;
        }
        d->n_markers++;
    }
    n = get_count(&r, 16);
    CHECK(1, "");
    if (GROW(d->meta, d->meta_cap, (size_t)n, 0)) {
        goto nomem;
    }
    for (uint64_t i = 0; i < n; i++) {
        meta_t *m = &d->meta[i];
        const uint8_t *k = get_blob(&r, HP_MAX_STRING, &m->klen);
        CHECK(k != NULL, "bad meta");
        if (add_text(d, k, m->klen, &m->koff)) {
            goto nomem;
        }
        const uint8_t *v = get_blob(&r, HP_MAX_META_VALUE, &m->vlen);
        CHECK(v != NULL, "bad meta");
        if (add_text(d, v, m->vlen, &m->voff)) {
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
    if (GROW(d->buckets, d->bucket_cap, (size_t)nb, 0)) {
        goto nomem;
    }
    uint64_t chg_total = 0;
    for (uint64_t k = 0; k < nb; k++) {
        bucket_t *b = &d->buckets[k];
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
    if (GROW(d->changes, d->changes_cap, (size_t)n, 0)) {
        goto nomem;
    }
    for (uint64_t i = 0; i < n; i++) {
        change_t *c = &d->changes[i];
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
    drop_index(d);
    if (has_index) {
        n = get_count(&r, 28);
        CHECK(1, "");
        d->index = big_realloc(NULL, (size_t)(n ? n : 1) * sizeof(ientry_t));
        if (d->index == NULL) {
            goto nomem;
        }
        d->index_cap = (size_t)(n ? n : 1);
        d->index_on = 1;
        uint64_t prev = 0;
        for (uint64_t i = 0; i < n; i++) {
            ientry_t *e = &d->index[i];
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
                if (GROW(d->big, d->big_cap, d->n_big + 1, 0)) {
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
#undef CHECK
    return d;
bad:
    hp_digest_free(d);
    hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(r.p - buf), "invalid digest cache: %s", why);
    return NULL;
nomem:
    hp_digest_free(d);
    oom(err);
    return NULL;
}
