// SPDX-License-Identifier: MIT
/* The log decoder: header and records of docs/log-format.md, every length and count checked before
 * use. A record is decoded in two steps, as tests/reference_decoder.py does: its fields are read
 * (running out of bytes anywhere means "incomplete", HP_DEC_MORE), then they are validated
 * (ids, limits, clock overflow, UTF-8 in strict mode), so the C digest and the reference reader agree on which
 * prefix of a damaged file is good. The state is only advanced once a record is whole and valid. */
#include "hp_decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int hp_dec_fail(hp_dec_error_t *err, int code, uint64_t offset, const char *fmt, ...) {
    if (err != NULL) {
        err->code = code;
        err->sys_errno = 0;
        err->offset = offset;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* 1 if buf[0..len) is valid UTF-8 as Python's strict decoder sees it (no surrogates, no
 * overlong forms, nothing above U+10FFFF), else 0. */
static int utf8_valid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        }
        else {
            return 0;   /* continuation byte, overlong lead (C0, C1) or above F4 */
        }
        if (len - i - 1 < n) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Header */

static int header_var(const uint8_t *buf, const uint8_t **p, const uint8_t *end, uint64_t *v,
                      const char *what, hp_dec_error_t *err) {
    int r = hp_get_varint(*p, end, v, p);
    if (r == HP_VARINT_MORE) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(*p - buf),
                           "header body ends inside %s (header)", what);
    }
    if (r == HP_VARINT_BAD) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(*p - buf),
                           "over-long varint in %s (header)", what);
    }
    return HP_DEC_OK;
}

int hp_dec_header(const uint8_t *buf, size_t len, hp_dec_header_t *h, hp_dec_error_t *err) {
    size_t k = len < 8 ? len : 8;
    if (memcmp(buf, HP_FORMAT_MAGIC, k) != 0) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, 0,
                           "not a heapprof_nb log: bad magic (expected \"HPNBLOG\\0\")");
    }
    if (len < 10) {
        return HP_DEC_MORE;
    }
    memset(h, 0, sizeof *h);
    h->major = (uint16_t)(buf[8] | (buf[9] << 8));
    if (h->major != HP_FORMAT_MAJOR) {
        return hp_dec_fail(err, HP_DEC_EVERSION, 8,
                           "unsupported log format: major version %u; this reader supports "
                           "major version %d",
                           (unsigned)h->major, HP_FORMAT_MAJOR);
    }
    if (len < HP_HEADER_FIXED) {
        return HP_DEC_MORE;
    }
    h->minor = (uint16_t)(buf[10] | (buf[11] << 8));
    uint32_t hlen = (uint32_t)buf[12] | ((uint32_t)buf[13] << 8) | ((uint32_t)buf[14] << 16) |
                    ((uint32_t)buf[15] << 24);
    if (hlen > HP_MAX_HEADER_BODY) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, 12,
                           "header_length %u exceeds the limit of %u (header)", hlen,
                           HP_MAX_HEADER_BODY);
    }
    size_t total = HP_HEADER_FIXED + (size_t)hlen;
    if (len < total) {
        return HP_DEC_MORE;
    }
    h->header_size = total;
    const uint8_t *p = buf + HP_HEADER_FIXED;
    const uint8_t *end = buf + total;
    int rc;
