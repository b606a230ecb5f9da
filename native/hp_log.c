// SPDX-License-Identifier: MIT
/* The log writer and its flush thread (see hp_log.h). Records are assembled in a buffer under
 * the hp_log lock; whole buffers go to the file, so the file is always complete records plus at
 * most one partial record where a write was cut short. */
#include "hp_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUFFER_FLUSH_AT (1u << 20)                     /* flush once this much is buffered */
/* Room past the flush mark for the largest record: a STRING or MARKER text of HP_MAX_STRING, or a
 * META of HP_MAX_STRING in all, plus their tags and varints (HP_RECORD_*_MAX). */
#define RECORD_SLACK 4096u
#define BUFFER_CAPACITY (BUFFER_FLUSH_AT + HP_MAX_STRING + RECORD_SLACK)
#define FALLBACK_PAGE_SIZE 4096u                       /* when sysconf cannot say */
#define FLUSH_INTERVAL_NS 100000000u                   /* 100 ms */
#define RSS_INTERVAL_NS 10000000u                      /* 10 ms */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Guarded by log_lock. */
static int log_fd = -1;
static int log_writable;        /* file open and no write failed */
static uint8_t *buffer;
static size_t buffer_used;
static uint64_t last_time_ns;   /* time of the previous timed record */
static uint64_t last_flush_ns;

static _Atomic int write_errno;  /* any thread */
static _Atomic uint64_t last_rss; /* any thread */

/* The flush thread. flusher_stop and flusher_cond go with log_lock. */
static pthread_t flusher;
static int flusher_running;     /* GIL (open/close only) */
static int flusher_stop;        /* log_lock */
static pthread_cond_t flusher_cond;
static int statm_fd = -1;       /* flush thread only, opened and closed around it */

const char *hp_strerror(int code) {
    switch (code) {
    case HP_OK: return "no error";
    case HP_ENOMEM: return "out of memory";
    case HP_EIO: return "writing the profile failed";
    case HP_EINVAL: return "invalid argument";
    case HP_ESTATE: return "the profiler is not in a state that allows this";
    case HP_EOPEN: return "the profile file could not be created";
    case HP_ETHREAD: return "the profiler's background thread could not be started";
    }
    return "unknown error";
}

void hp_log_lock(void) { pthread_mutex_lock(&log_lock); }
void hp_log_unlock(void) { pthread_mutex_unlock(&log_lock); }

int hp_log_writable_unlocked(void) { return log_writable; }
int hp_log_errno(void) { return atomic_load(&write_errno); }
uint64_t hp_log_last_rss(void) { return atomic_load_explicit(&last_rss, memory_order_relaxed); }

static int write_all(int fd, const uint8_t *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno ? errno : EIO;
        }
        if (n == 0) {
            return ENOSPC;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes the buffer to the file. Returns 0 or HP_EIO. Hook-safe. */
static int flush_unlocked(void) {
    if (!log_writable) {
        return HP_EIO;
    }
    if (buffer_used > 0) {
        int err = write_all(log_fd, buffer, buffer_used);
        buffer_used = 0;
        if (err != 0) {
            atomic_store(&write_errno, err);
            log_writable = 0;
            return HP_EIO;
        }
    }
    last_flush_ns = hp_now_ns();
    return HP_OK;
}

uint8_t *hp_log_reserve_unlocked(size_t n) {
    if (!log_writable || n > BUFFER_CAPACITY) {
        return NULL;
    }
    if (buffer_used + n > BUFFER_CAPACITY && flush_unlocked() != HP_OK) {
        return NULL;
    }
    return buffer + buffer_used;
}

void hp_log_commit_unlocked(size_t written) {
    buffer_used += written;
    if (buffer_used >= BUFFER_FLUSH_AT) {
        (void)flush_unlocked();
    }
}

uint64_t hp_log_dt_unlocked(void) {
    uint64_t now = hp_now_ns();
    uint64_t dt = now >= last_time_ns ? now - last_time_ns : 0;
    last_time_ns += dt;
    return dt;
}

int hp_log_string_unlocked(uint32_t id, const char *text, size_t len) {
    if (len > HP_MAX_STRING) {
        len = HP_MAX_STRING;
    }
    uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_STRING_MAX(len));
    if (p == NULL) {
        return HP_EIO;
    }
    hp_log_commit_unlocked(hp_record_string(p, id, text, len));
    return HP_OK;
}

int hp_log_marker(uint64_t kind, const char *label, size_t len) {
    if (len > HP_MAX_STRING) {
        len = HP_MAX_STRING;
    }
    int rc = HP_EIO;
    hp_log_lock();
    uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_MARKER_MAX(len));
    if (p != NULL) {
        hp_log_commit_unlocked(hp_record_marker(p, hp_log_dt_unlocked(), kind, label, len));
        rc = HP_OK;
    }
    hp_log_unlock();
    return rc;
}

int hp_log_meta(const char *key, size_t key_len, const char *value, size_t value_len) {
    if (key_len > HP_LOG_META_KEY_MAX || value_len > HP_LOG_META_VALUE_MAX) {
        return HP_EINVAL;
    }
    int rc = HP_EIO;
    hp_log_lock();
    uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_META_MAX(key_len, value_len));
    if (p != NULL) {
        hp_log_commit_unlocked(hp_record_meta(p, key, key_len, value, value_len));
        rc = HP_OK;
    }
    hp_log_unlock();
    return rc;
}

