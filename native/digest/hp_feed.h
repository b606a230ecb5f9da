// SPDX-License-Identifier: MIT
/* Feeding a digest from a growing log: the loop that reads the file in chunks (or takes bytes
 * given in memory), digests every complete record and keeps the rest for the next feed, with
 * progress counters and cancellation another thread can use while it runs.
 *
 * Owns one digest and its read buffer:
 * - `d` is guarded by `lock`, which the feeder holds around each hp_digest_feed and a querying
 *   thread around each query (hp_feeder_lock), so queries see the digest between chunks;
 * - `reader` belongs to the thread feeding (the one whose hp_feeder_begin succeeded);
 * - `feeding`, `cancel`, `cancelled` and the progress counters are atomics: any thread.
 * No Python: the binding (hp_digest_module.c) calls the feed functions with the GIL released. */
#ifndef HP_FEED_H
#define HP_FEED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hp_digest.h"

typedef struct {
    hp_digest_t *d;             /* NULL until set (hp_digest_new or hp_digest_load) */
    hp_reader_t reader;
    pthread_mutex_t lock;
    atomic_int feeding;         /* 1 while a feed runs */
    atomic_int cancel;          /* set by hp_feeder_set_cancel, read between chunks */
    atomic_int cancelled;       /* the last feed stopped because of cancel */
    _Atomic uint64_t consumed;  /* bytes digested (header and complete records) */
    _Atomic uint64_t received;  /* bytes read from the file or given */
    _Atomic uint64_t target;    /* size of the file at the last feed from it, or received */
} hp_feeder_t;

/* Initialises an empty feeder (no digest yet). Returns HP_DEC_OK or HP_DEC_ENOMEM. */
int hp_feeder_init(hp_feeder_t *f);
/* Frees the digest, the buffer and the lock. No feed may be running. */
void hp_feeder_fini(hp_feeder_t *f);

/* Claims the feeder for the calling thread: HP_DEC_OK, or HP_DEC_ESTATE if another thread is
 * feeding it. Each feed function below releases the claim when it returns. */
int hp_feeder_begin(hp_feeder_t *f);

/* Reads `fd` from where the last feed stopped to its current end, HP_DIGEST_CHUNK at a time,
 * digesting after each chunk; stops early if cancel is set (then *eof = 0 and `cancelled` is 1).
 * *eof = 1 when the end of the file was reached. Returns HP_DEC_OK or an error with *err filled
 * (the digest keeps what it read before). */
int hp_feeder_fd(hp_feeder_t *f, int fd, int *eof, hp_dec_error_t *err);

/* Digests bytes that follow what was fed before. HP_DEC_OK or an error with *err filled. */
int hp_feeder_bytes(hp_feeder_t *f, const uint8_t *data, size_t len, hp_dec_error_t *err);

/* Marks a digest loaded from a dump as read up to `offset` (its progress counters). */
void hp_feeder_loaded(hp_feeder_t *f, uint64_t offset);

void hp_feeder_set_cancel(hp_feeder_t *f, int cancel);

/* The lock on `d`, for queries. trylock returns 1 if it was taken. */
void hp_feeder_lock(hp_feeder_t *f);
int hp_feeder_trylock(hp_feeder_t *f);
void hp_feeder_unlock(hp_feeder_t *f);

#endif /* HP_FEED_H */
