// SPDX-License-Identifier: MIT
/* heapprof_nb._native: the binding of the engine. Converts arguments and results, maps engine
 * error codes to exceptions, and finds NumPy's data handler through NumPy's C API (the one
 * engine job that needs Python objects); every other method forwards to hp_session, hp_hooks,
 * hp_log or hp_numpy. The only engine file that uses Python's object API.
 * The Python layer (heapprof_nb/_api.py) validates user input first, so errors here are for
 * states it cannot see (a failed write, an unopenable file). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>

#include "hp_format.h"
#include "hp_hooks.h"
#include "hp_log.h"
#include "hp_numpy.h"
#include "hp_session.h"
#include "hp_stats.h"

#ifdef HP_HAVE_NUMPY
#define NPY_NO_DEPRECATED_API NPY_1_22_API_VERSION
#define NPY_TARGET_VERSION NPY_1_22_API_VERSION
#include <numpy/arrayobject.h>

#include <stddef.h>
#include <string.h>

/* hp_numpy.h mirrors NumPy's allocator struct so the engine needs no NumPy header. */
#define HP_SAME_FIELD(f) \
    offsetof(PyDataMemAllocator, f) == offsetof(hp_numpy_allocator_t, f)
_Static_assert(sizeof(PyDataMemAllocator) == sizeof(hp_numpy_allocator_t) && HP_SAME_FIELD(ctx) &&
                   HP_SAME_FIELD(malloc) && HP_SAME_FIELD(calloc) && HP_SAME_FIELD(realloc) &&
                   HP_SAME_FIELD(free),
               "hp_numpy_allocator_t must match NumPy's PyDataMemAllocator");
#undef HP_SAME_FIELD

/* NumPy's C API, only when the program imported NumPy itself: we never import it. 0 when it is
 * usable, 1 when not (not imported, incompatible). */
static int import_numpy_api(void) {
    if (PyArray_API != NULL) {
        return 0;
    }
    PyObject *modules = PyImport_GetModuleDict();
    if (PyDict_GetItemString(modules, "numpy") == NULL) {
        return 1;
    }
    if (_import_array() < 0) {
        PyErr_Clear(); /* an incompatible NumPy: profile without its arrays */
        return 1;
    }
    return 0;
}

/* NumPy's default data handler's allocator, or NULL (with an exception set only on an unexpected
 * error) when NumPy is not imported, lacks handlers, or the current handler is not the default. */
