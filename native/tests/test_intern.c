// SPDX-License-Identifier: MIT
/* The interning tables of hp_intern.h: the (k1, k2) -> id map and the stack table, through
 * growth, with depth-0 stacks (no frame array at all) and stacks that are prefixes of others. */
#include <stdint.h>
#include <stdlib.h>

#include "../hp_common.h"
#include "../hp_intern.h"
#include "hp_test.h"

static void test_map(void) {
    hp_map_t m;
    HP_CHECK(hp_map_init(&m, 4) == HP_OK); /* grows from the smallest table */
    const uint32_t n = 50000;
    for (uint32_t i = 1; i <= n; i++) {
        /* Pointer-like keys (aligned, close together) and a second key that varies slowly. */
        HP_CHECK(hp_map_get(&m, 0x7f0000001000u + 16u * i, i / 7) == 0);
        HP_CHECK(hp_map_put(&m, 0x7f0000001000u + 16u * i, i / 7, i) == HP_OK);
    }
    HP_CHECK(m.count == n);
    HP_CHECK(m.capacity >= 2 * (size_t)n); /* at most half full */
    int wrong = 0;
    for (uint32_t i = 1; i <= n; i++) {
        wrong += hp_map_get(&m, 0x7f0000001000u + 16u * i, i / 7) != i;
        wrong += hp_map_get(&m, 0x7f0000001000u + 16u * i, i / 7 + 1) != 0; /* other k2 */
    }
    HP_CHECKF(wrong == 0, "%d lookups wrong", wrong);
    /* The same k1 under different k2 are different keys (frames by (code, line)). */
    HP_CHECK(hp_map_put(&m, 1, 10, 101) == HP_OK && hp_map_put(&m, 1, 11, 102) == HP_OK);
    HP_CHECK(hp_map_get(&m, 1, 10) == 101 && hp_map_get(&m, 1, 11) == 102);
    hp_map_fini(&m);
    HP_CHECK(m.slots == NULL && m.count == 0);
}

static void test_stacks(void) {
    hp_stacktab_t t;
    HP_CHECK(hp_stacktab_init(&t, 4) == HP_OK);
    /* Depth 0: the empty stack, with no frame array. */
    uint64_t h0 = hp_stack_hash(NULL, 0);
    HP_CHECK(hp_stacktab_get(&t, NULL, 0, h0) == 0);
    HP_CHECK(hp_stacktab_put(&t, NULL, 0, h0, 1) == HP_OK);
    HP_CHECK(hp_stacktab_get(&t, NULL, 0, h0) == 1);

    /* Stacks 1..k of frames 1..k are prefixes of each other: all distinct. */
    enum { DEEP = 300, MANY = 20000 };
    uint32_t frames[DEEP];
    for (uint32_t i = 0; i < DEEP; i++) {
        frames[i] = i + 1;
    }
    for (uint32_t d = 1; d <= DEEP; d++) {
        HP_CHECK(hp_stacktab_put(&t, frames, d, hp_stack_hash(frames, d), 1 + d) == HP_OK);
    }
    /* Many short stacks, enough to grow the slots and the frame array several times. */
    uint32_t id = 2 + DEEP;
    for (uint32_t i = 0; i < MANY; i++) {
        uint32_t s[3] = {i, i * 31 + 7, 5};
        uint64_t h = hp_stack_hash(s, 3);
        HP_CHECK(hp_stacktab_get(&t, s, 3, h) == 0);
        HP_CHECK(hp_stacktab_put(&t, s, 3, h, id++) == HP_OK);
    }
    int wrong = 0;
    for (uint32_t d = 1; d <= DEEP; d++) {
        wrong += hp_stacktab_get(&t, frames, d, hp_stack_hash(frames, d)) != 1 + d;
    }
    for (uint32_t i = 0; i < MANY; i++) {
        uint32_t s[3] = {i, i * 31 + 7, 5};
        wrong += hp_stacktab_get(&t, s, 3, hp_stack_hash(s, 3)) != 2 + DEEP + i;
        uint32_t reversed[3] = {5, i * 31 + 7, i}; /* order matters (leaf first) */
        uint32_t got = hp_stacktab_get(&t, reversed, 3, hp_stack_hash(reversed, 3));
        wrong += got != 0 && i != 5; /* i = 5 reads the same both ways */
    }
    HP_CHECKF(wrong == 0, "%d lookups wrong", wrong);
    HP_CHECK(hp_stacktab_get(&t, NULL, 0, h0) == 1); /* still there after the growth */
    HP_CHECK(t.count == 1 + DEEP + MANY);
    hp_stacktab_fini(&t);
    HP_CHECK(t.slots == NULL && t.frames == NULL);

    /* A table that only ever holds depth-0 stacks. */
    HP_CHECK(hp_stacktab_init(&t, 1) == HP_OK);
    HP_CHECK(hp_stacktab_put(&t, NULL, 0, h0, 9) == HP_OK);
    HP_CHECK(hp_stacktab_get(&t, NULL, 0, h0) == 9 && t.frames_len == 0);
    hp_stacktab_fini(&t);
}

int main(void) {
    test_map();
    test_stacks();
    return hp_test_done("intern");
}
