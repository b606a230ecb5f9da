// SPDX-License-Identifier: MIT
/* Reading the Python stack of the current thread from inside an allocator hook.
 *
 * The public frame API creates frame objects, which allocate and so re-enter the hooks; this file
 * walks CPython's internal interpreter frames instead (guarded per version, 3.11 to 3.15) and
 * never creates an object, raises or drops a reference. It is the only engine file that reads
 * interpreter structures (and so the only one with CPython's internal headers): the rest of the
 * engine sees a code object as an opaque pointer. */
#ifndef HP_FRAMES_H
#define HP_FRAMES_H

#include <stddef.h>
#include <stdint.h>

/* One frame as found on the stack: its code object and instruction offset (code units). */
typedef struct {
    void *code;
    int lasti;
} hp_rawframe_t;

/* 1 if the calling thread holds the GIL (so its frames may be walked). Hook-safe. */
int hp_frames_have_gil_no_py(void);

/* Fills `out` with at most `max` frames of the calling thread, innermost first, skipping frames
 * that have not started and C-stack shim frames. Returns the count; *truncated is set to 1 if the
 * stack was deeper than `max`. Call only with the GIL held. Hook-safe. */
int hp_frames_walk_no_py(hp_rawframe_t *out, int max, int *truncated);

/* Writes the code object's filename and qualified name as UTF-8 into `buf` (capacity `cap`, both
 * cut to fit), returning their lengths in *file_len and *func_len (file at buf, function right
 * after it) and, in *file_key and *func_key, the addresses of the code object's own str objects
 * (stable keys for interning the names: the code object keeps them alive). Takes a reference to
 * the code object so its address cannot be reused while the profiler's tables remember it.
 * Hook-safe (an incref allocates nothing). */
void hp_frames_describe_no_py(void *code, char *buf, size_t cap, size_t *file_len, size_t *func_len,
                              const void **file_key, const void **func_key);

/* The line number of instruction offset `lasti` in `code` (0 if unknown). Hook-safe. */
int hp_frames_line_no_py(void *code, int lasti);

/* Drops the reference taken by hp_frames_describe_no_py. Needs the GIL; never call from a hook. */
void hp_frames_release(void *code);

#endif /* HP_FRAMES_H */