/* Resident set size from /proc/self/statm (second field, in pages); 0 if unavailable. */
static uint64_t read_rss(void) {
    char text[128];
    if (statm_fd < 0) {
        return 0;
    }
    ssize_t n = pread(statm_fd, text, sizeof(text) - 1, 0);
    if (n <= 0) {
        return 0;
    }
    text[n] = '\0';
    char *end = NULL;
    (void)strtoull(text, &end, 10);
    if (end == NULL || *end != ' ') {
        return 0;
    }
    uint64_t pages = strtoull(end + 1, NULL, 10);
    long page = sysconf(_SC_PAGESIZE);
    return pages * (page > 0 ? (uint64_t)page : FALLBACK_PAGE_SIZE);
}

static void write_rss_unlocked(uint64_t rss) {
    uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_RSS_MAX);
    if (p != NULL) {
        hp_log_commit_unlocked(hp_record_rss(p, hp_log_dt_unlocked(), rss));
    }
}

static void deadline_after(struct timespec *ts, uint64_t ns) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t total = (uint64_t)ts->tv_nsec + ns;
    ts->tv_sec += (time_t)(total / 1000000000u);
    ts->tv_nsec = (long)(total % 1000000000u);
}

/* Native thread: never calls the Python C API. Reads RSS every 10 ms and flushes every 100 ms. */
static void *flusher_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&log_lock);
    while (!flusher_stop) {
        struct timespec deadline;
        deadline_after(&deadline, RSS_INTERVAL_NS);
        while (!flusher_stop &&
               pthread_cond_timedwait(&flusher_cond, &log_lock, &deadline) != ETIMEDOUT) {
        }
        if (flusher_stop || !log_writable) {
            continue;
        }
        pthread_mutex_unlock(&log_lock);
        uint64_t rss = read_rss(); /* the read happens without the lock */
        pthread_mutex_lock(&log_lock);
        if (rss != 0 && log_writable) {
            atomic_store_explicit(&last_rss, rss, memory_order_relaxed);
            write_rss_unlocked(rss);
        }
        if (log_writable && hp_now_ns() - last_flush_ns >= FLUSH_INTERVAL_NS) {
            (void)flush_unlocked();
        }
    }
    pthread_mutex_unlock(&log_lock);
    return NULL;
}

int hp_log_open(const char *path, int exclusive, const hp_log_settings_t *settings) {
    if (strlen(settings->python_version) > HP_RECORD_MAX_PYTHON_VERSION || settings->n_buckets > HP_MAX_BUCKETS) {
        return HP_EINVAL;
    }
    uint8_t *buf = malloc(BUFFER_CAPACITY);
    if (buf == NULL) {
        return HP_ENOMEM;
    }
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC);
    int fd = open(path, flags, 0600);
    if (fd < 0) {
        int saved = errno;
        free(buf);
        errno = saved;
        return HP_EOPEN;
    }
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&flusher_cond, &attr) != 0) {
        close(fd);
        free(buf);
        return HP_ETHREAD;
    }
    pthread_condattr_destroy(&attr);

    hp_log_lock();
    buffer = buf;
    buffer_used = 0;
    log_fd = fd;
    log_writable = 1;
    atomic_store(&write_errno, 0);
    atomic_store(&last_rss, 0);
    uint64_t start = hp_now_ns();
    last_time_ns = start;
    last_flush_ns = start;
    buffer_used = hp_record_header(buffer, settings, (uint64_t)getpid(), start, hp_wall_ns());
    int rc = flush_unlocked();
    flusher_stop = 0;
    hp_log_unlock();
    if (rc != HP_OK) {
        goto fail_written;
    }
    statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (pthread_create(&flusher, NULL, flusher_main, NULL) != 0) {
        rc = HP_ETHREAD;
        goto fail_thread;
    }
    flusher_running = 1;
    return HP_OK;

fail_thread:
    if (statm_fd >= 0) {
        close(statm_fd);
        statm_fd = -1;
    }
fail_written:
    hp_log_lock();
    log_writable = 0;
    close(log_fd);
    log_fd = -1;
    free(buffer);
    buffer = NULL;
    hp_log_unlock();
    pthread_cond_destroy(&flusher_cond);
    return rc;
}

int hp_log_close(const hp_counters_t *c) {
    if (flusher_running) {
        hp_log_lock();
        flusher_stop = 1;
        pthread_cond_signal(&flusher_cond);
        hp_log_unlock();
        pthread_join(flusher, NULL);
        flusher_running = 0;
        pthread_cond_destroy(&flusher_cond);
    }
    if (statm_fd >= 0) {
        close(statm_fd);
        statm_fd = -1;
    }
    hp_log_lock();
    uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_TRAILER_MAX);
    if (p != NULL) {
        hp_log_commit_unlocked(hp_record_trailer(p, hp_log_dt_unlocked(), c));
    }
    int rc = flush_unlocked();
    if (log_fd >= 0 && close(log_fd) != 0 && rc == HP_OK) {
        atomic_store(&write_errno, errno);
        rc = HP_EIO;
    }
    log_fd = -1;
    log_writable = 0;
    free(buffer);
    buffer = NULL;
    buffer_used = 0;
    hp_log_unlock();
    return rc;
}

void hp_log_forget_in_child(void) {
    /* The forking thread took log_lock in the prepare handler; in the child it is the only
     * thread, so it may release it. The parent's buffered bytes belong to the parent. */
    if (log_fd >= 0) {
        close(log_fd);
    }
    log_fd = -1;
    log_writable = 0;
    buffer_used = 0;
    free(buffer);
    buffer = NULL;
    flusher_running = 0; /* the thread was not copied into the child */
    if (statm_fd >= 0) {
        close(statm_fd);
        statm_fd = -1;
    }
    pthread_mutex_unlock(&log_lock);
}
