// SPDX-License-Identifier: MIT
/* Record encoding (see hp_record.h): one function per record, field by field as
 * docs/log-format.md lists them. Stateless. */
#include "hp_record.h"

#include <string.h>

/* `bytes`: a varint length, then the bytes. */
static size_t put_bytes(uint8_t *p, const char *data, size_t len) {
    size_t n = hp_put_varint(p, len);
    if (len > 0) {
        memcpy(p + n, data, len);
    }
    return n + len;
}

static void put_u16le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)((v >> 8) & 0xff);
}

/* `count` varints, back to back. */
static size_t put_varints(uint8_t *p, const uint64_t *values, size_t count) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        n += hp_put_varint(p + n, values[i]);
    }
    return n;
}

size_t hp_record_header(uint8_t *p, const hp_log_settings_t *s, uint64_t pid, uint64_t start_ns,
                        uint64_t wall_ns) {
    uint8_t *body = p + HP_HEADER_FIXED;
    size_t n = 0;
    n += hp_put_varint(body + n, pid);
    n += put_bytes(body + n, s->python_version, strlen(s->python_version));
    n += hp_put_varint(body + n, (uint64_t)s->mode);
    n += hp_put_varint(body + n, s->mode == HP_MODE_SIZES ? 0 : s->rate);
    int buckets = s->mode == HP_MODE_SIZES ? s->n_buckets : 0;
    n += hp_put_varint(body + n, (uint64_t)buckets);
    for (int i = 0; i < buckets; i++) {
        n += hp_put_varint(body + n, s->thresholds[i]);
        memcpy(body + n, &s->probabilities[i], 8); /* f64le: every platform we build on is LE */
        n += 8;
    }
    n += hp_put_varint(body + n, s->max_frames);
    n += hp_put_varint(body + n, s->seed);
    n += hp_put_varint(body + n, start_ns);
    n += hp_put_varint(body + n, wall_ns);
    memcpy(p, HP_FORMAT_MAGIC, HP_FORMAT_MAGIC_LEN);
    put_u16le(p + 8, HP_FORMAT_MAJOR);
    put_u16le(p + 10, HP_FORMAT_MINOR);
    put_u16le(p + 12, (uint32_t)(n & 0xffff));
    put_u16le(p + 14, (uint32_t)((n >> 16) & 0xffff));
    return HP_HEADER_FIXED + n;
}

size_t hp_record_string(uint8_t *p, uint64_t id, const char *text, size_t len) {
    size_t n = 0;
    p[n++] = HP_TAG_STRING;
    n += hp_put_varint(p + n, id);
    return n + put_bytes(p + n, text, len);
}

size_t hp_record_frame(uint8_t *p, uint64_t id, uint64_t file_id, uint64_t func_id, uint64_t line) {
    const uint64_t v[] = {id, file_id, func_id, line};
    p[0] = HP_TAG_FRAME;
    return 1 + put_varints(p + 1, v, 4);
}

size_t hp_record_stack(uint8_t *p, uint64_t id, const uint32_t *frames, uint32_t depth) {
    size_t n = 0;
    p[n++] = HP_TAG_STACK;
    n += hp_put_varint(p + n, id);
    n += hp_put_varint(p + n, depth);
    for (uint32_t i = 0; i < depth; i++) {
        n += hp_put_varint(p + n, frames[i]); /* u32 ids: not put_varints' u64 */
    }
    return n;
}

/* THREAD, FREE and RSS: a tag and two varints (unrolled: FREE is on the sampled path). */
static size_t tag_and_two(uint8_t *p, uint8_t tag, uint64_t a, uint64_t b) {
    size_t n = 0;
    p[n++] = tag;
    n += hp_put_varint(p + n, a);
    n += hp_put_varint(p + n, b);
    return n;
}

size_t hp_record_thread(uint8_t *p, uint64_t index, uint64_t native_id) {
    return tag_and_two(p, HP_TAG_THREAD, index, native_id);
}

size_t hp_record_free(uint8_t *p, uint64_t dt, uint64_t address) {
    return tag_and_two(p, HP_TAG_FREE, dt, address);
}

size_t hp_record_rss(uint8_t *p, uint64_t dt, uint64_t rss) {
    return tag_and_two(p, HP_TAG_RSS, dt, rss);
}

size_t hp_record_alloc(uint8_t *p, uint64_t dt, uint8_t domain, uint64_t thread, uint64_t stack_id,
                       uint64_t size, uint64_t address) {
    /* Unrolled: one ALLOC per sampled allocation (every allocation in exact mode). */
    size_t n = 0;
    p[n++] = HP_TAG_ALLOC;
    n += hp_put_varint(p + n, dt);
    p[n++] = domain;
    n += hp_put_varint(p + n, thread);
    n += hp_put_varint(p + n, stack_id);
    n += hp_put_varint(p + n, size);
    n += hp_put_varint(p + n, address);
    return n;
}

size_t hp_record_marker(uint8_t *p, uint64_t dt, uint64_t kind, const char *label, size_t len) {
    size_t n = 0;
    p[n++] = HP_TAG_MARKER;
    n += hp_put_varint(p + n, dt);
    n += hp_put_varint(p + n, kind);
    return n + put_bytes(p + n, label, len);
}

size_t hp_record_meta(uint8_t *p, const char *key, size_t key_len, const char *value,
                      size_t value_len) {
    size_t n = 0;
    p[n++] = HP_TAG_META;
    n += put_bytes(p + n, key, key_len);
    return n + put_bytes(p + n, value, value_len);
}

size_t hp_record_trailer(uint8_t *p, uint64_t dt, const hp_counters_t *c) {
    size_t n = 0;
    p[n++] = HP_TAG_TRAILER;
    n += hp_put_varint(p + n, dt);
#define HP_PUT_COUNTER(name, what) n += hp_put_varint(p + n, c->name);
    HP_TRAILER_COUNTERS(HP_PUT_COUNTER)
#undef HP_PUT_COUNTER
    return n;
}
