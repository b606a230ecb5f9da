// SPDX-License-Identifier: MIT
/* The event log's format: the one definition of every fact about it (docs/log-format.md).
 *
 * The writer (hp_log.c), the decoder and digest (digest/hp_decode.c, digest/hp_digest.c) and,
 * through heapprof_nb._native.FORMAT, the Python package all take the magic, the versions, the
 * record tags, the domains, the marker kinds, the trailer counters and the limits from here.
 * tests/reference_decoder.py restates them on purpose (an independent reader) and
 * tests/unit/test_format.py fails if it drifts from this file.
 *
 * Pure constants and inline functions (the varint codec, the byte-sampling probability): no
 * state, no allocation, no Python. */
#ifndef HP_FORMAT_H
#define HP_FORMAT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define HP_FORMAT_MAGIC "HPNBLOG\0" /* 8 bytes, the NUL included */
#define HP_FORMAT_MAGIC_LEN 8u
#define HP_FORMAT_MAJOR 1           /* readers refuse a major they do not know */
#define HP_FORMAT_MINOR 0

/* Record tags (docs/log-format.md, "Records"). */
enum {
    HP_TAG_STRING = 0x01,
    HP_TAG_FRAME = 0x02,
    HP_TAG_STACK = 0x03,
    HP_TAG_THREAD = 0x04,
    HP_TAG_ALLOC = 0x10,
    HP_TAG_FREE = 0x11,
    HP_TAG_RSS = 0x12,
    HP_TAG_MARKER = 0x13,
    HP_TAG_META = 0x14,
    HP_TAG_TRAILER = 0x7F,
};

/* Sampling modes, as written in the header. */
typedef enum {
    HP_MODE_BYTES = 0, /* exponential byte gaps with mean `rate` */
    HP_MODE_SIZES = 1, /* per-size-bucket probabilities (heapprof) */
    HP_MODE_ALL = 2,   /* every allocation */
} hp_mode_t;

/* Allocator domains, as written in ALLOC records. */
typedef enum {
    HP_DOMAIN_RAW = 0,
    HP_DOMAIN_MEM = 1,
    HP_DOMAIN_OBJ = 2,
    HP_DOMAIN_NUMPY = 3,
} hp_domain_t;
#define HP_MAX_DOMAIN HP_DOMAIN_NUMPY

/* MARKER kinds. */
enum {
    HP_MARKER_USER = 0,
    HP_MARKER_CELL_START = 1,
    HP_MARKER_CELL_END = 2,
};

/* The TRAILER's counters, in file order: X(name, what it counts). */
#define HP_TRAILER_COUNTERS(X)                                                            \
    X(allocs_seen, "allocations the hooks saw (all, sampled or not; exact mode only)")    \
    X(bytes_seen, "their bytes")                                                          \
    X(samples, "ALLOC records written")                                                   \
    X(frees_recorded, "FREE records written")                                             \
    X(dropped, "sampled events lost (our allocation failed, writer off)")                 \
    X(stacks, "distinct stacks")                                                          \
    X(frames, "distinct frames")                                                          \
    X(truncated_stacks, "stacks cut at max_frames")
#define HP_COUNT_ONE(name, what) +1
enum { HP_N_COUNTERS = 0 HP_TRAILER_COUNTERS(HP_COUNT_ONE) };
#undef HP_COUNT_ONE

/* Limits a writer keeps and a reader enforces before it allocates anything for a field. */
#define HP_HEADER_FIXED 16u             /* magic, major, minor, header_length */
#define HP_MAX_HEADER_BODY 65536u
#define HP_MAX_STRING (1u << 20)        /* STRING text, MARKER labels, META keys */
#define HP_MAX_META_VALUE (16u << 20)
#define HP_MAX_BUCKETS 64               /* per-size buckets in the header */
#define HP_MAX_FRAMES_LIMIT 4096u       /* max_frames is 1..this */
#define HP_MAX_VARINT 10                /* bytes of a 64-bit LEB128 varint */

/* Encodes v as an unsigned LEB128 varint at p; returns the bytes written (1..HP_MAX_VARINT). */
static inline size_t hp_put_varint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads an unsigned LEB128 varint at p, never past `end`: at most HP_MAX_VARINT bytes, the last of
 * ten at most 1 (docs/log-format.md, Conventions). Returns HP_VARINT_OK (then *v and *next are
 * set), HP_VARINT_MORE (the bytes end inside the varint) or HP_VARINT_BAD (an 11th byte, or a
 * 10th above 1); on anything but OK neither output is touched. */
enum { HP_VARINT_OK = 0, HP_VARINT_MORE = 1, HP_VARINT_BAD = 2 };
static inline int hp_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v,
                                const uint8_t **next) {
    if (p >= end) {
        return HP_VARINT_MORE;
    }
    uint8_t b = *p;
    if (b < 0x80) {
        *v = b;
        *next = p + 1;
        return HP_VARINT_OK;
    }
    uint64_t r = b & 0x7F;
    unsigned shift = 7;
    const uint8_t *q = p + 1;
    for (;;) {
        if (q >= end) {
            return HP_VARINT_MORE;
        }
        b = *q++;
        if (b < 0x80) {
            if (shift == 63 && b > 1) {
                return HP_VARINT_BAD;
            }
            *v = r | ((uint64_t)b << shift);
            *next = q;
            return HP_VARINT_OK;
        }
        if (shift == 63) {
            return HP_VARINT_BAD;
        }
        r |= (uint64_t)(b & 0x7F) << shift;
        shift += 7;
    }
}

/* The probability that byte sampling at mean gap `rate` (mode HP_MODE_BYTES) samples an
 * allocation of `size` bytes: p = 1 - exp(-size/rate), computed as -expm1(-size/rate), which
 * keeps its precision for size << rate (docs/log-format.md, Weights; the derivation is in
 * hp_sampler.h). Every reader weighs a sample by size/p bytes and 1/p objects with this p. */
static inline double hp_format_byte_probability(uint64_t size, uint64_t rate) {
    return -expm1(-(double)size / (double)rate);
}

#endif /* HP_FORMAT_H */
