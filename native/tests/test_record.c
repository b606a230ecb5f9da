// SPDX-License-Identifier: MIT
/* The writer's record encoders (hp_record.h) read back by the C decoder (digest/hp_decode.h):
 * one log with every record kind, each within its HP_RECORD_*_MAX bound, decoded field by field,
 * then cut at every byte (never complete, never an error). */
#include <stdint.h>
#include <string.h>

#include "../hp_record.h"
#include "hp_decode.h"
#include "hp_test.h"

static uint8_t log_buf[1 << 16];

int main(void) {
    const uint64_t thresholds[] = {1, 128};
    const double probabilities[] = {0.01, 1.0};
    hp_log_settings_t set = {"3.11.7", HP_MODE_SIZES, 0, 2, thresholds, probabilities, 16, 99};
    size_t n = hp_record_header(log_buf, &set, 4242, 1000, 2000);
    HP_CHECK(n <= HP_RECORD_HEADER_MAX);
    size_t header_len = n;
    const uint32_t frames[] = {1, 1};
    struct {
        size_t len, max;
    } r[16];
    int k = 0;
#define ADD(call, bound)                      \
    do {                                      \
        r[k].len = (call);                    \
        r[k].max = (bound);                   \
        n += r[k++].len;                      \
    } while (0)
    ADD(hp_record_string(log_buf + n, 1, "file.py", 7), HP_RECORD_STRING_MAX(7));
    ADD(hp_record_string(log_buf + n, 2, "", 0), HP_RECORD_STRING_MAX(0));
    ADD(hp_record_frame(log_buf + n, 1, 1, 2, 77), HP_RECORD_FRAME_MAX);
    ADD(hp_record_stack(log_buf + n, 1, NULL, 0), HP_RECORD_STACK_MAX(0));
    ADD(hp_record_stack(log_buf + n, 2, frames, 2), HP_RECORD_STACK_MAX(2));
    ADD(hp_record_thread(log_buf + n, 1, 31337), HP_RECORD_THREAD_MAX);
    ADD(hp_record_alloc(log_buf + n, UINT64_MAX / 4, HP_DOMAIN_NUMPY, 1, 2, UINT64_MAX, UINT64_MAX - 15),
        HP_RECORD_ALLOC_MAX);
    ADD(hp_record_free(log_buf + n, 5, UINT64_MAX - 15), HP_RECORD_FREE_MAX);
    ADD(hp_record_rss(log_buf + n, 0, 123456789), HP_RECORD_RSS_MAX);
    ADD(hp_record_marker(log_buf + n, 1, HP_MARKER_CELL_START, "In [1]", 6), HP_RECORD_MARKER_MAX(6));
    ADD(hp_record_meta(log_buf + n, "numpy_hooked", 12, "1", 1), HP_RECORD_META_MAX(12, 1));
    hp_counters_t c = {0};
    c.samples = 1;
    c.frees_recorded = 1;
    c.truncated_stacks = UINT64_MAX;
    ADD(hp_record_trailer(log_buf + n, 3, &c), HP_RECORD_TRAILER_MAX);
#undef ADD
    for (int i = 0; i < k; i++) {
        HP_CHECKF(r[i].len <= r[i].max, "record %d: %zu bytes, bound %zu", i, r[i].len, r[i].max);
    }

    hp_dec_header_t h;
    hp_dec_error_t err;
    HP_CHECK(hp_dec_header(log_buf, n, &h, &err) == HP_DEC_OK);
    HP_CHECK(h.header_size == header_len && h.major == HP_FORMAT_MAJOR && h.minor == HP_FORMAT_MINOR);
    HP_CHECK(h.pid == 4242 && h.mode == HP_MODE_SIZES && h.rate == 0 && h.n_buckets == 2);
    HP_CHECK(h.thresholds[1] == 128 && h.probabilities[0] == 0.01 && h.probabilities[1] == 1.0);
    HP_CHECK(h.max_frames == 16 && h.seed == 99 && h.start_ns == 1000 && h.start_wall_ns == 2000);
    HP_CHECK(h.python_version_len == 6 &&
             memcmp(log_buf + h.python_version_off, "3.11.7", 6) == 0);

    hp_dec_state_t st;
    hp_dec_state_init(&st, &h, 1);
    size_t p = header_len;
    hp_dec_record_t rec[16];
    int got = 0;
    while (p < n && got < 16) {
        size_t used = 0;
        int rc = hp_dec_record(&st, log_buf + p, n - p, &rec[got], &used, &err);
        HP_CHECKF(rc == HP_DEC_OK, "record %d: %d %s", got, rc, err.message);
        if (rc != HP_DEC_OK) {
            break;
        }
        HP_CHECKF(used == r[got].len, "record %d: decoded %zu of %zu bytes", got, used, r[got].len);
        p += used;
        got++;
    }
    HP_CHECK(got == k && st.done);
    if (got == k) {
        HP_CHECK(rec[0].tag == HP_TAG_STRING && rec[0].text_len == 7 && memcmp(rec[0].text, "file.py", 7) == 0);
        HP_CHECK(rec[2].tag == HP_TAG_FRAME && rec[2].filename_id == 1 && rec[2].function_id == 2 && rec[2].line == 77);
        HP_CHECK(rec[3].tag == HP_TAG_STACK && rec[3].depth == 0);
        HP_CHECK(rec[4].tag == HP_TAG_STACK && rec[4].depth == 2);
        HP_CHECK(rec[5].tag == HP_TAG_THREAD && rec[5].id == 1 && rec[5].native_id == 31337);
        HP_CHECK(rec[6].tag == HP_TAG_ALLOC && rec[6].dt == UINT64_MAX / 4 && rec[6].domain == HP_DOMAIN_NUMPY &&
                 rec[6].thread == 1 && rec[6].stack_id == 2 && rec[6].size == UINT64_MAX &&
                 rec[6].address == UINT64_MAX - 15);
        HP_CHECK(rec[7].tag == HP_TAG_FREE && rec[7].address == UINT64_MAX - 15);
        HP_CHECK(rec[8].tag == HP_TAG_RSS && rec[8].size == 123456789);
        HP_CHECK(rec[9].tag == HP_TAG_MARKER && rec[9].kind == HP_MARKER_CELL_START && rec[9].text_len == 6);
        HP_CHECK(rec[10].tag == HP_TAG_META && rec[10].text_len == 12 && rec[10].value_len == 1 &&
                 rec[10].value[0] == '1');
        HP_CHECK(rec[11].tag == HP_TAG_TRAILER && rec[11].counters[2] == 1 &&
                 rec[11].counters[HP_N_COUNTERS - 1] == UINT64_MAX);
    }

    /* Cut at every byte past the header: the records before the cut decode, then "more". */
    for (size_t cut = header_len; cut < n; cut++) {
        hp_dec_state_init(&st, &h, 0);
        size_t q = header_len;
        int rc = HP_DEC_OK;
        while (rc == HP_DEC_OK && q < cut) {
            hp_dec_record_t one;
            size_t used = 0;
            rc = hp_dec_record(&st, log_buf + q, cut - q, &one, &used, &err);
            q += used;
        }
        HP_CHECKF((rc == HP_DEC_MORE || (rc == HP_DEC_OK && q == cut)) && !st.done, "cut at %zu: %d", cut, rc);
    }
    return hp_test_done("record");
}
