// SPDX-License-Identifier: MIT
/* The sampling maths (hp_sampler.h, hp_format.h): the probability formula against known values,
 * the countdown's mean gap and per-size sampling frequencies over many draws with a fixed seed,
 * per-size buckets, exact mode (rate 1: everything is sampled), seeded repeatability and the
 * settings that are refused. */
#include <math.h>
#include <stdint.h>

#include "../hp_format.h"
#include "../hp_sampler.h"
#include "hp_test.h"

static int close_rel(double got, double want, double rel) {
    return fabs(got - want) <= rel * fabs(want);
}

/* The fraction of `n` allocations of `size` bytes that the sampler takes. */
static double sampled_fraction(uint64_t size, int n) {
    int taken = 0;
    for (int i = 0; i < n; i++) {
        taken += hp_sampler_should_sample(size);
    }
    return (double)taken / n;
}

static void test_probability_formula(void) {
    const uint64_t R = 65536;
    HP_CHECK(hp_format_byte_probability(0, R) == 0.0);
    HP_CHECK(close_rel(hp_format_byte_probability(R, R), 0.63212055882855767, 1e-15)); /* 1 - 1/e */
    HP_CHECK(close_rel(hp_format_byte_probability(2 * R, R), 0.86466471676338730, 1e-15));
    HP_CHECK(close_rel(hp_format_byte_probability(R / 2, R), 0.39346934028736658, 1e-15));
    /* s << R: p = x - x^2/2 + ..., which 1 - exp(-x) would lose to rounding. */
    double x = 1.0 / (double)(UINT64_C(1) << 40);
    HP_CHECK(close_rel(hp_format_byte_probability(1, UINT64_C(1) << 40), x - x * x / 2, 1e-12));
    HP_CHECK(hp_format_byte_probability(UINT64_MAX, 1) == 1.0);
}

static void test_gap_formula(void) {
    HP_CHECK(hp_sampler_byte_gap(1000, 1.0) == 1);                 /* -ln 1 = 0: at least 1 */
    HP_CHECK(hp_sampler_byte_gap(1000, exp(-1.0)) == 1000 || hp_sampler_byte_gap(1000, exp(-1.0)) == 999);
    HP_CHECK(hp_sampler_byte_gap(1000, exp(-3.0)) >= 2999 && hp_sampler_byte_gap(1000, exp(-3.0)) <= 3000);
    HP_CHECK(hp_sampler_byte_gap(UINT64_MAX, 0x1.0p-53) == UINT64_MAX); /* saturates */
    /* Geometric: P(gap >= k) = (1 - p)^k. */
    double l = log1p(-0.25);
    HP_CHECK(hp_sampler_count_gap(l, 1.0) == 0);
    HP_CHECK(hp_sampler_count_gap(l, 0.75) == 1);
    HP_CHECK(hp_sampler_count_gap(l, 0.7) == 1);
    HP_CHECK(hp_sampler_count_gap(l, 0.55) == 2);
    HP_CHECK(hp_sampler_count_gap(-1e-300, 0x1.0p-53) == INT64_MAX); /* saturates */
}

static void test_mean_gap(void) {
    const uint64_t R = 65536;
    HP_CHECK(hp_sampler_configure(HP_MODE_BYTES, R, 0, NULL, NULL, 42) == HP_OK);
    (void)hp_sampler_should_sample(1); /* the first slow path seeds this thread for the run */
    hp_thread_t *t = hp_sampler_thread();
    HP_CHECK(t != NULL);
    if (t == NULL) {
        return;
    }
    const int n = 200000;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double u = (double)((hp_sampler_next(t) >> 11) + 1) * 0x1.0p-53;
        sum += (double)hp_sampler_byte_gap(R, u);
    }
    /* The mean of n Exp(R) draws has a standard deviation of R/sqrt(n), 0.22% here. */
    HP_CHECKF(close_rel(sum / n, (double)R, 0.01), "mean gap %.1f for R = %llu", sum / n,
              (unsigned long long)R);
}

