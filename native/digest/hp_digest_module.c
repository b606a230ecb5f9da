// SPDX-License-Identifier: MIT
/* heapprof_nb._digest: the Python face of the digest (hp_digest.h). The only file of the digest
 * that touches the Python C API. One type, Digester, wraps an hp_digest_t; every method is a
 * short conversion around one hp_digest call, and errors go through one mapping function.
 *
 * Threads: feed_fd() runs the feed loop (hp_feed.c) with the GIL released, one chunk at a time,
 * the digest's lock held around each chunk so queries from other threads interleave with a long
 * digest. progress() and cancel() touch only atomics and never wait. Bulk results (series, per-stack
 * sums) come back as bytes of packed native arrays that the Python side wraps with
 * array.array, so no per-element Python object is made here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>
#include <string.h>

#include "hp_decode.h"
#include "hp_digest.h"
#include "hp_feed.h"

typedef struct {
    PyObject_HEAD
    hp_feeder_t feed;             /* the digest, its lock and its feed state (hp_feed.h) */
    int ready;                    /* hp_feeder_init succeeded */
} DigesterObject;

static PyTypeObject Digester_Type;

/* ------------------------------------------------------------------------------------------ */
/* Errors: the one mapping from hp_dec_error_t to a Python exception. */

static PyObject *set_error(const hp_dec_error_t *err) {
    switch (err->code) {
    case HP_DEC_ENOMEM:
        return PyErr_NoMemory();
    case HP_DEC_EIO:
        errno = err->sys_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    case HP_DEC_ESTATE:
        PyErr_SetString(PyExc_RuntimeError, err->message);
        return NULL;
    default: {
        PyObject *exc = PyExc_ValueError;
        PyObject *mod = PyImport_ImportModule("heapprof_nb.errors");
        PyObject *cls = NULL;
        if (mod != NULL) {
            cls = PyObject_GetAttrString(mod, "ProfileFormatError");
            Py_DECREF(mod);
        }
        if (cls != NULL) {
            exc = cls;
        }
        PyErr_Clear();
        PyErr_Format(exc, "%s at byte offset %llu", err->message,
                     (unsigned long long)err->offset);
        Py_XDECREF(cls);
        return NULL;
    }
    }
}

/* Takes the object's lock; waits without the GIL if another thread has it. */
static void lock_obj(DigesterObject *self) {
    if (!hp_feeder_trylock(&self->feed)) {
        Py_BEGIN_ALLOW_THREADS
        hp_feeder_lock(&self->feed);
        Py_END_ALLOW_THREADS
    }
}

static void unlock_obj(DigesterObject *self) {
    hp_feeder_unlock(&self->feed);
}

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle */

static PyObject *Digester_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    DigesterObject *self = (DigesterObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (hp_feeder_init(&self->feed) != HP_DEC_OK) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->ready = 1;
    return (PyObject *)self;
}

static int Digester_init(DigesterObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"bucket_ns", "max_buckets", "precision", "index_limit", "strict",
                             NULL};
    hp_digest_options_t opt;
    hp_digest_options_default(&opt);
    unsigned long long bucket_ns = 0, index_limit = opt.index_limit;
    unsigned int max_buckets = opt.max_buckets;
    double precision = opt.precision;
    int strict = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$KIdKp", kwlist, &bucket_ns, &max_buckets,
                                     &precision, &index_limit, &strict)) {
        return -1;
    }
    if (self->feed.d != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Digester.__init__ called twice");
        return -1;
    }
    opt.bucket_ns = bucket_ns;
    opt.max_buckets = max_buckets;
    opt.precision = precision;
    opt.index_limit = index_limit;
    opt.strict = strict;
    hp_dec_error_t err;
    self->feed.d = hp_digest_new(&opt, &err);
    if (self->feed.d == NULL) {
        if (err.code == HP_DEC_ESTATE) {
            PyErr_SetString(PyExc_ValueError, err.message);
        }
        else {
            set_error(&err);
        }
        return -1;
    }
    return 0;
}