static hp_numpy_allocator_t *numpy_default_allocator(void) {
    if (import_numpy_api() != 0 || PyArray_GetNDArrayCFeatureVersion() < NPY_1_22_API_VERSION) {
        return NULL;
    }
    PyObject *capsule = PyDataMem_GetHandler();
    if (capsule == NULL) {
        return NULL;
    }
    PyDataMem_Handler *handler = PyCapsule_GetPointer(capsule, "mem_handler");
    Py_DECREF(capsule); /* the default handler's capsule is a module-lifetime singleton */
    if (handler == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (strncmp(handler->name, "default_allocator", sizeof(handler->name)) != 0 ||
        handler->version != 1) {
        return NULL;
    }
    return (hp_numpy_allocator_t *)&handler->allocator;
}
#else
static hp_numpy_allocator_t *numpy_default_allocator(void) { return NULL; }
#endif

/* The one place engine codes become exceptions. Returns NULL for use in a return statement. */
static PyObject *set_error(int code, const char *path) {
    switch (code) {
    case HP_ENOMEM:
        return PyErr_NoMemory();
    case HP_EOPEN:
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    case HP_EIO: {
        int err = hp_log_errno();
        errno = err ? err : EIO;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    case HP_EINVAL:
        PyErr_SetString(PyExc_ValueError, hp_strerror(code));
        return NULL;
    default:
        PyErr_SetString(PyExc_RuntimeError, hp_strerror(code));
        return NULL;
    }
}

/* The counters by their TRAILER names (hp_format.h). */
static PyObject *counters_dict(const hp_counters_t *c) {
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
#define HP_ADD_COUNTER(name, what)                                                    \
    {                                                                                 \
        PyObject *v = PyLong_FromUnsignedLongLong((unsigned long long)c->name);       \
        if (v == NULL || PyDict_SetItemString(d, #name, v) < 0) {                     \
            Py_XDECREF(v);                                                            \
            Py_DECREF(d);                                                             \
            return NULL;                                                              \
        }                                                                             \
        Py_DECREF(v);                                                                 \
    }
    HP_TRAILER_COUNTERS(HP_ADD_COUNTER)
#undef HP_ADD_COUNTER
    return d;
}

PyDoc_STRVAR(start_doc,
"start(path, exclusive, python_version, mode, rate, thresholds, probabilities, max_frames, seed)\n"
"--\n\nOpen the log at path and install the hooks. Arguments are validated by heapprof_nb.start.");

static PyObject *native_start(PyObject *self, PyObject *args) {
    const char *path, *python_version;
    int exclusive, mode;
    unsigned long long rate, seed;
    PyObject *thresholds_obj, *probabilities_obj;
    unsigned int max_frames;
    if (!PyArg_ParseTuple(args, "spsiKOOIK:start", &path, &exclusive, &python_version, &mode,
                          &rate, &thresholds_obj, &probabilities_obj, &max_frames, &seed)) {
        return NULL;
    }
    uint64_t thresholds[HP_MAX_BUCKETS];
    double probabilities[HP_MAX_BUCKETS];
    PyObject *t = PySequence_Fast(thresholds_obj, "thresholds must be a sequence");
    if (t == NULL) {
        return NULL;
    }
    PyObject *p = PySequence_Fast(probabilities_obj, "probabilities must be a sequence");
    if (p == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(t);
    if (n > HP_MAX_BUCKETS || n != PySequence_Fast_GET_SIZE(p)) {
        Py_DECREF(t);
        Py_DECREF(p);
        PyErr_SetString(PyExc_ValueError, "thresholds and probabilities must match, at most 64");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        thresholds[i] = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(t, i));
        probabilities[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(p, i));
        if (PyErr_Occurred()) {
            Py_DECREF(t);
            Py_DECREF(p);
            return NULL;
        }
    }
    Py_DECREF(t);
    Py_DECREF(p);
    hp_log_settings_t settings = {
        .python_version = python_version,
        .mode = (hp_mode_t)mode,
        .rate = rate,
        .n_buckets = (int)n,
        .thresholds = thresholds,
        .probabilities = probabilities,
        .max_frames = max_frames,
        .seed = seed,
    };
    int rc = hp_session_start_profile(path, exclusive, &settings);
    if (rc != HP_OK) {
        return set_error(rc, path);
    }
    Py_RETURN_NONE;
}

static PyObject *native_stop(PyObject *self, PyObject *unused) {
    hp_counters_t c;
    int rc = hp_session_stop_profile(&c);
    if (rc != HP_OK) {
        return set_error(rc, NULL);
    }
    return counters_dict(&c);
}

static PyObject *native_is_running(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(hp_session_profiling());
}

static PyObject *native_counters(PyObject *self, PyObject *unused) {
    hp_counters_t c;
    hp_session_counters(&c);
    return counters_dict(&c);
}

static PyObject *native_mark(PyObject *self, PyObject *args) {
    unsigned long long kind;
    const char *label;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "Ks#:mark", &kind, &label, &len)) {
        return NULL;
    }
    if (!hp_session_profiling()) {
        PyErr_SetString(PyExc_RuntimeError, "no profile is running");
        return NULL;
    }
    int rc = hp_log_marker(kind, label, (size_t)len);
    return rc == HP_OK ? Py_NewRef(Py_None) : set_error(rc, NULL);
}

static PyObject *native_meta(PyObject *self, PyObject *args) {
    const char *key, *value;
    Py_ssize_t key_len, value_len;
    if (!PyArg_ParseTuple(args, "s#s#:meta", &key, &key_len, &value, &value_len)) {
        return NULL;
    }
    if (!hp_session_profiling()) {
        PyErr_SetString(PyExc_RuntimeError, "no profile is running");
        return NULL;
    }
    int rc = hp_log_meta(key, (size_t)key_len, value, (size_t)value_len);
    return rc == HP_OK ? Py_NewRef(Py_None) : set_error(rc, NULL);
}

/* True if NumPy's default allocator is (now) wrapped, False if it cannot be. */
static PyObject *native_hook_numpy(PyObject *self, PyObject *unused) {
    if (!hp_numpy_installed()) {
        hp_numpy_allocator_t *allocator = numpy_default_allocator();
        if (allocator == NULL) {
            return PyErr_Occurred() ? NULL : Py_NewRef(Py_False);
        }
        hp_numpy_install(allocator);
    }
    Py_RETURN_TRUE;
}

static PyObject *native_numpy_hooked(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(hp_numpy_installed());
}

static PyObject *native_stats_start(PyObject *self, PyObject *unused) {
    int rc = hp_session_start_stats();
    return rc == HP_OK ? Py_NewRef(Py_None) : set_error(rc, NULL);
}

static PyObject *native_stats_running(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(hp_session_stats_running());
}

/* A tuple of n items made by item(ctx, i) (new references), or NULL with an exception. */
static PyObject *tuple_of(Py_ssize_t n, PyObject *(*item)(const void *ctx, Py_ssize_t i),
                          const void *ctx) {
    PyObject *t = PyTuple_New(n);
    if (t == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = item(ctx, i);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyObject *u64_item(const void *values, Py_ssize_t i) {
    return PyLong_FromUnsignedLongLong(((const uint64_t *)values)[i]);
}

static PyObject *str_item(const void *names, Py_ssize_t i) {
    return PyUnicode_FromString(((const char *const *)names)[i]);
}

static PyObject *native_stats_stop(PyObject *self, PyObject *unused) {
    hp_stats_result_t r;
    int rc = hp_session_stop_stats(&r);
    if (rc != HP_OK) {
        return set_error(rc, NULL);
    }
    PyObject *counts = tuple_of(HP_STATS_BUCKETS, u64_item, r.counts);
    PyObject *bytes = counts ? tuple_of(HP_STATS_BUCKETS, u64_item, r.bytes) : NULL;
    if (bytes == NULL) {
        Py_XDECREF(counts);
        return NULL;
    }
    return Py_BuildValue("(NNK)", counts, bytes, (unsigned long long)r.elapsed_ns);
}

static PyObject *native_write_errno(PyObject *self, PyObject *unused) {
    return PyLong_FromLong(hp_log_errno());
}

static PyObject *native_set_quiet(PyObject *self, PyObject *arg) {
    int quiet = PyObject_IsTrue(arg);
    if (quiet < 0) {
        return NULL;
    }
    hp_hooks_set_quiet(quiet);
    Py_RETURN_NONE;
}

static PyObject *native_quiet_depth(PyObject *self, PyObject *unused) {
    return PyLong_FromLong(hp_hooks_quiet_depth());
}

static PyObject *native_last_rss(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(hp_log_last_rss());
}

static PyMethodDef native_methods[] = {
    {"start", native_start, METH_VARARGS, start_doc},
    {"stop", native_stop, METH_NOARGS, "stop() -> counters dict\n--\n\nStop the running profile."},
    {"is_running", native_is_running, METH_NOARGS, "True while a profile runs."},
    {"counters", native_counters, METH_NOARGS, "The running profile's counters."},
    {"mark", native_mark, METH_VARARGS, "mark(kind, label): write a MARKER record."},
    {"meta", native_meta, METH_VARARGS, "meta(key, value): write a META record."},
    {"hook_numpy", native_hook_numpy, METH_NOARGS, "Wrap NumPy's default data allocator."},
    {"numpy_hooked", native_numpy_hooked, METH_NOARGS, "True while NumPy's allocator is wrapped."},
    {"stats_start", native_stats_start, METH_NOARGS, "Start counting allocation sizes."},
    {"stats_stop", native_stats_stop, METH_NOARGS, "stats_stop() -> (counts, bytes, elapsed_ns)"},
    {"stats_running", native_stats_running, METH_NOARGS, "True while stats mode runs."},
    {"write_errno", native_write_errno, METH_NOARGS, "errno of a failed log write, or 0."},
    {"set_quiet", native_set_quiet, METH_O, "set_quiet(flag): stop/resume sampling this thread."},
    {"quiet_depth", native_quiet_depth, METH_NOARGS, "This thread's quiet-section depth."},
    {"last_rss", native_last_rss, METH_NOARGS, "The last RSS reading in bytes."},
    {NULL, NULL, 0, NULL},
};

/* heapprof_nb._native.FORMAT: every fact of hp_format.h, for the Python side (heapprof_nb._format)
 * and for the test that checks the reference decoder against it. */
static PyObject *format_description(void) {
#define HP_COUNTER_NAME(name, what) #name,
    static const char *const trailer[] = {HP_TRAILER_COUNTERS(HP_COUNTER_NAME)};
#undef HP_COUNTER_NAME
    PyObject *fields = tuple_of(HP_N_COUNTERS, str_item, trailer);
    if (fields == NULL) {
        return NULL;
    }
    return Py_BuildValue(
        "{s:y#,s:i,s:i,s:I,s:I,s:I,s:I,s:i,s:I,s:i,s:N,"
        "s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i},"
        "s:{s:i,s:i,s:i},s:{s:i,s:i,s:i,s:i},s:{s:i,s:i,s:i}}",
        "magic", HP_FORMAT_MAGIC, (Py_ssize_t)HP_FORMAT_MAGIC_LEN, "major", HP_FORMAT_MAJOR,
        "minor", HP_FORMAT_MINOR, "header_fixed", HP_HEADER_FIXED,
        "max_header_body", HP_MAX_HEADER_BODY, "max_string", HP_MAX_STRING,
        "max_meta_value", HP_MAX_META_VALUE, "max_buckets", HP_MAX_BUCKETS,
        "max_frames", HP_MAX_FRAMES_LIMIT, "max_varint", HP_MAX_VARINT,
        "trailer_fields", fields,
        "tags", "STRING", HP_TAG_STRING, "FRAME", HP_TAG_FRAME, "STACK", HP_TAG_STACK,
        "THREAD", HP_TAG_THREAD, "ALLOC", HP_TAG_ALLOC, "FREE", HP_TAG_FREE, "RSS", HP_TAG_RSS,
        "MARKER", HP_TAG_MARKER, "META", HP_TAG_META, "TRAILER", HP_TAG_TRAILER,
        "modes", "BYTES", HP_MODE_BYTES, "SIZES", HP_MODE_SIZES, "ALL", HP_MODE_ALL,
        "domains", "RAW", HP_DOMAIN_RAW, "MEM", HP_DOMAIN_MEM, "OBJ", HP_DOMAIN_OBJ,
        "NUMPY", HP_DOMAIN_NUMPY,
        "markers", "USER", HP_MARKER_USER, "CELL_START", HP_MARKER_CELL_START,
        "CELL_END", HP_MARKER_CELL_END);
}

static int native_exec(PyObject *m) {
    hp_session_on_uninstall(hp_numpy_uninstall);
    if (hp_session_init() != HP_OK) {
        PyErr_SetString(PyExc_RuntimeError, "heapprof_nb: could not register fork handlers");
        return -1;
    }
    if (PyModule_AddIntConstant(m, "FORMAT_MAJOR", HP_FORMAT_MAJOR) < 0 ||
        PyModule_AddIntConstant(m, "FORMAT_MINOR", HP_FORMAT_MINOR) < 0 ||
        PyModule_AddIntConstant(m, "MAX_FRAMES_LIMIT", HP_MAX_FRAMES_LIMIT) < 0 ||
        PyModule_AddIntConstant(m, "MAX_BUCKETS", HP_MAX_BUCKETS) < 0 ||
        PyModule_AddIntConstant(m, "STATS_BUCKETS", HP_STATS_BUCKETS) < 0) {
        return -1;
    }
    PyObject *format = format_description();
    int rc = format == NULL ? -1 : PyModule_AddObjectRef(m, "FORMAT", format);
    Py_XDECREF(format);
    return rc;
}

static PyModuleDef_Slot native_slots[] = {
    {Py_mod_exec, native_exec},
    {0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "heapprof_nb._native",
    .m_doc = "The heapprof_nb sampling engine (private; use heapprof_nb).",
    .m_size = 0,
    .m_methods = native_methods,
    .m_slots = native_slots,
};

PyMODINIT_FUNC PyInit__native(void);

PyMODINIT_FUNC PyInit__native(void) {
    return PyModuleDef_Init(&native_module);
}
