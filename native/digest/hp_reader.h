// SPDX-License-Identifier: MIT
/* A read buffer for feeding a digest from a file descriptor or from memory: it holds the bytes
 * read but not yet consumed (an incomplete record). Owned by one feeder (no lock); the window
 * queries use one of their own to re-scan a log. */
#ifndef HP_READER_H
#define HP_READER_H

#include <stddef.h>
#include <stdint.h>

#include "hp_decode.h"

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t start;       /* first unconsumed byte */
    size_t end;         /* one past the last byte read */
    uint64_t file_off;  /* file offset of buf[end] */
} hp_reader_t;

void hp_reader_init(hp_reader_t *r);
void hp_reader_fini(hp_reader_t *r);
/* Reads up to `chunk` bytes at r->file_off with pread (no seek, so other readers of the same fd
 * are undisturbed). *got = 0 at end of file. Returns HP_DEC_OK, HP_DEC_ENOMEM or HP_DEC_EIO. */
int hp_reader_fill(hp_reader_t *r, int fd, size_t chunk, size_t *got, hp_dec_error_t *err);
/* Appends bytes given in memory. Returns HP_DEC_OK or HP_DEC_ENOMEM. */
int hp_reader_append(hp_reader_t *r, const uint8_t *data, size_t len);
static inline size_t hp_reader_pending(const hp_reader_t *r) { return r->end - r->start; }

#endif /* HP_READER_H */
