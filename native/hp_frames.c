// SPDX-License-Identifier: MIT
/* Version-specific frame walking (see hp_frames.h). Includes Python.h because walking frames means
 * reading the interpreter's own structs (thread state, interpreter frames, code objects); it calls
 * no function that creates, raises or releases an object, except hp_frames_release. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000
#error "heapprof_nb needs CPython 3.11 or newer"
#endif

/* Version guards, each saying which CPython needs what. Everything version-specific about the
 * interpreter's frames is in this block.
 * - 3.11-3.13: the frame struct is in internal/pycore_frame.h.
 * - 3.14+: it moved to internal/pycore_interpframe_structs.h (included by pycore_interpframe.h)
 *   and f_executable became a tagged _PyStackRef, read with PyStackRef_AsPyObjectBorrow.
 * - 3.11: the top frame hangs off ts->cframe; 3.12 too; 3.13+ keeps it in ts->current_frame.
 * - 3.12+: frames owned by the C stack (shims between C and Python calls) are not user code;
 *   3.14 added FRAME_OWNED_BY_INTERPRETER before FRAME_OWNED_BY_CSTACK, 3.15 dropped CSTACK.
 * - 3.12+: PyUnstable_InterpreterFrame_GetLasti gives the instruction offset without
 *   allocating; 3.11 has only the internal macro. PyUnstable_InterpreterFrame_GetCode is not
 *   used: it returns a new reference, which a hook would have to drop (no refcount drops in a
 *   hook), so the code object is read borrowed from the frame instead.
 * - 3.13+: PyThreadState_GetUnchecked is public; before, _PyThreadState_UncheckedGet. */
#define HP_PY312 (PY_VERSION_HEX >= 0x030C0000)
#define HP_PY313 (PY_VERSION_HEX >= 0x030D0000)
#define HP_PY314 (PY_VERSION_HEX >= 0x030E0000)

#ifdef Py_GIL_DISABLED
/* The free-threaded build's frames and allocator need other rules (docs/architecture.md). */
#error "heapprof_nb does not support free-threaded CPython builds yet; use the default (GIL) build"
#endif

#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#define HP_DEFINED_BUILD_CORE
#endif
#if HP_PY314
#include <internal/pycore_interpframe.h>
#else
#include <internal/pycore_frame.h>
#endif
#ifdef HP_DEFINED_BUILD_CORE
#undef Py_BUILD_CORE
#endif

#include <string.h>

#include "hp_frames.h"

#if HP_PY313
#define CURRENT_TSTATE() PyThreadState_GetUnchecked()
#else
#define CURRENT_TSTATE() _PyThreadState_UncheckedGet()
#endif

int hp_frames_have_gil_no_py(void) {
    /* In 3.11 the unchecked current state is the GIL holder's, in 3.12+ this thread's attached
     * state; either way it equals this thread's own state only if this thread holds the GIL. */
    PyThreadState *current = CURRENT_TSTATE();
    return current != NULL && current == PyGILState_GetThisThreadState();
}

static inline _PyInterpreterFrame *top_frame(PyThreadState *ts) {
#if HP_PY313
    return ts->current_frame;
#else
    return ts->cframe != NULL ? ts->cframe->current_frame : NULL;
#endif
}

/* 1 if the interpreter, not user code, owns the frame (no code object of the user's). */
static inline int frame_owned_by_interpreter(_PyInterpreterFrame *f) {
#if HP_PY314
    return f->owner >= FRAME_OWNED_BY_INTERPRETER;
#elif HP_PY312
    return f->owner == FRAME_OWNED_BY_CSTACK;
#else
    (void)f;
    return 0;
#endif
}

/* The frame's code object, borrowed (the frame holds it), or NULL if it runs none. */
static inline PyCodeObject *frame_code(_PyInterpreterFrame *f) {
#if HP_PY314
    PyObject *executable = PyStackRef_AsPyObjectBorrow(f->f_executable);
#elif HP_PY313
    PyObject *executable = f->f_executable;
#else
    PyObject *executable = (PyObject *)f->f_code;
#endif
    return (executable != NULL && PyCode_Check(executable)) ? (PyCodeObject *)executable : NULL;
}

