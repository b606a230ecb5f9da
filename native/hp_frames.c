// SPDX-License-Identifier: MIT
/* Version-specific frame walking (see hp_frames.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000
#error "heapprof_nb needs CPython 3.11 or newer"
#endif

#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#define HP_DEFINED_BUILD_CORE
#endif
#include <internal/pycore_frame.h>
#ifdef HP_DEFINED_BUILD_CORE
#undef Py_BUILD_CORE
#endif

#include <string.h>

#include "hp_frames.h"

#if PY_VERSION_HEX >= 0x030D0000
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
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#else
    return ts->cframe != NULL ? ts->cframe->current_frame : NULL;
#endif
}

static inline PyCodeObject *frame_code(_PyInterpreterFrame *f) {
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *executable = f->f_executable;
    return (executable != NULL && PyCode_Check(executable)) ? (PyCodeObject *)executable : NULL;
#else
    return f->f_code;
#endif
}

static inline int frame_skipped(_PyInterpreterFrame *f, PyCodeObject *code) {
#if PY_VERSION_HEX >= 0x030C0000
    if (f->owner == FRAME_OWNED_BY_CSTACK) {
        return 1;
    }
#endif
#if PY_VERSION_HEX >= 0x030D0000
    _Py_CODEUNIT *ip = f->instr_ptr;
#else
    _Py_CODEUNIT *ip = f->prev_instr;
#endif
    /* Not yet started (the frame's prologue has not run): no line to attribute. */
    return f->owner != FRAME_OWNED_BY_GENERATOR && ip < _PyCode_CODE(code) + code->_co_firsttraceable;
}

int hp_frames_walk_no_py(hp_rawframe_t *out, int max, int *truncated) {
    *truncated = 0;
    PyThreadState *ts = CURRENT_TSTATE();
    if (ts == NULL) {
        return 0;
    }
    int n = 0;
    for (_PyInterpreterFrame *f = top_frame(ts); f != NULL; f = f->previous) {
        PyCodeObject *code = frame_code(f);
        if (code == NULL || frame_skipped(f, code)) {
            continue;
        }
        if (n == max) {
            *truncated = 1;
            break;
        }
        out[n].code = code;
        out[n].lasti = _PyInterpreterFrame_LASTI(f);
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

void hp_frames_describe_no_py(void *code_ptr, char *buf, size_t cap, size_t *file_len, size_t *func_len) {
    PyCodeObject *code = code_ptr;
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
