// SPDX-License-Identifier: MIT
/* Stack interning (see hp_stacks.h): code object -> names, (code, instruction) -> frame,
 * frames -> stack, each new one written to the log as it is defined. */
#include "hp_stacks.h"

#include <stdlib.h>

#include "hp_common.h"
#include "hp_frames.h"
#include "hp_intern.h"
#include "hp_log.h"

/* Initial table sizes (they grow): a typical notebook profile has a few thousand frames. */
#define INITIAL_NAMES 1024u
#define INITIAL_FRAMES 4096u
#define INITIAL_CODE_ENTRIES 256u
/* Room for a code object's filename and qualified name, cut to fit (half each at most for the
 * filename). */
#define NAME_BUFFER 8192u

/* A code object the run holds a reference to, with the ids of its strings. */
struct hp_code_entry {
    void *code;
    uint32_t file_id;
    uint32_t func_id;
};
typedef struct hp_code_entry code_entry_t;

/* Everything here: the hp_log lock (hp_stacks.h). */
static struct {
    hp_map_t strings;             /* (str object, 0) -> string id */
    hp_map_t codes;               /* (code object, 0) -> index + 1 into code_entries */
    hp_map_t frames_by_pc;        /* (code object, lasti) -> frame id */
    hp_map_t frames_by_line;      /* (code index, line) -> frame id */
    hp_stacktab_t stacks;
    code_entry_t *code_entries;
    size_t n_codes, cap_codes;
    uint32_t n_strings, n_frames, n_stacks;
    uint64_t truncated_stacks;
    uint32_t max_frames;
    hp_rawframe_t raw[HP_MAX_FRAMES_LIMIT];
    uint32_t frame_ids[HP_MAX_FRAMES_LIMIT];
    char text[NAME_BUFFER];
} t;

static void free_tables(void) {
    hp_map_fini(&t.strings);
    hp_map_fini(&t.codes);
    hp_map_fini(&t.frames_by_pc);
    hp_map_fini(&t.frames_by_line);
    hp_stacktab_fini(&t.stacks);
}

int hp_stacks_alloc(void) {
    if (hp_map_init(&t.strings, INITIAL_NAMES) != HP_OK || hp_map_init(&t.codes, INITIAL_NAMES) != HP_OK ||
        hp_map_init(&t.frames_by_pc, INITIAL_FRAMES) != HP_OK ||
        hp_map_init(&t.frames_by_line, INITIAL_FRAMES) != HP_OK ||
        hp_stacktab_init(&t.stacks, INITIAL_FRAMES) != HP_OK) {
        free_tables();
        return HP_ENOMEM;
    }
    return HP_OK;
}

void hp_stacks_reset_unlocked(uint32_t max_frames) {
    t.code_entries = NULL;
    t.n_codes = t.cap_codes = 0;
    t.n_strings = t.n_frames = t.n_stacks = 0;
    t.truncated_stacks = 0;
    t.max_frames = max_frames;
}

void hp_stacks_counters_unlocked(hp_counters_t *c) {
    c->stacks = t.n_stacks;
    c->frames = t.n_frames;
    c->truncated_stacks = t.truncated_stacks;
}

void hp_stacks_free_unlocked(hp_stacks_codes_t *codes) {
    codes->entries = t.code_entries;
    codes->n = t.n_codes;
    t.code_entries = NULL;
    t.n_codes = t.cap_codes = 0;
    free_tables();
}

void hp_stacks_release(hp_stacks_codes_t *codes) {
    for (size_t i = 0; i < codes->n; i++) {
        hp_frames_release(codes->entries[i].code);
    }
    free(codes->entries);
    codes->entries = NULL;
    codes->n = 0;
}

static uint32_t intern_string(const void *key, const char *text, size_t len, int *err) {
    uint32_t id = hp_map_get(&t.strings, (uintptr_t)key, 0);
    if (id != 0) {
        return id;
    }
    id = ++t.n_strings;
    if (hp_map_put(&t.strings, (uintptr_t)key, 0, id) != HP_OK) {
        t.n_strings--;
        *err = HP_ENOMEM;
        return 0;
    }
    if (hp_log_string_unlocked(id, text, len) != HP_OK) {
        *err = HP_EIO;
    }
    return id;
}

