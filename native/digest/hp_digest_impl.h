// SPDX-License-Identifier: MIT
/* The digest's state, shared by the files of native/digest that implement hp_digest.h: the
 * types of the live map, the weight cache, the tables, the history and the interval index, and
 * struct hp_digest that holds them all. Types only: each file's own header declares its
 * functions (hp_dalloc.h, hp_livemap.h, hp_weights.h, hp_tables.h, hp_history.h, hp_index.h).
 *
 * Guarded by the caller of hp_digest.h: one digest is used by one thread at a time (the binding
 * and the feeder hold the digest's lock around every call). */
#ifndef HP_DIGEST_IMPL_H
#define HP_DIGEST_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "../hp_common.h" /* hp_mix64 */
#include "hp_digest.h"

/* A live sampled allocation. `aux` is its index in the interval index (digest) or its
 * allocation time (re-scan). */
typedef struct {
    uint64_t addr;
    uint64_t size;
    uint64_t aux;
    uint32_t stack;
    uint32_t used;
} hp_dlive_t;

typedef struct {
    hp_dlive_t *slots;
    size_t mask;   /* capacity - 1, capacity a power of two */
    size_t count;
} hp_livemap_t;

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
} hp_site_t;

typedef struct {
    double total;
    double objects;
    double variance;
    double max;
    double rss;
    uint64_t max_t;
    uint64_t chg_off;
    uint64_t chg_n;
} hp_bucket_t;

typedef struct {
    double value;
    uint32_t stack;
    uint32_t pad;
} hp_change_t;

/* One sampled allocation in the interval index: 24 bytes. A size that does not fit 32 bits is
 * stored as UINT32_MAX and found in the `big` side table (sorted by entry index). */
typedef struct {
    uint64_t ta;
    uint64_t tf;   /* UINT64_MAX while live */
    uint32_t stack;
    uint32_t size32;
} hp_ientry_t;

typedef struct {
    uint64_t index;
    uint64_t size;
} hp_bigsize_t;

typedef struct {
    uint64_t time;
    uint64_t kind;
    uint64_t off;
    uint64_t len;
} hp_dmarker_t;

typedef struct {
    uint64_t koff, klen, voff, vlen;
} hp_dmeta_t;

typedef struct {
    uint64_t line;
    uint64_t file;
    uint64_t func;
} hp_dframe_t;

#define HP_WCACHE_BITS 10
#define HP_WCACHE_SIZE (1u << HP_WCACHE_BITS)
typedef struct {
    uint64_t size;   /* UINT64_MAX = empty */
    double w, o, v;
} hp_wcache_t;

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
    hp_dframe_t *frames;               /* index = frame id */
    size_t frame_cap;
    uint64_t *stack_off;           /* index = stack id; 0 is the empty stack */
    uint32_t *stack_depth;
    size_t stack_cap;
    uint32_t *fpool;
    size_t fpool_len, fpool_cap;
    hp_site_t *sites;                 /* index = stack id */
    size_t site_cap;
    uint32_t *dirty;
    size_t n_dirty, dirty_cap;
    hp_dmarker_t *markers;
    size_t n_markers, markers_cap;
    hp_dmeta_t *meta;
    size_t n_meta, meta_cap;
    uint64_t frame_tmp[HP_MAX_FRAMES_LIMIT];

    /* Live set and totals. */
    hp_livemap_t live;
    double total, objects, variance;
    uint64_t live_n;
    uint64_t t_changed;   /* when the total last changed */
    double last_rss;

    /* Buckets: n_closed closed ones, then the open one (index n_closed), unless final. */
    uint64_t width;
    uint32_t max_buckets;
    hp_bucket_t *buckets;
    size_t n_closed, bucket_cap;
    uint64_t open_end;
    double open_max;
    uint64_t open_max_t;
    hp_change_t *changes;
    size_t n_changes, changes_cap;
    uint32_t gen;

    /* Interval index. */
    int index_on;
    hp_ientry_t *index;
    size_t n_index, index_cap;
    hp_bigsize_t *big;
    size_t n_big, big_cap;

    uint64_t allocs, frees, unmatched, reused;
    uint64_t trailer[HP_N_COUNTERS];

    hp_wcache_t wc[HP_WCACHE_SIZE];
};

#endif /* HP_DIGEST_IMPL_H */
