// SPDX-License-Identifier: MIT
/* The feed loop (see hp_feed.h). */
#include "hp_feed.h"

#include <sys/stat.h>

int hp_feeder_init(hp_feeder_t *f) {
    f->d = NULL;
    hp_reader_init(&f->reader);
    atomic_init(&f->feeding, 0);
    atomic_init(&f->cancel, 0);
    atomic_init(&f->cancelled, 0);
    atomic_init(&f->consumed, 0);
    atomic_init(&f->received, 0);
    atomic_init(&f->target, 0);
    return pthread_mutex_init(&f->lock, NULL) == 0 ? HP_DEC_OK : HP_DEC_ENOMEM;
}

void hp_feeder_fini(hp_feeder_t *f) {
    hp_digest_free(f->d);
    f->d = NULL;
    hp_reader_fini(&f->reader);
    pthread_mutex_destroy(&f->lock);
}

int hp_feeder_begin(hp_feeder_t *f) {
    int expected = 0;
    return atomic_compare_exchange_strong(&f->feeding, &expected, 1) ? HP_DEC_OK : HP_DEC_ESTATE;
}

void hp_feeder_lock(hp_feeder_t *f) { pthread_mutex_lock(&f->lock); }
int hp_feeder_trylock(hp_feeder_t *f) { return pthread_mutex_trylock(&f->lock) == 0; }
void hp_feeder_unlock(hp_feeder_t *f) { pthread_mutex_unlock(&f->lock); }

void hp_feeder_set_cancel(hp_feeder_t *f, int cancel) { atomic_store(&f->cancel, cancel); }

void hp_feeder_loaded(hp_feeder_t *f, uint64_t offset) {
    atomic_store(&f->consumed, offset);
    atomic_store(&f->received, offset);
    atomic_store(&f->target, offset);
}

/* Digests what the reader holds, under the lock. */
static int digest_pending(hp_feeder_t *f, hp_dec_error_t *err) {
    hp_reader_t *r = &f->reader;
    size_t used = 0;
    pthread_mutex_lock(&f->lock);
    int rc = hp_digest_feed(f->d, r->buf + r->start, hp_reader_pending(r), &used, err);
    pthread_mutex_unlock(&f->lock);
    r->start += used;
    if (r->start == r->end) {
        r->start = r->end = 0;
    }
    atomic_store(&f->consumed, r->file_off - hp_reader_pending(r));
    return rc;
}

/* After bytes up to `received` were read: progress, and the target never below it. */
static void note_received(hp_feeder_t *f) {
    uint64_t received = f->reader.file_off;
    atomic_store(&f->received, received);
    if (received > atomic_load(&f->target)) {
        atomic_store(&f->target, received);
    }
}

int hp_feeder_fd(hp_feeder_t *f, int fd, int *eof, hp_dec_error_t *err) {
    struct stat stbuf;
    if (fstat(fd, &stbuf) == 0 && (uint64_t)stbuf.st_size > atomic_load(&f->target)) {
        atomic_store(&f->target, (uint64_t)stbuf.st_size);
    }
    int rc = HP_DEC_OK;
    *eof = 0;
    atomic_store(&f->cancelled, 0);
    for (;;) {
        if (atomic_load(&f->cancel)) {
            atomic_store(&f->cancelled, 1);
            break;
        }
        size_t got;
        rc = hp_reader_fill(&f->reader, fd, HP_DIGEST_CHUNK, &got, err);
        if (rc != HP_DEC_OK) {
            break;
        }
        if (got == 0) {
            *eof = 1;
            break;
        }
        note_received(f);
        rc = digest_pending(f, err);
        if (rc != HP_DEC_OK) {
            break;
        }
    }
    atomic_store(&f->feeding, 0);
    return rc;
}

int hp_feeder_bytes(hp_feeder_t *f, const uint8_t *data, size_t len, hp_dec_error_t *err) {
    int rc = hp_reader_append(&f->reader, data, len);
    if (rc == HP_DEC_OK) {
        rc = digest_pending(f, err);
    } else {
        hp_dec_fail(err, rc, 0, "out of memory");
    }
    note_received(f);
    atomic_store(&f->feeding, 0);
    return rc;
}
