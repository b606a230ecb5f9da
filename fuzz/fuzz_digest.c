// SPDX-License-Identifier: MIT
/* libFuzzer harness for the C log decoder and digest (native/digest/hp_decode.c, hp_digest.c),
 * built without Python by fuzz/run.sh:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Inative/digest fuzz/fuzz_digest.c \
 *         native/digest/hp_decode.c native/digest/hp_digest.c -lm -o build/fuzz/fuzz_digest
 *
 * One input is one log file. The harness
 *   1. decodes it record by record with hp_dec_record(), strict and not, and checks the
 *      decoder's own promises (a record consumes at least one byte and no more than it was given;
 *      state advances only on success; a STACK's frame ids are in 1..n_frames);
 *   2. digests it in two slices cut at a point chosen by the input (as a log that is still being
 *      written is digested), with a tiny bucket limit so the buckets double and merge;
 *   3. asks every query: info, history at several point counts, peak, snapshot and window from
 *      the interval index and (index_limit 0) by re-reading the log from a memfd;
 *   4. dumps the digest, loads the dump and dumps again: the two dumps must be equal.
 * With -DFUZZ_LOAD it instead feeds the input to hp_digest_load() (the `<log>.digest` cache is
 * read from disk, so it is untrusted input too).
 *
 * A broken promise calls __builtin_trap(); ASan/UBSan catch memory and UB errors, libFuzzer's
 * -malloc_limit_mb an unbounded allocation and -timeout a hang. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hp_decode.h"
#include "hp_digest.h"

#define CHECK(cond)                \
    do {                           \
        if (!(cond)) {             \
            __builtin_trap();      \
        }                          \
    } while (0)

#ifndef FUZZ_LOAD
static uint64_t frame_buf[HP_MAX_FRAMES_LIMIT];

static void decode_all(const uint8_t *data, size_t size, int strict) {
    hp_dec_header_t h;
    hp_dec_error_t err;
    int rc = hp_dec_header(data, size, &h, &err);
    if (rc != HP_DEC_OK) {
        CHECK(rc == HP_DEC_MORE || rc == HP_DEC_EFORMAT || rc == HP_DEC_EVERSION);
        return;
    }
    CHECK(h.header_size >= HP_HEADER_FIXED && h.header_size <= size);
    CHECK(h.python_version_off + h.python_version_len <= h.header_size);
    CHECK(h.n_buckets <= HP_MAX_BUCKETS && h.max_frames >= 1 && h.max_frames <= HP_MAX_FRAMES_LIMIT);
    hp_dec_state_t st;
    hp_dec_state_init(&st, &h, strict);
    size_t p = (size_t)h.header_size;
    for (;;) {
        hp_dec_record_t rec;
        size_t used = 0;
        hp_dec_state_t before = st;
        rc = hp_dec_record(&st, data + p, size - p, &rec, &used, &err);
        if (rc != HP_DEC_OK) {
            CHECK(rc == HP_DEC_MORE || rc == HP_DEC_EFORMAT);
            CHECK(memcmp(&before, &st, sizeof st) == 0);
            if (rc == HP_DEC_EFORMAT) {
                CHECK(err.offset >= before.offset && err.offset <= size);
                CHECK(memchr(err.message, '\0', sizeof err.message) != NULL);
            }
            return;
        }
        CHECK(used >= 1 && used <= size - p);
        CHECK(st.offset == before.offset + used && st.records == before.records + 1);
        if (rec.tag == HP_TAG_STACK) {
            CHECK(rec.depth <= st.max_frames);
            hp_dec_stack_frames(&rec, frame_buf);
            for (uint64_t i = 0; i < rec.depth; i++) {
                CHECK(frame_buf[i] >= 1 && frame_buf[i] <= st.n_frames);
            }
        }
        if (rec.tag == HP_TAG_STRING || rec.tag == HP_TAG_MARKER || rec.tag == HP_TAG_META) {
            CHECK(rec.text >= data + p && rec.text + rec.text_len <= data + p + used);
        }
        if (rec.tag == HP_TAG_META) {
            CHECK(rec.value >= data + p && rec.value + rec.value_len <= data + p + used);
        }
        p += used;
    }
}

/* Feeds buf in order, keeping an incomplete record for the next slice, as the module does. */
static int feed(hp_digest_t *d, hp_reader_t *r, const uint8_t *data, size_t len) {
    hp_dec_error_t err;
    if (hp_reader_append(r, data, len) != HP_DEC_OK) {
        return -1;
    }
    size_t used = 0;
    static const uint8_t nothing[1];
    const uint8_t *start = r->buf != NULL ? r->buf + r->start : nothing;
    int rc = hp_digest_feed(d, start, hp_reader_pending(r), &used, &err);
    CHECK(used <= hp_reader_pending(r));
    r->start += used;
    if (r->start == r->end) {
        r->start = r->end = 0;
    }
    return rc;
}