#define HVAR(dst, what)                                          \
    do {                                                         \
        rc = header_var(buf, &p, end, &(dst), (what), err);      \
        if (rc != HP_DEC_OK) {                                   \
            return rc;                                           \
        }                                                        \
    } while (0)

    HVAR(h->pid, "pid");
    uint64_t vlen;
    const uint8_t *vlen_at = p;
    HVAR(vlen, "python_version length");
    if (vlen > (uint64_t)(end - p)) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(vlen_at - buf),
                           "python_version of %llu bytes runs past the header body (header)",
                           (unsigned long long)vlen);
    }
    h->python_version_off = (uint64_t)(p - buf);
    h->python_version_len = vlen;
    p += vlen;
    const uint8_t *at = p;
    HVAR(h->mode, "mode");
    if (h->mode > HP_MODE_ALL) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(at - buf),
                           "unknown sampling mode %llu (known: 0, 1, 2) (header)",
                           (unsigned long long)h->mode);
    }
    at = p;
    HVAR(h->rate, "rate");
    if (h->mode == HP_MODE_BYTES && h->rate < 1) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(at - buf),
                           "mode 0 (byte sampling) needs rate >= 1 (header)");
    }
    if (h->mode == HP_MODE_SIZES && h->rate != 0) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(at - buf),
                           "mode 1 (per-size probabilities) needs rate 0, not %llu (header)",
                           (unsigned long long)h->rate);
    }
    if (h->mode == HP_MODE_ALL && h->rate != 1) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(at - buf),
                           "mode 2 (every allocation) needs rate 1, not %llu (header)",
                           (unsigned long long)h->rate);
    }
    at = p;
    uint64_t nb;
    HVAR(nb, "n_buckets");
    if (nb > HP_MAX_BUCKETS) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(at - buf),
                           "n_buckets %llu exceeds the limit of %d (header)",
                           (unsigned long long)nb, HP_MAX_BUCKETS);
    }
    if (h->mode == HP_MODE_SIZES && nb == 0) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(at - buf),
                           "mode 1 (per-size probabilities) needs at least one bucket (header)");
    }
    if (h->mode != HP_MODE_SIZES && nb != 0) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(at - buf),
                           "mode %llu must have n_buckets 0, not %llu (header)",
                           (unsigned long long)h->mode, (unsigned long long)nb);
    }
    h->n_buckets = (uint32_t)nb;
    for (uint32_t i = 0; i < h->n_buckets; i++) {
        const uint8_t *b_at = p;
        HVAR(h->thresholds[i], "bucket threshold");
        if (end - p < 8) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(p - buf),
                               "header body ends inside bucket %u probability (header)", i);
        }
        uint64_t bits = 0;
        for (int j = 7; j >= 0; j--) {
            bits = (bits << 8) | p[j];
        }
        double prob;
        memcpy(&prob, &bits, sizeof prob);
        if (!(prob > 0.0 && prob <= 1.0)) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(p - buf),
                               "bucket %u probability %g is not in (0, 1] (header)", i, prob);
        }
        if (i > 0 && h->thresholds[i] < h->thresholds[i - 1]) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(b_at - buf),
                               "bucket thresholds not sorted (%llu after %llu) (header)",
                               (unsigned long long)h->thresholds[i],
                               (unsigned long long)h->thresholds[i - 1]);
        }
        h->probabilities[i] = prob;
        p += 8;
    }
    at = p;
    HVAR(h->max_frames, "max_frames");
    if (h->max_frames < 1 || h->max_frames > HP_MAX_FRAMES_LIMIT) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, (uint64_t)(at - buf),
                           "max_frames %llu not in 1..%u (header)",
                           (unsigned long long)h->max_frames, HP_MAX_FRAMES_LIMIT);
    }
    HVAR(h->seed, "seed");
    HVAR(h->start_ns, "start_ns");
    HVAR(h->start_wall_ns, "start_wall_ns");
#undef HVAR
    /* Bytes past the known fields are room for minor additions: ignored. */
    return HP_DEC_OK;
}

void hp_dec_state_init(hp_dec_state_t *st, const hp_dec_header_t *h, int strict) {
    memset(st, 0, sizeof *st);
    st->strict = strict;
    st->max_frames = h->max_frames;
    st->offset = h->header_size;
}

/* ------------------------------------------------------------------------------------------ */
/* Records */

void hp_dec_stack_frames(const hp_dec_record_t *rec, uint64_t *out) {
    const uint8_t *p = rec->frames;
    for (uint64_t i = 0; i < rec->depth; i++) {
        uint64_t v = 0;
        unsigned shift = 0;
        uint8_t b;
        do {
            b = *p++;
            v |= (uint64_t)(b & 0x7F) << shift;
            shift += 7;
        } while (b & 0x80);
        out[i] = v;
    }
}

