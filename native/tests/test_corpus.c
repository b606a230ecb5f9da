// SPDX-License-Identifier: MIT
/* The decoder and digest on the fuzz corpus (fuzz/make_corpus.py: real engine logs and their
 * digest dumps). Every file, many of its prefixes and garbled copies go through the fuzzer's own
 * harness (fuzz/fuzz_digest.c, which traps on any broken invariant; ASan and LeakSanitizer
 * watch memory), and the damage that must be refused is checked to be refused:
 *
 *   logs:  a cut file never decodes as complete (the decoder says HP_DEC_MORE, the digest has no
 *          TRAILER); a wrong magic, an unknown major version, an unknown tag, bytes after the
 *          TRAILER and an over-long varint are rejected with an error code.
 *   dumps: a cut or garbled dump does not load, with an error code.
 *
 * Usage: test_corpus DIR, where DIR/logs holds the .hpnb logs (read when built without
 * -DFUZZ_LOAD) and DIR/dumps the .dump files (read when built with it). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hp_decode.h"
#include "hp_digest.h"
#include "hp_test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIXES 64 /* cut points per file, spread evenly, plus every cut in the header */

/* Copies buf to copy and flips `flips` bytes at places drawn from *x (xorshift). */
static void garble(uint8_t *copy, const uint8_t *buf, size_t len, uint64_t *x, int flips) {
    memcpy(copy, buf, len);
    for (int j = 0; j < flips; j++) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        copy[*x % len] ^= (uint8_t)(*x >> 56) | 1;
    }
}