#endif

static void query(hp_digest_t *d, int fd) {
    hp_digest_info_t info;
    hp_digest_info(d, &info);
    CHECK(info.n_buckets <= HP_DIGEST_MAX_BUCKETS + 1);
    const uint64_t points[] = {1, 3, 1000};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        hp_history_t hist;
        if (hp_digest_history(d, points[i], 5, &hist) == HP_DEC_OK) {
            CHECK(hist.n_points <= points[i]);
            for (uint64_t k = 1; k < hist.n_points; k++) {
                CHECK(hist.time_ns[k] >= hist.time_ns[k - 1]);
            }
            hp_history_fini(&hist);
        }
    }
    uint64_t peak_t;
    double peak_b;
    hp_digest_peak(d, &peak_t, &peak_b);
    const uint64_t ts[][2] = {{0, 0}, {0, info.end_ns}, {info.end_ns / 2, info.end_ns},
                              {peak_t, peak_t}, {0, UINT64_MAX}};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        for (int live_only = 0; live_only < 2; live_only++) {
            hp_window_t w;
            hp_dec_error_t err;
            if (hp_digest_window(d, ts[i][0], ts[i][1], live_only, fd, &w, &err) == HP_DEC_OK) {
                hp_window_fini(&w);
            }
        }
    }
}

static void dump_load(const hp_digest_t *d) {
    hp_dec_error_t err;
    size_t len1 = 0, len2 = 0;
    uint8_t *one = hp_digest_dump(d, &len1, &err);
    if (one == NULL) {
        return;
    }
    hp_digest_t *back = hp_digest_load(one, len1, &err);
    CHECK(back != NULL); /* our own dump must load */
    uint8_t *two = hp_digest_dump(back, &len2, &err);
    CHECK(two != NULL && len1 == len2 && memcmp(one, two, len1) == 0);
    query(back, -1);
    free(two);
    hp_digest_free(back);
    free(one);
}

#ifndef FUZZ_LOAD
static void digest(const uint8_t *data, size_t size, uint64_t index_limit, int strict, int fd) {
    hp_digest_options_t opt;
    hp_digest_options_default(&opt);
    opt.max_buckets = 4;
    opt.index_limit = index_limit;
    opt.strict = strict;
    hp_dec_error_t err;
    hp_digest_t *d = hp_digest_new(&opt, &err);
    CHECK(d != NULL);
    hp_reader_t r;
    hp_reader_init(&r);
    size_t cut = size ? (size_t)data[size - 1] * 37u % (size + 1) : 0;
    int rc = feed(d, &r, data, cut);
    if (rc == HP_DEC_OK) {
        rc = feed(d, &r, data + cut, size - cut);
    }
    CHECK(rc == HP_DEC_OK || rc == HP_DEC_EFORMAT || rc == HP_DEC_EVERSION ||
          rc == HP_DEC_ELIMIT || rc == HP_DEC_ENOMEM);
    query(d, fd);
    dump_load(d);
    hp_reader_fini(&r);
    hp_digest_free(d);
}

static int memfd = -1;
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
#ifdef FUZZ_LOAD
    hp_dec_error_t err;
    hp_digest_t *d = hp_digest_load(data, size, &err);
    if (d != NULL) {
        query(d, -1);
        dump_load(d);
        hp_digest_free(d);
    }
    return 0;
#else
    decode_all(data, size, 0);
    decode_all(data, size, 1);
    /* The re-scan path reads the log from a file descriptor. */
    if (memfd < 0) {
        memfd = memfd_create("fuzzlog", 0);
        CHECK(memfd >= 0);
    }
    CHECK(ftruncate(memfd, 0) == 0);
    CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
    digest(data, size, HP_DIGEST_DEFAULT_INDEX_LIMIT, 0, memfd);
    digest(data, size, 0, size & 1, memfd);
    return 0;
#endif
}
