// SPDX-License-Identifier: MIT
/* The varint codec of hp_format.h: round trips, the byte count at each 7-bit boundary, the
 * 10-byte limit, truncated input. */
#include <stdint.h>
#include <string.h>

#include "../hp_format.h"
#include "hp_test.h"

static void round_trip(uint64_t v, size_t want_len) {
    uint8_t buf[HP_MAX_VARINT + 1];
    memset(buf, 0xAA, sizeof(buf));
    size_t n = hp_put_varint(buf, v);
    HP_CHECKF(n == want_len, "%llu took %zu bytes, expected %zu", (unsigned long long)v, n, want_len);
    HP_CHECK(buf[n] == 0xAA); /* nothing written past the varint */
    uint64_t got = 0;
    const uint8_t *next = NULL;
    HP_CHECK(hp_get_varint(buf, buf + n, &got, &next) == HP_VARINT_OK);
    HP_CHECKF(got == v, "%llu read back as %llu", (unsigned long long)v, (unsigned long long)got);
    HP_CHECK(next == buf + n);
    /* Every strict prefix is incomplete and leaves the outputs alone. */
    for (size_t cut = 0; cut < n; cut++) {
        uint64_t untouched = 7;
        const uint8_t *nx = NULL;
        HP_CHECK(hp_get_varint(buf, buf + cut, &untouched, &nx) == HP_VARINT_MORE);
        HP_CHECK(untouched == 7 && nx == NULL);
    }
}

int main(void) {
    round_trip(0, 1);
    round_trip(1, 1);
    /* 7 bits per byte: the largest value of k bytes and the smallest of k + 1. */
    for (unsigned k = 1; k < 10; k++) {
        uint64_t top = (UINT64_C(1) << (7 * k)) - 1;
        round_trip(top, k);
        round_trip(top + 1, k + 1);
    }
    round_trip(UINT64_MAX, HP_MAX_VARINT);
    round_trip(UINT64_C(1) << 63, HP_MAX_VARINT);
    round_trip(UINT64_C(0x0123456789abcdef), 9);

    /* A 10th byte above 1 would need bit 64: rejected. */
    uint8_t ten[HP_MAX_VARINT];
    memset(ten, 0xFF, sizeof(ten));
    ten[9] = 0x02;
    uint64_t v = 0;
    const uint8_t *next = NULL;
    HP_CHECK(hp_get_varint(ten, ten + sizeof(ten), &v, &next) == HP_VARINT_BAD);
    ten[9] = 0x01;
    HP_CHECK(hp_get_varint(ten, ten + sizeof(ten), &v, &next) == HP_VARINT_OK && v == UINT64_MAX);
    /* An 11th byte (the 10th still has its continuation bit): rejected, not "more". */
    uint8_t eleven[HP_MAX_VARINT + 1];
    memset(eleven, 0x80, sizeof(eleven));
    eleven[HP_MAX_VARINT] = 0x00;
    HP_CHECK(hp_get_varint(eleven, eleven + sizeof(eleven), &v, &next) == HP_VARINT_BAD);
    HP_CHECK(hp_get_varint(eleven, eleven + HP_MAX_VARINT, &v, &next) == HP_VARINT_BAD);
    /* Non-minimal forms are valid LEB128 (the format does not forbid them). */
    uint8_t padded[] = {0x81, 0x80, 0x00};
    HP_CHECK(hp_get_varint(padded, padded + 3, &v, &next) == HP_VARINT_OK && v == 1 && next == padded + 3);
    /* Empty input. */
    HP_CHECK(hp_get_varint(padded, padded, &v, &next) == HP_VARINT_MORE);

    /* Many values of every length, from a fixed generator. */
    uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t value = x >> (i % 64);
        uint8_t buf[HP_MAX_VARINT];
        size_t n = hp_put_varint(buf, value);
        uint64_t got = 0;
        HP_CHECK(hp_get_varint(buf, buf + n, &got, &next) == HP_VARINT_OK && got == value);
    }
    return hp_test_done("varint");
}
