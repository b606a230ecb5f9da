// SPDX-License-Identifier: MIT
/* The live set of hp_liveset.h against a plain array: adds, removes (backward-shift deletion
 * keeps every probe run reachable), growth, the filter's "maybe" answers and their reset. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../hp_liveset.h"
#include "hp_test.h"

static uint64_t rng = UINT64_C(0x2545F4914F6CDD1D);
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void) {
    hp_liveset_t s;
    HP_CHECK(hp_liveset_init(&s, 1) == HP_OK);
    HP_CHECK(!hp_liveset_maybe((void *)0x1000));
    HP_CHECK(hp_liveset_remove(&s, 0x1000, NULL) == 0);
    HP_CHECK(hp_liveset_remove(&s, 0, NULL) == 0);

    /* A block comes back whole. */
    hp_live_t b = {0x7f00deadbee0u, 123456789012u, 42, 3, 2};
    HP_CHECK(hp_liveset_add(&s, &b) == HP_OK);
    HP_CHECK(hp_liveset_maybe((void *)b.address));
    hp_live_t out;
    memset(&out, 0, sizeof(out));
    HP_CHECK(hp_liveset_remove(&s, b.address, &out) == 1);
    HP_CHECK(out.address == b.address && out.size == b.size && out.stack_id == 42 &&
             out.thread == 3 && out.domain == 2);
    HP_CHECK(hp_liveset_remove(&s, b.address, NULL) == 0);
    HP_CHECK(!hp_liveset_maybe((void *)b.address));

    /* Random adds and removes against a reference array; 16-byte aligned addresses in a narrow
     * range, so probe runs collide and wrap. */
    enum { N = 20000 };
    uintptr_t *ref = calloc(N, sizeof(*ref));
    HP_CHECK(ref != NULL);
    if (ref == NULL) {
        return hp_test_done("liveset");
    }
    size_t live = 0;
    int wrong = 0;
    for (int step = 0; step < 200000; step++) {
        size_t k = next() % N;
        if (ref[k] == 0) {
            uintptr_t a = 0x100000u + 16u * (uintptr_t)k;
            hp_live_t blk = {a, k + 1, (uint32_t)k, 0, 0};
            wrong += hp_liveset_add(&s, &blk) != HP_OK;
            ref[k] = a;
            live++;
        } else if (next() % 3 != 0) {
            hp_live_t got;
            wrong += hp_liveset_remove(&s, ref[k], &got) != 1 || got.size != k + 1;
            ref[k] = 0;
            live--;
        }
    }
    HP_CHECKF(wrong == 0, "%d operations wrong", wrong);
    HP_CHECK(s.count == live);
    for (size_t k = 0; k < N; k++) {
        uintptr_t a = 0x100000u + 16u * (uintptr_t)k;
        if (ref[k] != 0) {
            wrong += !hp_liveset_maybe((void *)a); /* the filter never says "no" to a live block */
            wrong += hp_liveset_remove(&s, a, NULL) != 1;
        } else {
            wrong += hp_liveset_remove(&s, a, NULL) != 0;
        }
    }
    HP_CHECKF(wrong == 0, "%d checks of the final set wrong", wrong);
    HP_CHECK(s.count == 0);
    free(ref);

    /* Saturated filter counts stay "maybe" until fini clears the whole filter. */
    for (uint32_t i = 0; i < 300; i++) {
        hp_live_t same_slot = {0x10u + ((uintptr_t)i << 24), 1, 0, 0, 0};
        HP_CHECK(hp_liveset_add(&s, &same_slot) == HP_OK);
    }
    for (uint32_t i = 0; i < 300; i++) {
        HP_CHECK(hp_liveset_remove(&s, 0x10u + ((uintptr_t)i << 24), NULL) == 1);
    }
    HP_CHECK(hp_liveset_maybe((void *)0x10u)); /* saturated: no longer counts down */
    hp_liveset_fini(&s);
    HP_CHECK(!hp_liveset_maybe((void *)0x10u));
    HP_CHECK(s.slots == NULL);
    return hp_test_done("liveset");
}
