// SPDX-License-Identifier: MIT
/* The digest's tables: the log's strings, frames, stacks, markers and META pairs as defined so
 * far, and the queries of hp_digest.h that read them. */
#ifndef HP_TABLES_H
#define HP_TABLES_H

#include "hp_digest_impl.h"

/* add_text appends text to the pool and gives its offset; add_string defines string `id`; both
 * return 0 or -1 (out of memory). add_stack defines stack `id` from frame ids already checked by
 * the decoder: HP_DEC_OK, or HP_DEC_ENOMEM / HP_DEC_ELIMIT with *err filled. */
int hp_tables_add_text(hp_digest_t *d, const uint8_t *s, uint64_t len, uint64_t *off);

int hp_tables_add_string(hp_digest_t *d, uint64_t id, const uint8_t *s, uint64_t len);

int hp_tables_add_stack(hp_digest_t *d, uint64_t id, const uint64_t *fids, uint64_t depth,
                     hp_dec_error_t *err);

#endif /* HP_TABLES_H */
