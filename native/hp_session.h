// SPDX-License-Identifier: MIT
/* The profiling session: starting and stopping a profile or a stats run, installing and
 * removing the hooks (hp_hooks.h) around it, and the fork handlers.
 *
 * Owns:
 * - whether a forked child still holds the parent's session (`orphaned`): GIL, and the fork
 *   handler in the child;
 * - the extra restore callback (hp_session_on_uninstall): written once at module init, read with
 *   the GIL.
 * The state it switches lives with its owners: hp_hooks_kind and the installed allocators
 * (hp_hooks.h), `recording`, the live set and the counters (hp_events.h), the interning tables
 * (hp_stacks.h), the file (hp_log.h), the sampler settings (hp_sampler.h).
 *
 * Every function needs the GIL and none is hook-safe. No Python object is touched here. */
#ifndef HP_SESSION_H
#define HP_SESSION_H

#include "hp_record.h"
#include "hp_stats.h"

/* Module init: registers fork handlers and the sampler's thread key. Returns 0 or HP_ETHREAD. */
int hp_session_init(void);

/* Registers what else to restore wherever the hooks are taken out (stop, stats stop, a forked
 * child's restart), before our allocators are removed. The binding registers NumPy's handler
 * restore here, so the session need not know NumPy. Call once at module init. */
void hp_session_on_uninstall(void (*restore)(void));

/* Starts a profile: opens the log, installs the hooks. 0, or HP_ESTATE if a profile or stats run
 * is active, HP_EINVAL for bad settings, HP_EOPEN (errno set), HP_ENOMEM, HP_ETHREAD. */
int hp_session_start_profile(const char *path, int exclusive, const hp_log_settings_t *settings);

/* Stops the profile: restores the allocators, writes the trailer, closes the file, releases the
 * tables. Fills *counters (if not NULL). 0, HP_ESTATE if none runs, HP_EIO if a write failed
 * (the file is closed and readable up to what was written). */
int hp_session_stop_profile(hp_counters_t *counters);

/* 1 while a profile runs (0 in a forked child, which stops profiling at fork). */
int hp_session_profiling(void);

/* The running profile's counters so far. */
void hp_session_counters(hp_counters_t *counters);

/* Stats mode: install counting hooks / remove them and read the histogram. 0 or HP_ESTATE. */
int hp_session_start_stats(void);
int hp_session_stop_stats(hp_stats_result_t *out);
int hp_session_stats_running(void);

#endif /* HP_SESSION_H */