static void test_sampled_fractions(void) {
    const uint64_t R = 4096;
    const uint64_t sizes[] = {R / 64, R / 4, R, 4 * R};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        HP_CHECK(hp_sampler_configure(HP_MODE_BYTES, R, 0, NULL, NULL, 7 + i) == HP_OK);
        const int n = 400000;
        double p = hp_format_byte_probability(sizes[i], R);
        double got = sampled_fraction(sizes[i], n);
        double sigma = sqrt(p * (1 - p) / n);
        HP_CHECKF(fabs(got - p) <= 5 * sigma + 1e-9, "size %llu: sampled %.5f, p = %.5f",
                  (unsigned long long)sizes[i], got, p);
    }
}

static void test_buckets(void) {
    const uint64_t thresholds[] = {1, 128, 8192};
    const double probabilities[] = {1e-2, 0.1, 1.0};
    HP_CHECK(hp_sampler_configure(HP_MODE_SIZES, 0, 3, thresholds, probabilities, 9) == HP_OK);
    const int n = 400000;
    const uint64_t sizes[] = {0, 100, 128, 8191, 8192, 1 << 20};
    const double want[] = {1e-2, 1e-2, 0.1, 0.1, 1.0, 1.0};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        double got = sampled_fraction(sizes[i], n);
        double sigma = sqrt(want[i] * (1 - want[i]) / n);
        HP_CHECKF(fabs(got - want[i]) <= 5 * sigma + 1e-9, "size %llu: sampled %.5f, p = %.5f",
                  (unsigned long long)sizes[i], got, want[i]);
    }
}

static void test_exact_mode(void) {
    /* heapprof_nb's rate 1 is exact mode: every allocation, of every size, is sampled. */
    HP_CHECK(hp_sampler_configure(HP_MODE_ALL, 1, 0, NULL, NULL, 1) == HP_OK);
    HP_CHECK(sampled_fraction(1, 100000) == 1.0);
    HP_CHECK(sampled_fraction(0, 1000) == 1.0);
    HP_CHECK(sampled_fraction(UINT64_C(1) << 40, 1000) == 1.0);
}

static void test_seeded_runs_repeat(void) {
    uint64_t first[64] = {0};
    for (int run = 0; run < 2; run++) {
        HP_CHECK(hp_sampler_configure(HP_MODE_BYTES, 512, 0, NULL, NULL, 1234) == HP_OK);
        int same = 1;
        for (int i = 0; i < 64 * 64; i++) {
            uint64_t bit = (uint64_t)hp_sampler_should_sample(100) << (i % 64);
            if (run == 0) {
                first[i / 64] |= bit;
            } else {
                same &= (first[i / 64] & (UINT64_C(1) << (i % 64))) == bit;
            }
        }
        if (run == 1) {
            HP_CHECK(same);
        }
    }
}

static void test_refused(void) {
    const uint64_t up[] = {1, 10}, down[] = {10, 1};
    const double ok[] = {0.5, 1.0}, zero[] = {0.0, 1.0}, above[] = {0.5, 1.5};
    HP_CHECK(hp_sampler_configure(HP_MODE_BYTES, 0, 0, NULL, NULL, 0) == HP_EINVAL);
    HP_CHECK(hp_sampler_configure(HP_MODE_SIZES, 0, 2, down, ok, 0) == HP_EINVAL);
    HP_CHECK(hp_sampler_configure(HP_MODE_SIZES, 0, 2, up, zero, 0) == HP_EINVAL);
    HP_CHECK(hp_sampler_configure(HP_MODE_SIZES, 0, 2, up, above, 0) == HP_EINVAL);
    HP_CHECK(hp_sampler_configure(HP_MODE_SIZES, 0, 0, up, ok, 0) == HP_EINVAL);
    HP_CHECK(hp_sampler_configure(HP_MODE_SIZES, 0, HP_MAX_BUCKETS + 1, up, ok, 0) == HP_EINVAL);
    HP_CHECK(hp_sampler_configure((hp_mode_t)7, 1, 0, NULL, NULL, 0) == HP_EINVAL);
    HP_CHECK(hp_sampler_configure(HP_MODE_SIZES, 0, 2, up, ok, 0) == HP_OK);
}

int main(void) {
    HP_CHECK(hp_sampler_init() == HP_OK);
    test_probability_formula();
    test_gap_formula();
    test_mean_gap();
    test_sampled_fractions();
    test_buckets();
    test_exact_mode();
    test_seeded_runs_repeat();
    test_refused();
    return hp_test_done("sampler");
}
