// SPDX-License-Identifier: MIT
/* The digest's tables and their queries (see hp_tables.h). */
#include "hp_tables.h"

#include <string.h>

#include "hp_dalloc.h"

int hp_tables_add_text(hp_digest_t *d, const uint8_t *s, uint64_t len, uint64_t *off) {
    if (len > SIZE_MAX - d->text_len - 1 || HP_GROW(d->text, d->text_cap, d->text_len + len + 1, 0)) {
        return -1;
    }
    *off = d->text_len;
    if (len) {
        memcpy(d->text + d->text_len, s, (size_t)len);
    }
    d->text_len += (size_t)len;
    d->text[d->text_len++] = '\0';   /* keeps every text NUL-terminated for convenience */
    return 0;
}

int hp_tables_add_string(hp_digest_t *d, uint64_t id, const uint8_t *s, uint64_t len) {
    if (id >= SIZE_MAX / 8 ||
        hp_dalloc_grow2((void **)&d->str_off, (void **)&d->str_len, &d->str_cap, (size_t)id + 1,
              sizeof(uint64_t), sizeof(uint64_t)) != 0 ||
        hp_tables_add_text(d, s, len, &d->str_off[id]) != 0) {
        return -1;
    }
    d->str_len[id] = len;
    return 0;
}

int hp_tables_add_stack(hp_digest_t *d, uint64_t id, const uint64_t *fids, uint64_t depth,
                     hp_dec_error_t *err) {
    if (id >= UINT32_MAX - 1) {
        return hp_dec_fail(err, HP_DEC_ELIMIT, d->st.offset, "more than 2**32-2 stacks");
    }
    if (hp_dalloc_grow2((void **)&d->stack_off, (void **)&d->stack_depth, &d->stack_cap, (size_t)id + 1,
              sizeof(uint64_t), sizeof(uint32_t)) != 0 ||
        HP_GROW(d->sites, d->site_cap, (size_t)id + 1, 1) != 0 ||
        HP_GROW(d->dirty, d->dirty_cap, (size_t)id + 1, 0) != 0 ||
        d->fpool_len > SIZE_MAX - depth ||
        HP_GROW(d->fpool, d->fpool_cap, d->fpool_len + (size_t)depth, 0) != 0) {
        return hp_dalloc_oom(err);
    }
    for (uint64_t i = 0; i < depth; i++) {
        if (fids[i] > UINT32_MAX) {
            return hp_dec_fail(err, HP_DEC_ELIMIT, d->st.offset, "more than 2**32-1 frames");
        }
        d->fpool[d->fpool_len + i] = (uint32_t)fids[i];
    }
    d->stack_off[id] = d->fpool_len;
    d->stack_depth[id] = (uint32_t)depth;
    d->fpool_len += (size_t)depth;
    return HP_DEC_OK;
}

const char *hp_digest_string(const hp_digest_t *d, uint64_t id, size_t *len) {
    if (id == 0 || id > d->st.n_strings) {
        *len = 0;
        return "";
    }
    *len = (size_t)d->str_len[id];
    return d->text + d->str_off[id];
}

void hp_digest_frame(const hp_digest_t *d, uint64_t id, uint64_t *filename_id,
                     uint64_t *function_id, uint64_t *line) {
    if (id == 0 || id > d->st.n_frames) {
        *filename_id = *function_id = *line = 0;
        return;
    }
    *filename_id = d->frames[id].file;
    *function_id = d->frames[id].func;
    *line = d->frames[id].line;
}

const uint32_t *hp_digest_stack(const hp_digest_t *d, uint64_t id, size_t *depth) {
    if (id == 0 || id > d->st.n_stacks) {
        *depth = 0;
        return d->fpool;
    }
    *depth = d->stack_depth[id];
    return d->fpool + d->stack_off[id];
}

void hp_digest_marker(const hp_digest_t *d, uint64_t i, uint64_t *time_ns, uint64_t *kind,
                      const char **label, size_t *len) {
    const hp_dmarker_t *m = &d->markers[i];
    *time_ns = m->time;
    *kind = m->kind;
    *label = d->text + m->off;
    *len = (size_t)m->len;
}

void hp_digest_meta(const hp_digest_t *d, uint64_t i, const char **key, size_t *key_len,
                    const char **value, size_t *value_len) {
    const hp_dmeta_t *m = &d->meta[i];
    *key = d->text + m->koff;
    *key_len = (size_t)m->klen;
    *value = d->text + m->voff;
    *value_len = (size_t)m->vlen;
}