/* The harness on 64 garbled copies of buf (`flips` bytes each); the verdict may go either way. */
static void fuzz_garbled(uint8_t *copy, const uint8_t *buf, size_t len, int flips) {
    uint64_t x = len * UINT64_C(0x9e3779b97f4a7c15) | 1;
    for (int i = 0; i < 64; i++) {
        garble(copy, buf, len, &x, flips);
        LLVMFuzzerTestOneInput(copy, len);
    }
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 65536;
            uint8_t *grown = realloc(buf, grown_cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
            cap = grown_cap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

#ifndef FUZZ_LOAD
/* Feeds the whole of buf to a fresh digest: its status, and whether it saw the TRAILER. */
static int digest_status(const uint8_t *buf, size_t len, int *complete) {
    hp_digest_options_t opt;
    hp_digest_options_default(&opt);
    hp_dec_error_t err;
    hp_digest_t *d = hp_digest_new(&opt, &err);
    if (d == NULL) {
        return HP_DEC_ENOMEM;
    }
    size_t used = 0;
    int rc = hp_digest_feed(d, buf, len, &used, &err);
    hp_digest_info_t info;
    hp_digest_info(d, &info);
    *complete = info.complete;
    hp_digest_free(d);
    return rc;
}

/* The decoder's verdict on the whole of buf: OK (complete, TRAILER last), MORE or an error. */
static int decode_status(const uint8_t *buf, size_t len) {
    hp_dec_header_t h;
    hp_dec_error_t err;
    int rc = hp_dec_header(buf, len, &h, &err);
    if (rc != HP_DEC_OK) {
        return rc;
    }
    hp_dec_state_t st;
    hp_dec_state_init(&st, &h, 0);
    size_t p = (size_t)h.header_size;
    while (p < len) {
        hp_dec_record_t rec;
        size_t used = 0;
        rc = hp_dec_record(&st, buf + p, len - p, &rec, &used, &err);
        if (rc != HP_DEC_OK) {
            return rc;
        }
        p += used;
    }
    return st.done ? HP_DEC_OK : HP_DEC_MORE;
}

static void check_log(const char *name, uint8_t *buf, size_t len) {
    int complete = 0;
    int rc = digest_status(buf, len, &complete);
    int whole = rc == HP_DEC_OK && complete;
    HP_CHECKF(rc == HP_DEC_OK, "%s: digest status %d", name, rc);
    HP_CHECKF(whole == (decode_status(buf, len) == HP_DEC_OK), "%s: decoder and digest disagree", name);

    hp_dec_header_t h;
    hp_dec_error_t err;
    if (hp_dec_header(buf, len, &h, &err) != HP_DEC_OK) {
        HP_CHECKF(len < HP_HEADER_FIXED + 1 || !whole, "%s: no header but complete", name);
        return;
    }
    /* Cut anywhere: never complete, never an error. */
    for (size_t k = 0; k < PREFIXES + h.header_size && len > 0; k++) {
        size_t cut = k < h.header_size ? k : (size_t)((k - h.header_size) * (len - 1) / PREFIXES);
        if (cut >= len) {
            continue;
        }
        LLVMFuzzerTestOneInput(buf, cut);
        int c = 0;
        int r = digest_status(buf, cut, &c);
        HP_CHECKF(r == HP_DEC_OK && !c, "%s cut at %zu: status %d, complete %d", name, cut, r, c);
        HP_CHECKF(decode_status(buf, cut) == HP_DEC_MORE, "%s cut at %zu: not 'more'", name, cut);
    }
    uint8_t *copy = malloc(len + 16);
    HP_CHECK(copy != NULL);
    if (copy == NULL) {
        return;
    }
    /* Damage that must be refused. */
    memcpy(copy, buf, len);
    copy[0] ^= 0x20; /* magic */
    HP_CHECKF(decode_status(copy, len) == HP_DEC_EFORMAT, "%s: bad magic accepted", name);
    LLVMFuzzerTestOneInput(copy, len);
    memcpy(copy, buf, len);
    copy[8] = HP_FORMAT_MAJOR + 1; /* an unknown major version */
    HP_CHECKF(decode_status(copy, len) == HP_DEC_EVERSION, "%s: unknown major accepted", name);
    LLVMFuzzerTestOneInput(copy, len);
    if (len > h.header_size) {
        memcpy(copy, buf, len);
        copy[h.header_size] = 0x7E; /* no such tag */
        HP_CHECKF(decode_status(copy, len) == HP_DEC_EFORMAT, "%s: unknown tag accepted", name);
        LLVMFuzzerTestOneInput(copy, len);
    }
    if (len > h.header_size + 1 + HP_MAX_VARINT + 1) {
        memcpy(copy, buf, len);
        /* The first record's first field (every record starts with a varint after its tag)
         * made 11 bytes long. */
        memset(copy + h.header_size + 1, 0x80, HP_MAX_VARINT);
        copy[h.header_size + 1 + HP_MAX_VARINT] = 0;
        HP_CHECKF(decode_status(copy, len) == HP_DEC_EFORMAT, "%s: over-long varint accepted", name);
        LLVMFuzzerTestOneInput(copy, len);
    }
    if (whole) {
        memcpy(copy, buf, len);
        copy[len] = HP_TAG_RSS; /* nothing may follow the TRAILER */
        copy[len + 1] = 0;
        copy[len + 2] = 0;
        HP_CHECKF(decode_status(copy, len + 3) == HP_DEC_EFORMAT, "%s: record after TRAILER", name);
        int c = 0;
        HP_CHECKF(digest_status(copy, len + 3, &c) == HP_DEC_EFORMAT, "%s: digest took a record after TRAILER", name);
        LLVMFuzzerTestOneInput(copy, len + 3);
    }
    fuzz_garbled(copy, buf, len, 4);
    free(copy);
}

#else
static void check_dump(const char *name, uint8_t *buf, size_t len) {
    hp_dec_error_t err;
    hp_digest_t *d = hp_digest_load(buf, len, &err);
    HP_CHECKF(d != NULL, "%s: our own dump does not load", name);
    hp_digest_free(d);
    LLVMFuzzerTestOneInput(buf, len);
    for (size_t k = 0; k < PREFIXES; k++) {
        size_t cut = k * len / PREFIXES;
        memset(&err, 0, sizeof(err));
        hp_digest_t *c = hp_digest_load(buf, cut, &err);
        HP_CHECKF(c == NULL && err.code < 0, "%s cut at %zu: loaded", name, cut);
        hp_digest_free(c);
        LLVMFuzzerTestOneInput(buf, cut);
    }
    uint8_t *copy = malloc(len);
    HP_CHECK(copy != NULL);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, buf, len);
    copy[0] ^= 0x20; /* its magic */
    memset(&err, 0, sizeof(err));
    hp_digest_t *bad = hp_digest_load(copy, len, &err);
    HP_CHECKF(bad == NULL && err.code < 0, "%s: bad magic loaded", name);
    hp_digest_free(bad);
    fuzz_garbled(copy, buf, len, 1);
    free(copy);
}

#endif

int main(int argc, char **argv) {
#ifdef FUZZ_LOAD
    const char *sub = "dumps", *suffix = ".dump";
#else
    const char *sub = "logs", *suffix = ".hpnb";
#endif
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", argv[1], sub);
    DIR *dp = opendir(dir);
    if (dp == NULL) {
        fprintf(stderr, "%s: no corpus (run fuzz/make_corpus.py)\n", dir);
        return 1;
    }
    int files = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        size_t n = strlen(e->d_name), m = strlen(suffix);
        if (n <= m || strcmp(e->d_name + n - m, suffix) != 0) {
            continue;
        }
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *buf = read_file(path, &len);
        HP_CHECKF(buf != NULL, "%s: unreadable", path);
        if (buf == NULL) {
            continue;
        }
        files++;
#ifdef FUZZ_LOAD
        check_dump(e->d_name, buf, len);
#else
        check_log(e->d_name, buf, len);
#endif
        free(buf);
    }
    closedir(dp);
    HP_CHECKF(files > 0, "%s: no %s files", dir, suffix);
    printf("%d corpus files\n", files);
    return hp_test_done(sub);
}
