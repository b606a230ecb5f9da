// SPDX-License-Identifier: MIT
/* The digest: one pass over an event log (docs/log-format.md) that turns it into memory over time.
 *
 * Fed with the log's bytes in any slices (a log that is still growing is fed again as it grows),
 * it keeps:
 *
 * - the tables of the log (strings, frames, stacks, markers, META pairs, trailer counters);
 * - the live set of sampled allocations (address -> stack, size), to match FREEs;
 * - the time history: buckets of equal width, each with the estimated live bytes, objects and
 *   sampling variance at its end, the maximum of live bytes inside it (and when it was first
 *   reached, so the peak is exact in mode 2) and the last RSS reading. In automatic mode the
 *   width is a power of two nanoseconds that doubles (merging neighbours) whenever the count
 *   would pass `max_buckets`, so a run of any length keeps between max_buckets/2 and max_buckets
 *   buckets. The last, partial bucket is always part of the history;
 * - per-site series in a folded, sparse form: when a bucket closes, each site (stack) whose live
 *   bytes changed in it records its new value if that is at least `precision` of the total, or 0
 *   ("folded into other") if it was recorded before. Totals are never folded. Memory: the
 *   buckets, plus at most 2/precision entries per bucket;
 * - the interval index for snapshot and window queries: 24 bytes per sampled allocation (alloc
 *   time, free time, stack, size), the one part that grows with the log. It is capped at
 *   `index_limit` bytes; past the cap it is dropped and queries re-scan the log from its start
 *   with the decoder instead (same results, slower).
 *
 * Estimates: each sampled allocation of s bytes stands for w = s/p bytes and 1/p objects (mode 0:
 * p = -expm1(-s/R); mode 1: p of the size's bucket; mode 2: p = 1) and adds w*(w - s) to the
 * variance of a live total (0 when every allocation is traced). Time is nanoseconds since
 * start_ns; the state at time t includes every record with time <= t, and bucket i covers
 * (i*W, (i+1)*W] (time 0 belongs to bucket 0).
 *
 * Anomalies, as tests/reference_decoder.py counts them: a FREE of an address that is not live is
 * counted and ignored; an ALLOC of an address that is still live counts as the free of the older
 * block at that moment. In strict mode both are format errors.
 *
 * Thread safety: none inside; the caller serialises all calls on one digest (hp_digest_module.c
 * holds a lock around each). No Python, no global state; allocations come from libc and every
 * one is checked. */
#ifndef HP_DIGEST_H
#define HP_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "hp_decode.h"
#include "hp_reader.h" /* the read buffer its feeders use */

#define HP_DIGEST_AUTO_BUCKETS 4096u
#define HP_DIGEST_MAX_BUCKETS (1u << 20)
#define HP_DIGEST_DEFAULT_PRECISION 0.005
#define HP_DIGEST_DEFAULT_INDEX_LIMIT ((uint64_t)512 << 20)
#define HP_DIGEST_CHUNK ((size_t)1 << 20)

typedef struct hp_digest hp_digest_t;

typedef struct {
    uint64_t bucket_ns;     /* fixed bucket width, or 0 for automatic */
    uint32_t max_buckets;   /* count that triggers a doubling: even, 2..HP_DIGEST_MAX_BUCKETS */
    double precision;       /* fold sites below this fraction of the total, in [0, 1] */
    uint64_t index_limit;   /* bytes the interval index may use (0: never build it) */
    int strict;             /* unmatched FREE / reused address are format errors */
} hp_digest_options_t;

/* Defaults: automatic buckets (HP_DIGEST_AUTO_BUCKETS), HP_DIGEST_DEFAULT_PRECISION,
 * HP_DIGEST_DEFAULT_INDEX_LIMIT, not strict. */
void hp_digest_options_default(hp_digest_options_t *opt);

/* A new, empty digest, or NULL (out of memory or invalid options; see *err). */
hp_digest_t *hp_digest_new(const hp_digest_options_t *opt, hp_dec_error_t *err);
void hp_digest_free(hp_digest_t *d);

/* Decodes and digests the complete header and records at the start of buf[0..len), the bytes of
 * the file at offset hp_digest_offset(d). *used is how many bytes were consumed (the rest is an
 * incomplete record: feed it again with what follows). Returns HP_DEC_OK or a negative code with
 * *err filled; after an error the digest refuses more input (the same error again) but keeps
 * answering queries about what it digested. */
int hp_digest_feed(hp_digest_t *d, const uint8_t *buf, size_t len, size_t *used,
                   hp_dec_error_t *err);

