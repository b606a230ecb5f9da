// SPDX-License-Identifier: MIT
/* A bounds-checked decoder of the heapprof_nb event log (docs/log-format.md, format 1.x), shared by
 * the digest and its re-scan queries.
 *
 * Nothing read from a file is trusted: every varint, count and length is checked against the
 * bytes available and against the limits of log-format.md before it is used, and an incomplete record
 * is told apart from a malformed one, so a log that is still being written (or was cut by a kill)
 * decodes up to its last complete record. Where log-format.md leaves room the decoder takes the same
 * decisions as tests/reference_decoder.py, the pure-Python reference (see its module docstring): dense
 * ids from 1, reference 0 means "none" except for a frame inside a STACK, MARKER labels and META
 * keys are limited like STRING text, META values to 16 MiB, nothing may follow the TRAILER.
 * Text that is not valid UTF-8 is accepted (readers replace it with U+FFFD: the writer cuts text
 * at a byte limit) except in strict mode, where it is an error.
 *
 * No allocation, no global state, no Python: callable from any thread. */
#ifndef HP_DECODE_H
#define HP_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* The magic, versions, tags, limits and trailer counters: the writer's own definitions. */
#include "../hp_format.h"

/* Results of the decoding functions. HP_DEC_MORE is not an error: the bytes given end inside
 * the header or record, which may still arrive. The negative codes are shared with hp_digest. */
typedef enum {
    HP_DEC_OK = 0,
    HP_DEC_MORE = 1,
    HP_DEC_ENOMEM = -1,     /* an allocation failed (hp_digest only) */
    HP_DEC_EFORMAT = -2,    /* the bytes break log-format.md; the error says where and why */
    HP_DEC_EVERSION = -3,   /* a major version this decoder does not know */
    HP_DEC_EIO = -4,        /* reading the file failed (hp_digest only; errno in the error) */
    HP_DEC_ELIMIT = -5,     /* an implementation limit (over 2**32 stacks, ...) */
    HP_DEC_ESTATE = -6,     /* a call that the object's state does not allow */
} hp_dec_status_t;

/* What went wrong and at which byte offset of the file. */
typedef struct {
    int code;           /* an hp_dec_status_t */
    int sys_errno;      /* for HP_DEC_EIO */
    uint64_t offset;    /* byte offset of the problem in the file */
    char message[200];  /* "STACK refers to undefined frame 7", without the offset */
} hp_dec_error_t;

typedef struct {
    uint16_t major;
    uint16_t minor;
    uint64_t header_size;        /* 16 + header_length: offset of the first record */
    uint64_t pid;
    uint64_t python_version_off; /* the python_version text, as an offset into the header */
    uint64_t python_version_len;
    uint64_t mode;               /* 0 bytes, 1 per-size buckets, 2 every allocation */
    uint64_t rate;
    uint32_t n_buckets;
    uint64_t thresholds[HP_MAX_BUCKETS];
    double probabilities[HP_MAX_BUCKETS];
    uint64_t max_frames;
    uint64_t seed;
    uint64_t start_ns;
    uint64_t start_wall_ns;
} hp_dec_header_t;

/* Running state: what has been defined so far (for reference checks) and the clock. */
typedef struct {
    uint64_t max_frames;
    uint64_t n_strings;
    uint64_t n_frames;
    uint64_t n_stacks;
    uint64_t n_threads;
    uint64_t time_ns;    /* running sum of dt: ns since start_ns */
    uint64_t offset;     /* file offset of the next record */
    uint64_t records;    /* complete records decoded */
    int done;            /* the TRAILER was decoded: nothing may follow */
    int strict;          /* invalid UTF-8 in a record's text is an error */
} hp_dec_state_t;

/* One decoded record. Pointers point into the caller's buffer and are valid while it is. */
typedef struct {
    int tag;
    uint64_t id;             /* STRING, FRAME, STACK id; THREAD index */
    uint64_t dt;             /* timed records */
    uint64_t time_ns;        /* timed records: the time after this record */
    uint8_t domain;          /* ALLOC */
    uint64_t thread;         /* ALLOC */
    uint64_t stack_id;       /* ALLOC */
    uint64_t size;           /* ALLOC size; RSS bytes */
    uint64_t address;        /* ALLOC, FREE */
    uint64_t filename_id;    /* FRAME */
    uint64_t function_id;    /* FRAME */
    uint64_t line;           /* FRAME */
    uint64_t native_id;      /* THREAD */
    uint64_t kind;           /* MARKER */
    uint64_t depth;          /* STACK: number of frame ids */
    const uint8_t *frames;   /* STACK: `depth` validated varints, see hp_dec_stack_frames() */
    const uint8_t *text;     /* STRING text, MARKER label, META key */
    uint64_t text_len;
    const uint8_t *value;    /* META value */
    uint64_t value_len;
    uint64_t counters[HP_N_COUNTERS]; /* TRAILER */
} hp_dec_record_t;

/* Decodes the header at the start of buf[0..len). Returns HP_DEC_OK (then *h is filled and
 * h->header_size bytes make the header), HP_DEC_MORE (buf is a prefix of a header that does not
 * contradict the format yet), or HP_DEC_EFORMAT / HP_DEC_EVERSION with *err filled. */
int hp_dec_header(const uint8_t *buf, size_t len, hp_dec_header_t *h, hp_dec_error_t *err);

/* Initialises the running state for records after header `h` (`strict`: see hp_dec_state_t). */
void hp_dec_state_init(hp_dec_state_t *st, const hp_dec_header_t *h, int strict);

/* Decodes one record at buf[0..len), the bytes at file offset st->offset. Returns HP_DEC_OK
 * (then *rec is filled, *used is its length and st is advanced past it), HP_DEC_MORE (the
 * record is incomplete; st unchanged) or HP_DEC_EFORMAT with *err filled (st unchanged). */
int hp_dec_record(hp_dec_state_t *st, const uint8_t *buf, size_t len, hp_dec_record_t *rec,
                  size_t *used, hp_dec_error_t *err);

/* The frame ids of a STACK record decoded by hp_dec_record(), into out[0..rec->depth). */
void hp_dec_stack_frames(const hp_dec_record_t *rec, uint64_t *out);

/* Fills *err (code, offset, printf-style message); returns code. */
int hp_dec_fail(hp_dec_error_t *err, int code, uint64_t offset, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif /* HP_DECODE_H */