int hp_dec_record(hp_dec_state_t *st, const uint8_t *buf, size_t len, hp_dec_record_t *rec,
                  size_t *used, hp_dec_error_t *err) {
    const uint8_t *p = buf;
    const uint8_t *end = buf + len;
    const uint64_t base = st->offset;
    if (len == 0) {
        return HP_DEC_MORE;
    }
    if (st->done) {
        return hp_dec_fail(err, HP_DEC_EFORMAT, base, "data after the TRAILER");
    }
#define OFF(ptr) (base + (uint64_t)((ptr) - buf))
#define VAR(dst)                                                                          \
    do {                                                                                  \
        int r_ = hp_get_varint(p, end, &(dst), &p);                                          \
        if (r_ == HP_VARINT_MORE) {                                                             \
            return HP_DEC_MORE;                                                           \
        }                                                                                 \
        if (r_ == HP_VARINT_BAD) {                                                              \
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(p),                               \
                               "over-long varint (more than 10 bytes or above 2**64-1)"); \
        }                                                                                 \
    } while (0)
/* A `bytes` field in two steps, so that checks between them come in the reference reader's
 * order: its length (at most `limit`, else a format error naming `what`), then its bytes, which
 * `data` points at and p moves past. */
#define BYTES_LEN(len, limit, what)                                                       \
    do {                                                                                  \
        const uint8_t *len_at_ = p;                                                       \
        VAR(len);                                                                         \
        if ((len) > (limit)) {                                                            \
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(len_at_),                         \
                               what " of %llu bytes exceeds the limit of %u",             \
                               (unsigned long long)(len), (unsigned)(limit));             \
        }                                                                                 \
    } while (0)
#define BYTES_DATA(data, len)                                                             \
    do {                                                                                  \
        if ((uint64_t)(end - p) < (len)) {                                                \
            return HP_DEC_MORE;                                                           \
        }                                                                                 \
        (data) = p;                                                                       \
        p += (len);                                                                       \
    } while (0)