/* ---- What the digest knows. ---- */
typedef struct {
    int have_header;
    int complete;             /* the TRAILER was read */
    int final;                /* loaded from a dump: no more input */
    int failed;               /* an error stopped the digest */
    int has_index;            /* snapshot/window queries are served from memory */
    uint64_t offset;          /* bytes consumed (header and complete records) */
    uint64_t records;
    uint64_t end_ns;          /* time of the last timed record */
    uint64_t bucket_ns;       /* current bucket width */
    uint64_t n_buckets;       /* including the last, partial one */
    uint64_t n_strings, n_frames, n_stacks, n_threads, n_markers, n_meta;
    uint64_t allocs, frees, unmatched_frees, reused_addresses;
    uint64_t live_samples;    /* sampled allocations live now */
    double live_bytes, live_objects, live_variance;
    uint64_t index_bytes;     /* memory of the interval index */
    uint64_t memory_bytes;    /* approximate memory of the whole digest */
    uint64_t trailer[HP_N_COUNTERS];
} hp_digest_info_t;

void hp_digest_info(const hp_digest_t *d, hp_digest_info_t *info);
/* The decoded header and its bytes; NULL before the header was read. */
const hp_dec_header_t *hp_digest_header(const hp_digest_t *d, const uint8_t **bytes);
/* The error that stopped the digest, or NULL. */
const hp_dec_error_t *hp_digest_last_error(const hp_digest_t *d);

/* Tables, by id (1..n); the results point into the digest and stay valid until the next feed. */
const char *hp_digest_string(const hp_digest_t *d, uint64_t id, size_t *len);
void hp_digest_frame(const hp_digest_t *d, uint64_t id, uint64_t *filename_id,
                     uint64_t *function_id, uint64_t *line);
const uint32_t *hp_digest_stack(const hp_digest_t *d, uint64_t id, size_t *depth);
/* Markers and META pairs by index (0..n-1), in file order. */
void hp_digest_marker(const hp_digest_t *d, uint64_t i, uint64_t *time_ns, uint64_t *kind,
                      const char **label, size_t *len);
void hp_digest_meta(const hp_digest_t *d, uint64_t i, const char **key, size_t *key_len,
                    const char **value, size_t *value_len);

/* ---- Time history. ---- */
typedef struct {
    uint64_t n_points;
    uint64_t group;        /* buckets per point */
    uint64_t bucket_ns;    /* width of a point: group * bucket width */
    uint64_t *time_ns;     /* end of each point (the last: the time of the last record) */
    double *total;         /* live bytes at the end of the point */
    double *objects;
    double *variance;
    double *max;           /* the largest live bytes inside the point */
    uint64_t *max_time_ns; /* when it was first reached */
    double *rss;           /* last RSS reading at the end of the point, NaN before the first */
    uint32_t n_top;
    uint32_t *top;         /* stack ids of the largest sites (largest peak first) */
    double *series;        /* n_top x n_points, row by site: the site's live bytes, 0 = folded */
} hp_history_t;

/* At most `points` points (groups of whole buckets) and the `top` largest sites. Returns
 * HP_DEC_OK or HP_DEC_ENOMEM; release with hp_history_fini(). */
int hp_digest_history(const hp_digest_t *d, uint64_t points, uint32_t top, hp_history_t *out);
void hp_history_fini(hp_history_t *h);

/* The largest estimated live bytes at any moment and when it was first reached. */
void hp_digest_peak(const hp_digest_t *d, uint64_t *time_ns, double *bytes);

/* ---- Snapshot and window queries. ---- */
typedef struct {
    double bytes;
    double objects;
    double variance;
    uint64_t samples;
} hp_acc_t;

enum {
    HP_W_LIVE = 0,      /* live at t1: alloc <= t1 < free */
    HP_W_KEPT = 1,      /* allocated in (t0, t1] and live at t1 */
    HP_W_FREED = 2,     /* allocated and freed in (t0, t1] */
    HP_W_DROPPED = 3,   /* allocated at or before t0 and freed in (t0, t1]; growth = KEPT - DROPPED */
    HP_W_N = 4,
};

typedef struct {
    uint64_t n_slots;   /* stack ids 0..n_slots-1 */
    hp_acc_t *m[HP_W_N];
} hp_window_t;

/* Sums the four measures per stack for the window (t0, t1], 0 <= t0 <= t1. Served from the
 * interval index when there is one; otherwise the log is re-read from `fd` (its first
 * hp_digest_offset bytes, so the answer matches the history). `live_only` computes HP_W_LIVE
 * alone (a snapshot). Returns HP_DEC_OK, HP_DEC_ENOMEM, HP_DEC_EIO or HP_DEC_EFORMAT (the file
 * changed under us); release with hp_window_fini(). */
int hp_digest_window(const hp_digest_t *d, uint64_t t0, uint64_t t1, int live_only, int fd,
                     hp_window_t *out, hp_dec_error_t *err);
void hp_window_fini(hp_window_t *w);

/* ---- Saving and loading. ----
 * hp_digest_dump serialises everything but the live set: the loaded digest answers every query
 * and takes no more input. hp_digest_load validates every count, id, offset and order before
 * use (it is read from a file). Both return NULL on failure with *err filled. */
uint8_t *hp_digest_dump(const hp_digest_t *d, size_t *len, hp_dec_error_t *err);
hp_digest_t *hp_digest_load(const uint8_t *buf, size_t len, hp_dec_error_t *err);

#endif /* HP_DIGEST_H */