static void Digester_dealloc(DigesterObject *self) {
    if (self->ready) {
        hp_feeder_fini(&self->feed);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_ready(DigesterObject *self) {
    if (self->feed.d == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Digester not initialised");
        return -1;
    }
    return 0;
}

/* The digest's facts, read under its lock; -1 with an exception if the object is not ready. */
static int read_info(DigesterObject *self, hp_digest_info_t *in) {
    if (check_ready(self) < 0) {
        return -1;
    }
    lock_obj(self);
    hp_digest_info(self->feed.d, in);
    unlock_obj(self);
    return 0;
}

static int begin_feed(DigesterObject *self) {
    if (check_ready(self) < 0) {
        return -1;
    }
    if (hp_feeder_begin(&self->feed) != HP_DEC_OK) {
        PyErr_SetString(PyExc_RuntimeError, "another thread is feeding this digest");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Feeding */

PyDoc_STRVAR(feed_fd_doc,
"feed_fd(fd) -> bool\n\n"
"Read the file from where the last feed stopped to its current end and digest every complete\n"
"record, without the GIL. Returns True at end of file, False if cancel() stopped it. Raises\n"
"ProfileFormatError for a corrupt log (the digest keeps what it read before) or OSError.");

static PyObject *Digester_feed_fd(DigesterObject *self, PyObject *arg) {
    int fd = PyObject_AsFileDescriptor(arg);
    if (fd < 0 || begin_feed(self) < 0) {
        return NULL;
    }
    hp_dec_error_t err;
    int rc, eof;
    Py_BEGIN_ALLOW_THREADS
    rc = hp_feeder_fd(&self->feed, fd, &eof, &err);
    Py_END_ALLOW_THREADS
    if (rc != HP_DEC_OK) {
        return set_error(&err);
    }
    return PyBool_FromLong(eof);
}

PyDoc_STRVAR(feed_doc,
"feed(data) -> None\n\n"
"Digest bytes that follow what was fed before (for logs held in memory, and fuzzing).");

static PyObject *Digester_feed(DigesterObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (begin_feed(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    hp_dec_error_t err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = hp_feeder_bytes(&self->feed, view.buf, (size_t)view.len, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (rc != HP_DEC_OK) {
        return set_error(&err);
    }
    Py_RETURN_NONE;
}

static PyObject *Digester_cancel(DigesterObject *self, PyObject *unused) {
    hp_feeder_set_cancel(&self->feed, 1);
    Py_RETURN_NONE;
}

static PyObject *Digester_clear_cancel(DigesterObject *self, PyObject *unused) {
    hp_feeder_set_cancel(&self->feed, 0);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(progress_doc,
"progress() -> (consumed, received, target)\n\n"
"Bytes digested, bytes read, and the size of the file when the feed began (at least received).\n"
"Lock-free: safe to call while another thread feeds.");

static PyObject *Digester_progress(DigesterObject *self, PyObject *unused) {
    return Py_BuildValue("(KKK)", (unsigned long long)atomic_load(&self->feed.consumed),
                         (unsigned long long)atomic_load(&self->feed.received),
                         (unsigned long long)atomic_load(&self->feed.target));
}

/* ------------------------------------------------------------------------------------------ */
/* Tables and facts */

static int dict_set(PyObject *dict, const char *key, PyObject *value) {
    if (value == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *Digester_info(DigesterObject *self, PyObject *unused) {
    hp_digest_info_t in;
    if (read_info(self, &in) < 0) {
        return NULL;
    }
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
#define U(name) PyLong_FromUnsignedLongLong((unsigned long long)in.name)
    if (dict_set(d, "have_header", PyBool_FromLong(in.have_header)) ||
        dict_set(d, "complete", PyBool_FromLong(in.complete)) ||
        dict_set(d, "final", PyBool_FromLong(in.final)) ||
        dict_set(d, "failed", PyBool_FromLong(in.failed)) ||
        dict_set(d, "has_index", PyBool_FromLong(in.has_index)) ||
        dict_set(d, "cancelled", PyBool_FromLong(atomic_load(&self->feed.cancelled))) ||
        dict_set(d, "offset", U(offset)) || dict_set(d, "records", U(records)) ||
        dict_set(d, "end_ns", U(end_ns)) || dict_set(d, "bucket_ns", U(bucket_ns)) ||
        dict_set(d, "n_buckets", U(n_buckets)) || dict_set(d, "n_strings", U(n_strings)) ||
        dict_set(d, "n_frames", U(n_frames)) || dict_set(d, "n_stacks", U(n_stacks)) ||
        dict_set(d, "n_threads", U(n_threads)) || dict_set(d, "n_markers", U(n_markers)) ||
        dict_set(d, "n_meta", U(n_meta)) || dict_set(d, "allocs", U(allocs)) ||
        dict_set(d, "frees", U(frees)) || dict_set(d, "unmatched_frees", U(unmatched_frees)) ||
        dict_set(d, "reused_addresses", U(reused_addresses)) ||
        dict_set(d, "live_samples", U(live_samples)) ||
        dict_set(d, "live_bytes", PyFloat_FromDouble(in.live_bytes)) ||
        dict_set(d, "live_objects", PyFloat_FromDouble(in.live_objects)) ||
        dict_set(d, "live_variance", PyFloat_FromDouble(in.live_variance)) ||
        dict_set(d, "index_bytes", U(index_bytes)) ||
        dict_set(d, "memory_bytes", U(memory_bytes)) ||
        dict_set(d, "pending", PyLong_FromUnsignedLongLong(
                                   (unsigned long long)(atomic_load(&self->feed.received) -
                                                        atomic_load(&self->feed.consumed))))) {
        Py_DECREF(d);
        return NULL;
    }
#undef U
    return d;
}

static PyObject *Digester_header(DigesterObject *self, PyObject *unused) {
    if (check_ready(self) < 0) {
        return NULL;
    }
    lock_obj(self);
    const uint8_t *hb;
    const hp_dec_header_t *h = hp_digest_header(self->feed.d, &hb);
    if (h == NULL) {
        unlock_obj(self);
        Py_RETURN_NONE;
    }
    hp_dec_header_t hc = *h;
    PyObject *pyver = PyUnicode_DecodeUTF8((const char *)hb + hc.python_version_off,
                                           (Py_ssize_t)hc.python_version_len, "replace");
    PyObject *raw = PyBytes_FromStringAndSize((const char *)hb, (Py_ssize_t)hc.header_size);
    unlock_obj(self);
    PyObject *buckets = PyList_New(hc.n_buckets);
    PyObject *d = PyDict_New();
    if (pyver == NULL || raw == NULL || buckets == NULL || d == NULL) {
        goto fail;
    }
    for (uint32_t i = 0; i < hc.n_buckets; i++) {
        PyObject *t = Py_BuildValue("(Kd)", (unsigned long long)hc.thresholds[i],
                                    hc.probabilities[i]);
        if (t == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(buckets, i, t);
    }
#define U(v) PyLong_FromUnsignedLongLong((unsigned long long)(v))
    if (dict_set(d, "major", U(hc.major)) || dict_set(d, "minor", U(hc.minor)) ||
        dict_set(d, "pid", U(hc.pid)) || PyDict_SetItemString(d, "python_version", pyver) ||
        dict_set(d, "mode", U(hc.mode)) || dict_set(d, "rate", U(hc.rate)) ||
        PyDict_SetItemString(d, "buckets", buckets) ||
        dict_set(d, "max_frames", U(hc.max_frames)) || dict_set(d, "seed", U(hc.seed)) ||
        dict_set(d, "start_ns", U(hc.start_ns)) ||
        dict_set(d, "start_wall_ns", U(hc.start_wall_ns)) ||
        dict_set(d, "header_size", U(hc.header_size)) || PyDict_SetItemString(d, "raw", raw)) {
        goto fail;
    }
#undef U
    Py_DECREF(pyver);
    Py_DECREF(raw);
    Py_DECREF(buckets);
    return d;
fail:
    Py_XDECREF(pyver);
    Py_XDECREF(raw);
    Py_XDECREF(buckets);
    Py_XDECREF(d);
    return NULL;
}

/* One table of the digest as a Python list of its entries with ids start, start+1, ...: the
 * definition tables (strings, frames, stacks) number their entries from 1, the file-order tables
 * (markers, META pairs) from 0, which is also `start`'s default. `count` says how many entries
 * the table holds, `item` builds one (a new reference, or NULL with an exception set). Both run
 * under the object lock. */
typedef uint64_t (*table_count_fn)(const hp_digest_info_t *in);
typedef PyObject *(*table_item_fn)(hp_digest_t *d, uint64_t id);

static PyObject *table_list(DigesterObject *self, PyObject *args, uint64_t first_id,
                            table_count_fn count, table_item_fn item) {
    unsigned long long start = first_id;
    if (!PyArg_ParseTuple(args, "|K", &start) || check_ready(self) < 0) {
        return NULL;
    }
    if (start < first_id) {
        start = first_id;
    }
    lock_obj(self);
    hp_digest_info_t in;
    hp_digest_info(self->feed.d, &in);
    uint64_t end = count(&in) + first_id; /* one past the last id */
    uint64_t n = end > start ? end - start : 0;
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (uint64_t i = 0; list != NULL && i < n; i++) {
        PyObject *entry = item(self->feed.d, start + i);
        if (entry == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, entry);
    }
    unlock_obj(self);
    return list;
}

static uint64_t count_strings(const hp_digest_info_t *in) { return in->n_strings; }
static uint64_t count_frames(const hp_digest_info_t *in) { return in->n_frames; }
static uint64_t count_stacks(const hp_digest_info_t *in) { return in->n_stacks; }

static PyObject *string_item(hp_digest_t *d, uint64_t id) {
    size_t len;
    const char *s = hp_digest_string(d, id, &len);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "replace");
}

static PyObject *frame_item(hp_digest_t *d, uint64_t id) {
    uint64_t f, fn, line;
    hp_digest_frame(d, id, &f, &fn, &line);
    return Py_BuildValue("(KKK)", (unsigned long long)f, (unsigned long long)fn,
                         (unsigned long long)line);
}

static PyObject *stack_item(hp_digest_t *d, uint64_t id) {
    size_t depth;
    const uint32_t *f = hp_digest_stack(d, id, &depth);
    PyObject *t = PyTuple_New((Py_ssize_t)depth);
    for (size_t k = 0; t != NULL && k < depth; k++) {
        PyObject *v = PyLong_FromUnsignedLong(f[k]);
        if (v == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)k, v);
    }
    return t;
}

PyDoc_STRVAR(strings_doc, "strings(start=1) -> list[str]: strings with ids start, start+1, ...");

static PyObject *Digester_strings(DigesterObject *self, PyObject *args) {
    return table_list(self, args, 1, count_strings, string_item);
}

PyDoc_STRVAR(frames_doc,
"frames(start=1) -> list[tuple[int, int, int]]: (filename_id, function_id, line) by frame id");

static PyObject *Digester_frames(DigesterObject *self, PyObject *args) {
    return table_list(self, args, 1, count_frames, frame_item);
}

PyDoc_STRVAR(stacks_doc,
"stacks(start=1) -> list[tuple[int, ...]]: frame ids (leaf first) by stack id");

static PyObject *Digester_stacks(DigesterObject *self, PyObject *args) {
    return table_list(self, args, 1, count_stacks, stack_item);
}

PyDoc_STRVAR(stacks_packed_doc,
"stacks_packed(start=1) -> (offsets, frame_ids)\n\n"
"The stacks with ids start, start+1, ... as two packed arrays: offsets ('Q', one more than the\n"
"number of stacks) into frame_ids ('I', leaf first). Stack start+k is\n"
"frame_ids[offsets[k]:offsets[k+1]]. Cheaper than stacks() for many stacks.");

static PyObject *Digester_stacks_packed(DigesterObject *self, PyObject *args) {
    unsigned long long start = 1;
    if (!PyArg_ParseTuple(args, "|K", &start) || check_ready(self) < 0) {
        return NULL;
    }
    lock_obj(self);
    hp_digest_info_t in;
    hp_digest_info(self->feed.d, &in);
    if (start < 1) {
        start = 1;
    }
    uint64_t n = in.n_stacks >= start ? in.n_stacks - start + 1 : 0;
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t depth;
        hp_digest_stack(self->feed.d, start + i, &depth);
        total += depth;
    }
    PyObject *offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * 8));
    PyObject *ids = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(total * 4));
    if (offs != NULL && ids != NULL) {
        uint64_t *o = (uint64_t *)PyBytes_AS_STRING(offs);
        uint32_t *f = (uint32_t *)PyBytes_AS_STRING(ids);
        uint64_t k = 0;
        for (uint64_t i = 0; i < n; i++) {
            size_t depth;
            const uint32_t *src = hp_digest_stack(self->feed.d, start + i, &depth);
            o[i] = k;
            if (depth) {
                memcpy(f + k, src, depth * 4);
            }
            k += depth;
        }
        o[n] = k;
    }
    unlock_obj(self);
    if (offs == NULL || ids == NULL) {
        Py_XDECREF(offs);
        Py_XDECREF(ids);
        return NULL;
    }
    return Py_BuildValue("(NN)", offs, ids);
}

PyDoc_STRVAR(markers_doc,
"markers(start=0) -> list[tuple[int, int, str]]: (time_ns, kind, label) in file order");

static uint64_t count_markers(const hp_digest_info_t *in) { return in->n_markers; }

static PyObject *marker_item(hp_digest_t *d, uint64_t id) {
    uint64_t t, kind;
    const char *label;
    size_t len;
    hp_digest_marker(d, id, &t, &kind, &label, &len);
    return Py_BuildValue("(KKN)", (unsigned long long)t, (unsigned long long)kind,
                         PyUnicode_DecodeUTF8(label, (Py_ssize_t)len, "replace"));
}

static PyObject *Digester_markers(DigesterObject *self, PyObject *args) {
    return table_list(self, args, 0, count_markers, marker_item);
}

PyDoc_STRVAR(meta_doc, "meta(start=0) -> list[tuple[str, str]]: META pairs in file order");

static uint64_t count_meta(const hp_digest_info_t *in) { return in->n_meta; }

static PyObject *meta_item(hp_digest_t *d, uint64_t id) {
    const char *k, *v;
    size_t kl, vl;
    hp_digest_meta(d, id, &k, &kl, &v, &vl);
    return Py_BuildValue("(NN)", PyUnicode_DecodeUTF8(k, (Py_ssize_t)kl, "replace"),
                         PyUnicode_DecodeUTF8(v, (Py_ssize_t)vl, "replace"));
}

static PyObject *Digester_meta(DigesterObject *self, PyObject *args) {
    return table_list(self, args, 0, count_meta, meta_item);
}

PyDoc_STRVAR(trailer_doc, "trailer() -> tuple of the 8 TRAILER counters, or None without one");

static PyObject *Digester_trailer(DigesterObject *self, PyObject *unused) {
    hp_digest_info_t in;
    if (read_info(self, &in) < 0) {
        return NULL;
    }
    if (!in.complete) {
        Py_RETURN_NONE;
    }
    PyObject *t = PyTuple_New(HP_N_COUNTERS);
    for (int i = 0; t != NULL && i < HP_N_COUNTERS; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong((unsigned long long)in.trailer[i]);
        if (v == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

PyDoc_STRVAR(last_error_doc,
"last_error() -> str | None: the error that stopped the digest, with its byte offset");

static PyObject *Digester_last_error(DigesterObject *self, PyObject *unused) {
    if (check_ready(self) < 0) {
        return NULL;
    }
    lock_obj(self);
    const hp_dec_error_t *e = hp_digest_last_error(self->feed.d);
    PyObject *r = e ? PyUnicode_FromFormat("%s at byte offset %llu", e->message,
                                           (unsigned long long)e->offset)
                    : Py_NewRef(Py_None);
    unlock_obj(self);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* History, peak, window */

static PyObject *bytes_of(const void *p, size_t n) {
    return PyBytes_FromStringAndSize(p ? (const char *)p : "", (Py_ssize_t)n);
}

PyDoc_STRVAR(history_doc,
"history(points, top) -> (group, bucket_ns, time_ns, total, objects, variance, max,\n"
"                         max_time_ns, rss, top_ids, series)\n\n"
"At most `points` points; array fields are bytes of native uint64 ('Q') or double ('d'):\n"
"time_ns, max_time_ns 'Q'; total, objects, variance, max, rss 'd'; series 'd', n_top rows of\n"
"n_points (the live bytes of each of the `top` largest sites, 0 where folded). top_ids is a\n"
"tuple of stack ids.");

static PyObject *Digester_history(DigesterObject *self, PyObject *args) {
    unsigned long long points;
    unsigned int top;
    if (!PyArg_ParseTuple(args, "KI", &points, &top) || check_ready(self) < 0) {
        return NULL;
    }
    if (points == 0) {
        PyErr_SetString(PyExc_ValueError, "points must be at least 1");
        return NULL;
    }
    hp_history_t h;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    hp_feeder_lock(&self->feed);
    rc = hp_digest_history(self->feed.d, points, top, &h);
    hp_feeder_unlock(&self->feed);
    Py_END_ALLOW_THREADS
    if (rc != HP_DEC_OK) {
        return PyErr_NoMemory();
    }
    size_t np = (size_t)h.n_points;
    PyObject *top_ids = PyTuple_New(h.n_top);
    for (uint32_t i = 0; top_ids != NULL && i < h.n_top; i++) {
        PyObject *v = PyLong_FromUnsignedLong(h.top[i]);
        if (v == NULL) {
            Py_CLEAR(top_ids);
            break;
        }
        PyTuple_SET_ITEM(top_ids, i, v);
    }
    PyObject *r = NULL;
    if (top_ids != NULL) {
        r = Py_BuildValue(
            "(KKNNNNNNNNN)", (unsigned long long)h.group, (unsigned long long)h.bucket_ns,
            bytes_of(h.time_ns, np * 8), bytes_of(h.total, np * 8), bytes_of(h.objects, np * 8),
            bytes_of(h.variance, np * 8), bytes_of(h.max, np * 8),
            bytes_of(h.max_time_ns, np * 8), bytes_of(h.rss, np * 8), top_ids,
            bytes_of(h.series, (size_t)h.n_top * np * 8));
    }
    hp_history_fini(&h);
    return r;
}

static PyObject *Digester_peak(DigesterObject *self, PyObject *unused) {
    if (check_ready(self) < 0) {
        return NULL;
    }
    uint64_t t;
    double b;
    lock_obj(self);
    hp_digest_peak(self->feed.d, &t, &b);
    unlock_obj(self);
    return Py_BuildValue("(Kd)", (unsigned long long)t, b);
}

/* The stacks with samples of one measure, as five packed arrays. */
static PyObject *measure_tuple(const hp_acc_t *a, size_t n_slots) {
    size_t n = 0;
    for (size_t s = 0; s < n_slots; s++) {
        n += a[s].samples != 0;
    }
    uint64_t *ids = malloc((n ? n : 1) * 8);
    double *by = malloc((n ? n : 1) * 8), *ob = malloc((n ? n : 1) * 8);
    double *va = malloc((n ? n : 1) * 8);
    uint64_t *sa = malloc((n ? n : 1) * 8);
    PyObject *r = NULL;
    if (ids && by && ob && va && sa) {
        size_t k = 0;
        for (size_t s = 0; s < n_slots; s++) {
            if (a[s].samples) {
                ids[k] = s;
                by[k] = a[s].bytes;
                ob[k] = a[s].objects;
                va[k] = a[s].variance > 0 ? a[s].variance : 0.0;
                sa[k] = a[s].samples;
                k++;
            }
        }
        r = Py_BuildValue("(NNNNN)", bytes_of(ids, n * 8), bytes_of(by, n * 8),
                          bytes_of(ob, n * 8), bytes_of(va, n * 8), bytes_of(sa, n * 8));
    }
    else {
        PyErr_NoMemory();
    }
    free(ids);
    free(by);
    free(ob);
    free(va);
    free(sa);
    return r;
}

PyDoc_STRVAR(window_doc,
"window(t0_ns, t1_ns, live_only=False, fd=-1) -> tuple of measures\n\n"
"Per-stack sums for the window (t0, t1]: (live_at_end,) when live_only, else (live_at_end,\n"
"allocated_kept, allocated_freed, growth). Each measure is (stack_ids 'Q', bytes 'd',\n"
"objects 'd', variance 'd', samples 'Q') as bytes, for the stacks with samples. Without an\n"
"interval index in memory the log is re-read from `fd`.");

static PyObject *Digester_window(DigesterObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"t0_ns", "t1_ns", "live_only", "fd", NULL};
    unsigned long long t0, t1;
    int live_only = 0, fd = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "KK|pi", kwlist, &t0, &t1, &live_only, &fd) ||
        check_ready(self) < 0) {
        return NULL;
    }
    if (t0 > t1) {
        PyErr_SetString(PyExc_ValueError, "t0 must not be after t1");
        return NULL;
    }
    hp_window_t w;
    hp_dec_error_t err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    hp_feeder_lock(&self->feed);
    rc = hp_digest_window(self->feed.d, t0, t1, live_only, fd, &w, &err);
    hp_feeder_unlock(&self->feed);
    if (rc == HP_DEC_OK && !live_only) {
        /* growth = kept - dropped, stored in the dropped slot */
        hp_acc_t *k = w.m[HP_W_KEPT], *dr = w.m[HP_W_DROPPED];
        for (size_t s = 0; s < w.n_slots; s++) {
            dr[s].bytes = k[s].bytes - dr[s].bytes;
            dr[s].objects = k[s].objects - dr[s].objects;
            dr[s].variance = k[s].variance + dr[s].variance;
            dr[s].samples = k[s].samples + dr[s].samples;
        }
    }
    Py_END_ALLOW_THREADS
    if (rc != HP_DEC_OK) {
        return set_error(&err);
    }
    int n = live_only ? 1 : HP_W_N;
    PyObject *r = PyTuple_New(n);
    for (int i = 0; r != NULL && i < n; i++) {
        PyObject *m = measure_tuple(w.m[i], w.n_slots);
        if (m == NULL) {
            Py_CLEAR(r);
            break;
        }
        PyTuple_SET_ITEM(r, i, m);
    }
    hp_window_fini(&w);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Dump and load */

PyDoc_STRVAR(dump_doc, "dump() -> bytes: the digest, for Digester.load (not the live set)");

static PyObject *Digester_dump(DigesterObject *self, PyObject *unused) {
    if (check_ready(self) < 0) {
        return NULL;
    }
    hp_dec_error_t err;
    size_t len = 0;
    uint8_t *buf;
    Py_BEGIN_ALLOW_THREADS
    hp_feeder_lock(&self->feed);
    buf = hp_digest_dump(self->feed.d, &len, &err);
    hp_feeder_unlock(&self->feed);
    Py_END_ALLOW_THREADS
    if (buf == NULL) {
        return set_error(&err);
    }
    PyObject *r = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
    free(buf);
    return r;
}

PyDoc_STRVAR(load_doc,
"load(data) -> Digester\n\n"
"A digest from dump() bytes, every field validated; it answers queries and takes no input.\n"
"Raises ProfileFormatError for anything that is not a valid dump.");

static PyObject *Digester_load(PyObject *cls, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    DigesterObject *self = (DigesterObject *)Digester_new(&Digester_Type, NULL, NULL);
    if (self == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    hp_dec_error_t err;
    hp_digest_t *d;
    Py_BEGIN_ALLOW_THREADS
    d = hp_digest_load(view.buf, (size_t)view.len, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (d == NULL) {
        Py_DECREF(self);
        return set_error(&err);
    }
    self->feed.d = d;
    hp_digest_info_t in;
    hp_digest_info(d, &in);
    hp_feeder_loaded(&self->feed, in.offset);
    return (PyObject *)self;
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef Digester_methods[] = {
    {"feed_fd", (PyCFunction)Digester_feed_fd, METH_O, feed_fd_doc},
    {"feed", (PyCFunction)Digester_feed, METH_O, feed_doc},
    {"cancel", (PyCFunction)Digester_cancel, METH_NOARGS,
     "cancel(): make a running feed stop after its current chunk (and later feeds at once)"},
    {"clear_cancel", (PyCFunction)Digester_clear_cancel, METH_NOARGS,
     "clear_cancel(): undo cancel()"},
    {"progress", (PyCFunction)Digester_progress, METH_NOARGS, progress_doc},
    {"info", (PyCFunction)Digester_info, METH_NOARGS, "info() -> dict of the digest's state"},
    {"header", (PyCFunction)Digester_header, METH_NOARGS,
     "header() -> dict of the log header, or None before it was read"},
    {"strings", (PyCFunction)Digester_strings, METH_VARARGS, strings_doc},
    {"frames", (PyCFunction)Digester_frames, METH_VARARGS, frames_doc},
    {"stacks", (PyCFunction)Digester_stacks, METH_VARARGS, stacks_doc},
    {"stacks_packed", (PyCFunction)Digester_stacks_packed, METH_VARARGS, stacks_packed_doc},
    {"markers", (PyCFunction)Digester_markers, METH_VARARGS, markers_doc},
    {"meta", (PyCFunction)Digester_meta, METH_VARARGS, meta_doc},
    {"trailer", (PyCFunction)Digester_trailer, METH_NOARGS, trailer_doc},
    {"last_error", (PyCFunction)Digester_last_error, METH_NOARGS, last_error_doc},
    {"history", (PyCFunction)Digester_history, METH_VARARGS, history_doc},
    {"peak", (PyCFunction)Digester_peak, METH_NOARGS,
     "peak() -> (time_ns, bytes): the largest estimated live bytes, first reached when"},
    {"window", (PyCFunction)(void (*)(void))Digester_window, METH_VARARGS | METH_KEYWORDS,
     window_doc},
    {"dump", (PyCFunction)Digester_dump, METH_NOARGS, dump_doc},
    {"load", (PyCFunction)Digester_load, METH_O | METH_STATIC, load_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Digester_doc,
"Digester(*, bucket_ns=0, max_buckets=4096, precision=0.005, index_limit=512 MiB,\n"
"          strict=False)\n\n"
"The C digest of one heapprof_nb log (see native/digest/hp_digest.h). bucket_ns=0 chooses the\n"
"bucket width automatically (between max_buckets/2 and max_buckets buckets).");

static PyTypeObject Digester_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "heapprof_nb._digest.Digester",
    .tp_basicsize = sizeof(DigesterObject),
    .tp_dealloc = (destructor)Digester_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Digester_doc,
    .tp_methods = Digester_methods,
    .tp_init = (initproc)Digester_init,
    .tp_new = Digester_new,
};

static struct PyModuleDef digest_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "heapprof_nb._digest",
    .m_doc = "The C digest of heapprof_nb event logs (private; use heapprof_nb.digest).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__digest(void);

PyMODINIT_FUNC PyInit__digest(void) {
    if (PyType_Ready(&Digester_Type) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&digest_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Digester", (PyObject *)&Digester_Type) < 0 ||
        PyModule_AddIntConstant(m, "AUTO_BUCKETS", HP_DIGEST_AUTO_BUCKETS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_BUCKETS", HP_DIGEST_MAX_BUCKETS) < 0 ||
        PyModule_AddObject(m, "DEFAULT_PRECISION",
                           PyFloat_FromDouble(HP_DIGEST_DEFAULT_PRECISION)) < 0 ||
        PyModule_AddObject(m, "DEFAULT_INDEX_LIMIT",
                           PyLong_FromUnsignedLongLong(HP_DIGEST_DEFAULT_INDEX_LIMIT)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