static code_entry_t *intern_code(void *code, int *err) {
    uint32_t index = hp_map_get(&t.codes, (uintptr_t)code, 0);
    if (index != 0) {
        return &t.code_entries[index - 1];
    }
    if (t.n_codes == t.cap_codes) {
        size_t cap = t.cap_codes ? t.cap_codes * 2 : INITIAL_CODE_ENTRIES;
        code_entry_t *grown = realloc(t.code_entries, cap * sizeof(*grown));
        if (grown == NULL) {
            *err = HP_ENOMEM;
            return NULL;
        }
        t.code_entries = grown;
        t.cap_codes = cap;
    }
    if (hp_map_put(&t.codes, (uintptr_t)code, 0, (uint32_t)t.n_codes + 1) != HP_OK) {
        *err = HP_ENOMEM;
        return NULL;
    }
    size_t file_len, func_len;
    const void *file_key, *func_key;
    hp_frames_describe_no_py(code, t.text, sizeof(t.text), &file_len, &func_len, &file_key,
                             &func_key); /* increfs */
    code_entry_t *e = &t.code_entries[t.n_codes++];
    e->code = code;
    e->file_id = intern_string(file_key, t.text, file_len, err);
    e->func_id = intern_string(func_key, t.text + file_len, func_len, err);
    return e;
}

static uint32_t intern_frame(const hp_rawframe_t *raw, int *err) {
    uint32_t id = hp_map_get(&t.frames_by_pc, (uintptr_t)raw->code, (uint64_t)(int64_t)raw->lasti);
    if (id != 0) {
        return id;
    }
    code_entry_t *code = intern_code(raw->code, err);
    if (code == NULL) {
        return 0;
    }
    uint64_t code_index = (uint64_t)(code - t.code_entries);
    int line = hp_frames_line_no_py(raw->code, raw->lasti);
    id = hp_map_get(&t.frames_by_line, code_index, (uint64_t)line);
    if (id == 0) {
        id = ++t.n_frames;
        if (hp_map_put(&t.frames_by_line, code_index, (uint64_t)line, id) != HP_OK) {
            t.n_frames--;
            *err = HP_ENOMEM;
            return 0;
        }
        uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_FRAME_MAX);
        if (p == NULL) {
            *err = HP_EIO;
            return 0;
        }
        hp_log_commit_unlocked(hp_record_frame(p, id, code->file_id, code->func_id, (uint64_t)line));
    }
    if (hp_map_put(&t.frames_by_pc, (uintptr_t)raw->code, (uint64_t)(int64_t)raw->lasti, id) != HP_OK) {
        *err = HP_ENOMEM; /* the frame is defined; only the shortcut is lost */
    }
    return id;
}

uint32_t hp_stacks_current_unlocked(int *err) {
    int truncated = 0;
    int depth = hp_frames_walk_no_py(t.raw, (int)t.max_frames, &truncated);
    if (depth == 0) {
        return 0;
    }
    for (int i = 0; i < depth; i++) {
        t.frame_ids[i] = intern_frame(&t.raw[i], err);
        if (t.frame_ids[i] == 0) {
            return 0;
        }
    }
    uint64_t hash = hp_stack_hash(t.frame_ids, (uint32_t)depth);
    uint32_t id = hp_stacktab_get(&t.stacks, t.frame_ids, (uint32_t)depth, hash);
    if (id != 0) {
        return id;
    }
    id = t.n_stacks + 1;
    if (hp_stacktab_put(&t.stacks, t.frame_ids, (uint32_t)depth, hash, id) != HP_OK) {
        *err = HP_ENOMEM;
        return 0;
    }
    t.n_stacks++;
    t.truncated_stacks += (uint64_t)truncated;
    uint8_t *p = hp_log_reserve_unlocked(HP_RECORD_STACK_MAX(depth));
    if (p == NULL) {
        *err = HP_EIO;
        return 0;
    }
    hp_log_commit_unlocked(hp_record_stack(p, id, t.frame_ids, (uint32_t)depth));
    return id;
}
