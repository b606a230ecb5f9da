// SPDX-License-Identifier: MIT
/* The read buffer of a feeder (see hp_reader.h). */
#include "hp_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hp_dalloc.h"

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
    return HP_GROW(r->buf, r->cap, r->end + more, 0);
}

int hp_reader_fill(hp_reader_t *r, int fd, size_t chunk, size_t *got, hp_dec_error_t *err) {
    *got = 0;
    if (r->cap - r->end < chunk && reader_room(r, chunk) != 0) {
        return hp_dalloc_oom(err);
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