/* The offset of the frame's current instruction, in code units. */
static inline int frame_lasti(_PyInterpreterFrame *f) {
#if HP_PY312
    return PyUnstable_InterpreterFrame_GetLasti(f) / (int)sizeof(_Py_CODEUNIT);
#else
    return _PyInterpreterFrame_LASTI(f);
#endif
}

int hp_frames_walk_no_py(hp_rawframe_t *out, int max, int *truncated) {
    *truncated = 0;
    PyThreadState *ts = CURRENT_TSTATE();
    if (ts == NULL) {
        return 0;
    }
    int n = 0;
    for (_PyInterpreterFrame *f = top_frame(ts); f != NULL; f = f->previous) {
        if (frame_owned_by_interpreter(f)) {
            continue;
        }
        PyCodeObject *code = frame_code(f);
        if (code == NULL) {
            continue;
        }
        int lasti = frame_lasti(f);
        /* Not yet started (the frame's prologue has not run): no line to attribute. A generator's
         * frame is always past it. */
        if (f->owner != FRAME_OWNED_BY_GENERATOR && lasti < code->_co_firsttraceable) {
            continue;
        }
        if (n == max) {
            *truncated = 1;
            break;
        }
        out[n].code = code;
        out[n].lasti = lasti;
        n++;
    }
    return n;
}

static size_t put_utf8(uint8_t *out, size_t cap, Py_UCS4 c) {
    uint8_t tmp[4];
    size_t n;
    if (c < 0x80) {
        tmp[0] = (uint8_t)c;
        n = 1;
    } else if (c < 0x800) {
        tmp[0] = (uint8_t)(0xC0 | (c >> 6));
        tmp[1] = (uint8_t)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD; /* a lone surrogate has no UTF-8 form */
        }
        tmp[0] = (uint8_t)(0xE0 | (c >> 12));
        tmp[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        tmp[2] = (uint8_t)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        tmp[0] = (uint8_t)(0xF0 | (c >> 18));
        tmp[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
        tmp[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        tmp[3] = (uint8_t)(0x80 | (c & 0x3F));
        n = 4;
    }
    if (n > cap) {
        return 0;
    }
    memcpy(out, tmp, n);
    return n;
}

/* UTF-8 of a str without creating objects: reads the canonical representation directly. */
static size_t encode_str(PyObject *s, char *buf, size_t cap) {
    if (s == NULL || !PyUnicode_Check(s)) {
        const char unknown[] = "?";
        size_t n = cap < 1 ? cap : 1;
        memcpy(buf, unknown, n);
        return n;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    size_t used = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        size_t n = put_utf8((uint8_t *)buf + used, cap - used, PyUnicode_READ(kind, data, i));
        if (n == 0) {
            break;
        }
        used += n;
    }
    return used;
}

void hp_frames_describe_no_py(void *code_ptr, char *buf, size_t cap, size_t *file_len, size_t *func_len,
                              const void **file_key, const void **func_key) {
    PyCodeObject *code = code_ptr;
    *file_key = code->co_filename;
    *func_key = code->co_qualname;
    size_t half = cap / 2;
    *file_len = encode_str(code->co_filename, buf, half);
    *func_len = encode_str(code->co_qualname, buf + *file_len, cap - *file_len);
    Py_INCREF(code);
}

int hp_frames_line_no_py(void *code, int lasti) {
    if (lasti < 0) {
        return ((PyCodeObject *)code)->co_firstlineno;
    }
    int line = PyCode_Addr2Line((PyCodeObject *)code, lasti * (int)sizeof(_Py_CODEUNIT));
    return line < 0 ? 0 : line;
}

void hp_frames_release(void *code) {
    Py_DECREF((PyObject *)code);
}