#define ADVANCE_TIME()                                                                       \
    do {                                                                                     \
        if (rec->dt > UINT64_MAX - st->time_ns) {                                            \
            return hp_dec_fail(err, HP_DEC_EFORMAT, base, "time overflows 64 bits");         \
        }                                                                                    \
        rec->time_ns = st->time_ns + rec->dt;                                                \
    } while (0)

    int tag = *p++;
    rec->tag = tag;
    switch (tag) {
    case HP_TAG_ALLOC: {
        VAR(rec->dt);
        if (p >= end) {
            return HP_DEC_MORE;
        }
        rec->domain = *p++;
        const uint8_t *thr_at = p;
        VAR(rec->thread);
        const uint8_t *st_at = p;
        VAR(rec->stack_id);
        VAR(rec->size);
        VAR(rec->address);
        if (rec->domain > HP_MAX_DOMAIN) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, base + 1, "ALLOC with unknown domain %u",
                               (unsigned)rec->domain);
        }
        if (rec->thread > st->n_threads) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(thr_at),
                               "ALLOC refers to undefined thread %llu",
                               (unsigned long long)rec->thread);
        }
        if (rec->stack_id > st->n_stacks) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(st_at),
                               "ALLOC refers to undefined stack %llu",
                               (unsigned long long)rec->stack_id);
        }
        ADVANCE_TIME();
        st->time_ns = rec->time_ns;
        break;
    }
    case HP_TAG_FREE:
        VAR(rec->dt);
        VAR(rec->address);
        ADVANCE_TIME();
        st->time_ns = rec->time_ns;
        break;
    case HP_TAG_STACK: {
        VAR(rec->id);
        const uint8_t *depth_at = p;
        VAR(rec->depth);
        if (rec->id != st->n_stacks + 1) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, base,
                               "STACK id %llu out of order (expected %llu)",
                               (unsigned long long)rec->id,
                               (unsigned long long)(st->n_stacks + 1));
        }
        if (rec->depth > st->max_frames) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(depth_at),
                               "STACK depth %llu exceeds max_frames %llu",
                               (unsigned long long)rec->depth, (unsigned long long)st->max_frames);
        }
        if ((uint64_t)(end - p) < rec->depth) {   /* each frame id takes at least one byte */
            return HP_DEC_MORE;
        }
        rec->frames = p;
        for (uint64_t i = 0; i < rec->depth; i++) {
            const uint8_t *f_at = p;
            uint64_t fid;
            VAR(fid);
            if (fid == 0 || fid > st->n_frames) {
                return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(f_at),
                                   "STACK refers to undefined frame %llu",
                                   (unsigned long long)fid);
            }
        }
        st->n_stacks = rec->id;
        break;
    }
    case HP_TAG_FRAME: {
        VAR(rec->id);
        const uint8_t *file_at = p;
        VAR(rec->filename_id);
        const uint8_t *func_at = p;
        VAR(rec->function_id);
        VAR(rec->line);
        if (rec->id != st->n_frames + 1) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, base,
                               "FRAME id %llu out of order (expected %llu)",
                               (unsigned long long)rec->id,
                               (unsigned long long)(st->n_frames + 1));
        }
        if (rec->filename_id > st->n_strings) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(file_at),
                               "FRAME refers to undefined string %llu",
                               (unsigned long long)rec->filename_id);
        }
        if (rec->function_id > st->n_strings) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(func_at),
                               "FRAME refers to undefined string %llu",
                               (unsigned long long)rec->function_id);
        }
        st->n_frames = rec->id;
        break;
    }
    case HP_TAG_STRING: {
        VAR(rec->id);
        const uint8_t *len_at = p;
        VAR(rec->text_len);
        if (rec->id != st->n_strings + 1) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, base,
                               "STRING id %llu out of order (expected %llu)",
                               (unsigned long long)rec->id,
                               (unsigned long long)(st->n_strings + 1));
        }
        if (rec->text_len > HP_MAX_STRING) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(len_at),
                               "STRING of %llu bytes exceeds the limit of %u",
                               (unsigned long long)rec->text_len, HP_MAX_STRING);
        }
        BYTES_DATA(rec->text, rec->text_len);
        if (st->strict && !utf8_valid(rec->text, (size_t)rec->text_len)) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(rec->text), "STRING text is not UTF-8");
        }
        st->n_strings = rec->id;
        break;
    }
    case HP_TAG_RSS:
        VAR(rec->dt);
        VAR(rec->size);
        ADVANCE_TIME();
        st->time_ns = rec->time_ns;
        break;
    case HP_TAG_THREAD:
        VAR(rec->id);
        VAR(rec->native_id);
        if (rec->id != st->n_threads + 1) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, base,
                               "THREAD index %llu out of order (expected %llu)",
                               (unsigned long long)rec->id,
                               (unsigned long long)(st->n_threads + 1));
        }
        st->n_threads = rec->id;
        break;
    case HP_TAG_MARKER: {
        VAR(rec->dt);
        VAR(rec->kind);
        BYTES_LEN(rec->text_len, HP_MAX_STRING, "MARKER label");
        BYTES_DATA(rec->text, rec->text_len);
        if (st->strict && !utf8_valid(rec->text, (size_t)rec->text_len)) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(rec->text), "MARKER label is not UTF-8");
        }
        ADVANCE_TIME();
        st->time_ns = rec->time_ns;
        break;
    }
    case HP_TAG_META: {
        BYTES_LEN(rec->text_len, HP_MAX_STRING, "META key");
        BYTES_DATA(rec->text, rec->text_len);
        BYTES_LEN(rec->value_len, HP_MAX_META_VALUE, "META value");
        BYTES_DATA(rec->value, rec->value_len);
        if (st->strict && !utf8_valid(rec->text, (size_t)rec->text_len)) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(rec->text), "META key is not UTF-8");
        }
        if (st->strict && !utf8_valid(rec->value, (size_t)rec->value_len)) {
            return hp_dec_fail(err, HP_DEC_EFORMAT, OFF(rec->value), "META value is not UTF-8");
        }
        break;
    }
    case HP_TAG_TRAILER:
        VAR(rec->dt);
        for (int i = 0; i < HP_N_COUNTERS; i++) {
            VAR(rec->counters[i]);
        }
        ADVANCE_TIME();
        st->time_ns = rec->time_ns;
        st->done = 1;
        break;
    default:
        return hp_dec_fail(err, HP_DEC_EFORMAT, base, "unknown record tag %#04x", tag);
    }
#undef VAR
#undef BYTES_LEN
#undef BYTES_DATA
#undef OFF
#undef ADVANCE_TIME
    *used = (size_t)(p - buf);
    st->offset += *used;
    st->records++;
    return HP_DEC_OK;
}
