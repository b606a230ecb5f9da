// SPDX-License-Identifier: MIT
/* The log writer: an append-only file in the format of docs/log-format.md (hp_format.h), a buffer in front of it,
 * and a flush thread that writes the buffer at least every 100 ms and records the process RSS
 * every 10 ms, so another thread or process can follow the file while it grows.
 *
 * One mutex, "the hp_log lock", guards the buffer, the file, the writer's clock and every table
 * of the profiling session (hp_events.c, hp_stacks.c). It is the only lock of the engine. Whoever holds it never waits
 * for the GIL, so a thread holding the GIL may take it. Functions suffixed _unlocked need it held.
 * A write error (disk full, I/O error) turns the writer off: hp_log_errno() tells why, nothing
 * more is written, and what reached the file stays readable. */
#ifndef HP_LOG_H
#define HP_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "hp_common.h"
#include "hp_format.h"
#include "hp_record.h" /* hp_counters_t, hp_log_settings_t */


/* Creates the file (mode 0600, O_EXCL when `exclusive`, never following a symlink), writes the
 * header and starts the flush thread. Returns 0, HP_EOPEN (errno set), HP_ENOMEM or HP_ETHREAD.
 * Not hook-safe; call with the hooks not yet installed. */
int hp_log_open(const char *path, int exclusive, const hp_log_settings_t *settings);

/* Writes the trailer, flushes, stops the flush thread and closes the file. Returns 0 or HP_EIO
 * (the file is closed in every case). Not hook-safe. */
int hp_log_close(const hp_counters_t *counters);

/* In a forked child: forget the parent's file and buffer without writing them, and make the
 * lock usable again. Hook-safe (no locking). */
void hp_log_forget_in_child(void);

void hp_log_lock(void);
/* Taken and released around fork by the session's fork handlers, too. */
void hp_log_unlock(void);

/* 1 while the file is open and no write has failed. Read under the lock. */
int hp_log_writable_unlocked(void);
/* errno of the write that failed, 0 if none. Any thread. */
int hp_log_errno(void);

/* Room for a record of at most `n` bytes in the buffer (flushing first if needed), or NULL if the
 * writer is off. Finish with hp_log_commit_unlocked(written). Hook-safe. */
uint8_t *hp_log_reserve_unlocked(size_t n);
void hp_log_commit_unlocked(size_t written);

/* The dt field of a timed record written now: ns since the previous timed record. The clock is
 * read under the lock, so records in the file are in time order. Hook-safe. */
uint64_t hp_log_dt_unlocked(void);


/* Writes a STRING record (text cut at HP_MAX_STRING). HP_EIO if the writer is off. Hook-safe. */
int hp_log_string_unlocked(uint32_t id, const char *text, size_t len);
/* A MARKER (kind, label; cut at HP_MAX_STRING) or META (key, value) record; they take the lock
 * themselves. A META key may have at most HP_LOG_META_KEY_MAX bytes and its value at most
 * HP_LOG_META_VALUE_MAX (HP_EINVAL otherwise), so the record fits the buffer. */
#define HP_LOG_META_KEY_MAX 4096u
#define HP_LOG_META_VALUE_MAX (HP_MAX_STRING - HP_LOG_META_KEY_MAX)
int hp_log_marker(uint64_t kind, const char *label, size_t len);
int hp_log_meta(const char *key, size_t key_len, const char *value, size_t value_len);

/* The most recent RSS reading in bytes (0 before the first). Any thread. */
uint64_t hp_log_last_rss(void);

#endif /* HP_LOG_H */
