// SPDX-License-Identifier: MIT
/* Sampling decisions (the math is in hp_sampler.h) and the per-thread generator state. */
#include "hp_sampler.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

HP_TLS hp_tls_t hp_tls;                     /* thread-local */
hp_sampler_config_t hp_sampler_config;      /* written with no hook installed (GIL held) */
_Atomic uint32_t hp_sampler_epoch = 1;      /* bumped per configuration */
static _Atomic uint64_t thread_serial;      /* distinct generator seeds per thread */
static pthread_key_t thread_key;            /* set once at init; runs the exit destructor */
/* Every thread that has slow-path state, so configure can zero their countdowns. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static hp_thread_t *registry;               /* registry_lock */

static void registry_add(hp_thread_t *t) {
    pthread_mutex_lock(&registry_lock);
    t->prev = NULL;
    t->next = registry;
    if (registry != NULL) {
        registry->prev = t;
    }
    registry = t;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(hp_thread_t *t) {
    pthread_mutex_lock(&registry_lock);
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else if (registry == t) {
        registry = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    pthread_mutex_unlock(&registry_lock);
}

void hp_sampler_before_fork(void) { pthread_mutex_lock(&registry_lock); }
void hp_sampler_after_fork_parent(void) { pthread_mutex_unlock(&registry_lock); }
void hp_sampler_after_fork_child(void) {
    /* The other threads do not exist in the child: keep only this one. */
    registry = hp_tls.thread;
    if (registry != NULL) {
        registry->prev = registry->next = NULL;
    }
    pthread_mutex_unlock(&registry_lock);
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t hp_sampler_next(hp_thread_t *t) {
    uint64_t *s = t->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t tmp = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= tmp;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in (0, 1]: 53 random bits, never 0, so log() is finite. */
static double uniform_open0(hp_thread_t *t) {
    return (double)((hp_sampler_next(t) >> 11) + 1) * 0x1.0p-53;
}

static void seed_thread(hp_thread_t *t) {
    uint64_t state = hp_sampler_config.seed ^
                     (atomic_fetch_add(&thread_serial, 1) * UINT64_C(0xd1342543de82ef95));
    for (int i = 0; i < 4; i++) {
        t->rng[i] = splitmix64(&state);
    }
}

static void thread_exit(void *arg) {
    /* Runs in the exiting thread: clear the TLS pointer first, so an allocation made by a later
     * destructor allocates a fresh state instead of using a freed one. */
    if (hp_tls.thread == arg) {
        hp_tls.thread = NULL;
    }
    registry_remove(arg);
    free(arg);
}

int hp_sampler_init(void) {
    return pthread_key_create(&thread_key, thread_exit) == 0 ? HP_OK : HP_ETHREAD;
}

hp_thread_t *hp_sampler_thread(void) {
    hp_thread_t *t = hp_tls.thread;
    if (HP_LIKELY(t != NULL)) {
        return t;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    if (pthread_setspecific(thread_key, t) != 0) {
        free(t);
        return NULL;
    }
    t->tls = &hp_tls;
    registry_add(t);
    hp_tls.thread = t;
    return t;
}

/* Gaps drawn from this thread's generator (the maths: hp_sampler_byte_gap, _count_gap). */
static uint64_t draw_byte_gap(hp_thread_t *t) {
    return hp_sampler_byte_gap(hp_sampler_config.rate, uniform_open0(t));
}

static int64_t draw_count_gap(hp_thread_t *t, double log1m_p) {
    return hp_sampler_count_gap(log1m_p, uniform_open0(t));
}

/* This thread's state with its generator seeded for `epoch`: each run reseeds every thread from
 * the run's seed and the order in which threads first sample, so a seeded single-threaded run
 * repeats exactly. */
static hp_thread_t *thread_for_epoch(uint32_t epoch) {
    hp_thread_t *t = hp_sampler_thread();
    if (t != NULL && t->rng_epoch != epoch) {
        t->rng_epoch = epoch;
        seed_thread(t);
    }
    return t;
}

static int sample_bytes(uint64_t size, uint32_t epoch) {
    hp_thread_t *t = thread_for_epoch(epoch);
    if (t == NULL) {
        return 0; /* no generator: sampling nothing keeps the estimates unbiased but noisier */
    }
    if (hp_tls.bytes_left == 0) { /* first allocation of this thread in this run */
        hp_tls.bytes_left = draw_byte_gap(t);
        if (size < hp_tls.bytes_left) {
            hp_tls.bytes_left -= size;
            return 0;
        }
    }
    /* The countdown is crossed by this allocation: sample it and start a fresh gap. */
    hp_tls.bytes_left = draw_byte_gap(t);
    return 1;
}

static int sample_sizes(uint64_t size, uint32_t epoch) {
    const hp_sampler_config_t *c = &hp_sampler_config;
    int b = 0;
    while (b + 1 < c->n_buckets && c->thresholds[b + 1] <= size) {
        b++;
    }
    if (c->probabilities[b] >= 1.0) {
        return 1;
    }
    hp_thread_t *t = thread_for_epoch(epoch);
    if (t == NULL) {
        return 0;
    }
    if (t->size_epoch != epoch) {
        t->size_epoch = epoch;
        for (int i = 0; i < c->n_buckets; i++) {
            t->size_countdown[i] = c->probabilities[i] >= 1.0 ? 0 : draw_count_gap(t, c->log1m_p[i]);
        }
    }
    if (t->size_countdown[b] > 0) {
        t->size_countdown[b]--;
        return 0;
    }
    t->size_countdown[b] = draw_count_gap(t, c->log1m_p[b]);
    return 1;
}

int hp_sampler_slow(uint64_t size) {
    uint32_t epoch = atomic_load_explicit(&hp_sampler_epoch, memory_order_acquire);
    switch (hp_sampler_config.mode) {
    case HP_MODE_BYTES:
        return sample_bytes(size, epoch);
    case HP_MODE_SIZES:
        return sample_sizes(size, epoch);
    case HP_MODE_ALL:
        return 1;
    }
    return 0;
}

int hp_sampler_configure(hp_mode_t mode, uint64_t rate, int n_buckets, const uint64_t *thresholds,
                         const double *probabilities, uint64_t seed) {
    hp_sampler_config_t c;
    memset(&c, 0, sizeof(c));
    c.mode = mode;
    c.seed = seed;
    switch (mode) {
    case HP_MODE_BYTES:
        if (rate == 0) {
            return HP_EINVAL;
        }
        c.rate = rate;
        break;
    case HP_MODE_ALL:
        c.rate = 1;
        break;
    case HP_MODE_SIZES:
        if (n_buckets < 1 || n_buckets > HP_MAX_BUCKETS || thresholds == NULL || probabilities == NULL) {
            return HP_EINVAL;
        }
        for (int i = 0; i < n_buckets; i++) {
            double p = probabilities[i];
            if (!(p > 0.0 && p <= 1.0) || (i > 0 && thresholds[i] <= thresholds[i - 1])) {
                return HP_EINVAL;
            }
            c.thresholds[i] = thresholds[i];
            c.probabilities[i] = p;
            c.log1m_p[i] = p < 1.0 ? log1p(-p) : 0.0;
        }
        c.n_buckets = n_buckets;
        break;
    default:
        return HP_EINVAL;
    }
    hp_sampler_config = c;
    atomic_store_explicit(&thread_serial, 0, memory_order_relaxed);
    /* A fresh epoch makes each thread reseed its generator, and a zero countdown sends it to the
     * slow path to draw a gap under these settings, on its next allocation. A hook still running
     * from the last run could store its old countdown back over the zero: that thread's first gap
     * of this run then keeps the previous rate, a bias limited to one gap. */
    atomic_fetch_add_explicit(&hp_sampler_epoch, 1, memory_order_release);
    pthread_mutex_lock(&registry_lock);
    for (hp_thread_t *t = registry; t != NULL; t = t->next) {
        __atomic_store_n(&t->tls->bytes_left, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&registry_lock);
    return HP_OK;
}
