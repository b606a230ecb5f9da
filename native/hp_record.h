// SPDX-License-Identifier: MIT
/* Record encoding: the bytes of every record of the event log (docs/log-format.md, hp_format.h).
 *
 * Owns: nothing but the layout. Each encoder writes one whole record at `p` and returns its
 * length, which is at most the matching HP_RECORD_*_MAX bound, so a caller reserves that much in
 * the log buffer (hp_log_reserve_unlocked) first and commits what was written. No state, no lock,
 * no allocation, no Python: hook-safe, and testable on its own (native/tests/test_record.c).
 *
 * The header and the trailer carry the run's settings and counters, so their types live here. */
#ifndef HP_RECORD_H
#define HP_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "hp_format.h"

/* The TRAILER's counters (hp_format.h says what each counts, and their order in the file). */
typedef struct {
#define HP_COUNTER_FIELD(name, what) uint64_t name;
    HP_TRAILER_COUNTERS(HP_COUNTER_FIELD)
#undef HP_COUNTER_FIELD
} hp_counters_t;

/* The settings a run writes into the header. */
typedef struct {
    const char *python_version;  /* at most HP_RECORD_MAX_PYTHON_VERSION bytes */
    hp_mode_t mode;
    uint64_t rate;
    int n_buckets;
    const uint64_t *thresholds;
    const double *probabilities;
    uint32_t max_frames;
    uint64_t seed;
} hp_log_settings_t;

/* The writer's limit on the header's python_version text (a header fits HP_RECORD_HEADER_MAX). */
#define HP_RECORD_MAX_PYTHON_VERSION 64u

/* Upper bounds of the encoded records, in bytes. */
#define HP_RECORD_HEADER_MAX                                                                  \
    (HP_HEADER_FIXED + (9 + (size_t)HP_MAX_BUCKETS) * HP_MAX_VARINT + 8 * (size_t)HP_MAX_BUCKETS + \
     HP_RECORD_MAX_PYTHON_VERSION)
#define HP_RECORD_STRING_MAX(len) (1 + 2 * HP_MAX_VARINT + (size_t)(len))
#define HP_RECORD_FRAME_MAX (1 + 4 * HP_MAX_VARINT)
#define HP_RECORD_STACK_MAX(depth) (1 + ((size_t)(depth) + 2) * HP_MAX_VARINT)
#define HP_RECORD_THREAD_MAX (1 + 2 * HP_MAX_VARINT)
#define HP_RECORD_ALLOC_MAX (2 + 5 * HP_MAX_VARINT)
#define HP_RECORD_FREE_MAX (1 + 2 * HP_MAX_VARINT)
#define HP_RECORD_RSS_MAX (1 + 2 * HP_MAX_VARINT)
#define HP_RECORD_MARKER_MAX(len) (1 + 3 * HP_MAX_VARINT + (size_t)(len))
#define HP_RECORD_META_MAX(key_len, value_len) \
    (1 + 2 * HP_MAX_VARINT + (size_t)(key_len) + (size_t)(value_len))
#define HP_RECORD_TRAILER_MAX (1 + (1 + (size_t)HP_N_COUNTERS) * HP_MAX_VARINT)

/* The file header (magic, versions, length, body). python_version must be at most
 * HP_RECORD_MAX_PYTHON_VERSION bytes and n_buckets at most HP_MAX_BUCKETS (hp_log_open checks). */
size_t hp_record_header(uint8_t *p, const hp_log_settings_t *s, uint64_t pid, uint64_t start_ns,
                        uint64_t wall_ns);

/* STRING (text cut at HP_MAX_STRING by the caller). */
size_t hp_record_string(uint8_t *p, uint64_t id, const char *text, size_t len);
size_t hp_record_frame(uint8_t *p, uint64_t id, uint64_t file_id, uint64_t func_id, uint64_t line);
/* STACK: `depth` frame ids, leaf first; frames may be NULL when depth is 0. */
size_t hp_record_stack(uint8_t *p, uint64_t id, const uint32_t *frames, uint32_t depth);
size_t hp_record_thread(uint8_t *p, uint64_t index, uint64_t native_id);
size_t hp_record_alloc(uint8_t *p, uint64_t dt, uint8_t domain, uint64_t thread, uint64_t stack_id,
                       uint64_t size, uint64_t address);
size_t hp_record_free(uint8_t *p, uint64_t dt, uint64_t address);
size_t hp_record_rss(uint8_t *p, uint64_t dt, uint64_t rss);
size_t hp_record_marker(uint8_t *p, uint64_t dt, uint64_t kind, const char *label, size_t len);
size_t hp_record_meta(uint8_t *p, const char *key, size_t key_len, const char *value,
                      size_t value_len);
size_t hp_record_trailer(uint8_t *p, uint64_t dt, const hp_counters_t *c);

#endif /* HP_RECORD_H */
