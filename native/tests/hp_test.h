// SPDX-License-Identifier: MIT
/* A tiny assert helper for the engine's C unit tests (after Redis's testhelp.h): each check
 * prints what failed and where, the test goes on, and hp_test_done() makes the exit status.
 * Header-only; each test program includes it once. */
#ifndef HP_TEST_H
#define HP_TEST_H

#include <stdio.h>

static int hp_test_failed;
static int hp_test_checks;

#define HP_CHECK(cond)                                                                   \
    do {                                                                                 \
        hp_test_checks++;                                                                \
        if (!(cond)) {                                                                   \
            hp_test_failed++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

/* The same, with a printf-style note (values that explain the failure). */
#define HP_CHECKF(cond, ...)                                                             \
    do {                                                                                 \
        hp_test_checks++;                                                                \
        if (!(cond)) {                                                                   \
            hp_test_failed++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)

/* Prints the tally; returns the process exit status (0 if every check passed). */
static inline int hp_test_done(const char *name) {
    printf("%s: %d checks, %d failed\n", name, hp_test_checks, hp_test_failed);
    return hp_test_failed == 0 ? 0 : 1;
}

#endif /* HP_TEST_H */
