// SPDX-License-Identifier: MIT
/* Shared definitions of the sampling engine: error codes, branch hints, the thread-local
 * storage model, the monotonic clock and the allocator our own state comes from.
 * Nothing here touches the Python C API. */
#ifndef HP_COMMON_H
#define HP_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hp_format.h" /* modes, domains and limits of the log */

/* Engine functions return 0 or one of these negative codes; hp_module.c maps them to
 * Python exceptions through hp_strerror(). */
typedef enum {
    HP_OK = 0,
    HP_ENOMEM = -1,      /* our own allocation failed */
    HP_EIO = -2,         /* writing the log failed (errno kept by the caller) */
    HP_EINVAL = -3,      /* a bad argument */
    HP_ESTATE = -4,      /* started while running, stopped while stopped */
    HP_EOPEN = -5,       /* the log file could not be created */
    HP_ETHREAD = -6,     /* the flush thread could not be started */
} hp_error_t;

/* Returns a static, human-readable description of an hp_error_t. */
const char *hp_strerror(int code);

#if defined(__GNUC__) || defined(__clang__)
#define HP_LIKELY(x) __builtin_expect(!!(x), 1)
#define HP_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* The hot-path counters live in static TLS: a shared library's default TLS model goes through
 * __tls_get_addr, which costs 2.5x the decrement itself (DESIGN.md, cost floor). */
#define HP_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#define HP_LIKELY(x) (x)
#define HP_UNLIKELY(x) (x)
#define HP_TLS _Thread_local
#endif

/* CLOCK_MONOTONIC in nanoseconds. Safe inside a hook (no allocation). */
static inline uint64_t hp_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
static inline uint64_t hp_wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Hash of a 64-bit value (the finaliser of MurmurHash3): spreads pointers, whose low bits are
 * zero by alignment, over a table index. */
static inline uint64_t hp_mix64(uint64_t x) {
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

#endif /* HP_COMMON_H */
