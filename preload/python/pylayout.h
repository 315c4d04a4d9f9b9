/* Where CPython keeps what memtap reads of a thread's Python frames, one entry per minor
 * version (x86-64, the default build with the GIL). Included by pyframes.c and by the probe
 * tests/e2e/progs/python/layout_probe.c, which test_python.py compiles against each
 * installed interpreter's own headers (internal ones included) to compare every value. */
#ifndef MEMTAP_PRELOAD_PYLAYOUT_H
#define MEMTAP_PRELOAD_PYLAYOUT_H

#include <stdint.h>

/* How a thread's frames are chained and which frames a run of the interpreter loop
 * (_PyEval_EvalFrameDefault) started. */
enum {
    MEMTAP_PYF_OBJECTS = 1, /* 3.9, 3.10: PyFrameObject chain by f_back; every frame is a run
                               of the loop of its own; f_lasti an int */
    MEMTAP_PYF_IS_ENTRY,    /* 3.11: _PyInterpreterFrame chain; the run's first frame has
                               is_entry set; prev_instr points into the code */
    MEMTAP_PYF_CSTACK,      /* 3.12, 3.13: each run pushes a frame owned by the C stack
                               (skipped); the frame above it is the run's first */
};

typedef struct {
    uint8_t minor; /* 3.minor */
    uint8_t style; /* MEMTAP_PYF_... */
    /* PyThreadState: frame (3.9, 3.10), cframe (3.11, 3.12), current_frame (3.13) */
    uint16_t ts_frame;
    /* _PyCFrame.current_frame when ts_frame is the cframe pointer, else -1 */
    int16_t cframe_current;
    /* the frame: its code object (f_code, f_executable), the next frame out (f_back,
     * previous), where it is (f_lasti an int; prev_instr or instr_ptr a pointer) */
    uint16_t fr_code, fr_previous, fr_instr;
    int16_t fr_owner;    /* char owner, or -1 */
    int16_t fr_is_entry; /* bool is_entry (3.11), or -1 */
    int8_t owner_cstack; /* FRAME_OWNED_BY_CSTACK, or -1 */
    uint8_t lasti_bytes; /* 3.9, 3.10: bytes per unit of f_lasti */
    /* PyCodeObject: co_qualname is 0 before 3.11 (co_name stands in); co_code is where
     * the bytecode starts (co_code_adaptive, 3.11+), 0 before */
    uint16_t co_firstlineno, co_filename, co_name, co_qualname, co_code, co_flags;
    /* a co_flags bit of the interpreter's own shim code, whose frames are not the
     * program's (3.13: CO_NO_MONITORING_EVENTS, on the frame that runs after __init__
     * returns); 0: none */
    uint32_t co_shim_flag;
    /* str: its length (code points), the state bit-field's word, sizeof(PyASCIIObject)
     * (where compact ASCII data starts), sizeof(PyCompactUnicodeObject) (other compact
     * data), its cached UTF-8 copy (NULL until asked for) and that copy's length */
    uint16_t str_length, str_state, str_ascii_size, str_compact_size, str_utf8, str_utf8_length;
    uint8_t str_kind_shift, str_compact_bit, str_ascii_bit; /* bit positions in state */
} memtap_py_layout_t;

/* Each value read from the headers of CPython 3.9.18, 3.10.13, 3.11.2, 3.12.1 and 3.13.0
 * (the probe prints this line for an interpreter: `layout_probe --print`). */
static const memtap_py_layout_t memtap_py_layouts[] = {
    /* minor, style, ts_frame, cframe_current, fr_code, fr_previous, fr_instr, fr_owner,
     * fr_is_entry, owner_cstack, lasti_bytes, co_firstlineno, co_filename, co_name,
     * co_qualname, co_code, co_flags, co_shim_flag, str_length, str_state, str_ascii_size,
     * str_compact_size, str_utf8, str_utf8_length, str_kind_shift, str_compact_bit,
     * str_ascii_bit */
    {9, 1, 24, -1, 32, 24, 104, -1, -1, -1, 1, 40, 104, 112,
     0, 0, 36, 0,  16, 32, 48,  72, 56, 48, 2, 5,  6},
    {10, 1, 24, -1, 32, 24, 96, -1, -1, -1, 2, 40, 104, 112,
     0,  0, 36, 0,  16, 32, 48, 72, 56, 48, 2, 5,  6},
    {11,  2,   56, 8, 32, 48, 56, 69, 68, -1, 0, 72, 112, 120,
     128, 184, 48, 0, 16, 32, 48, 72, 56, 48, 2, 5,  6},
    {12,  3,   56, 0, 0,  8,  56, 70, -1, 3,  0, 68, 112, 120,
     128, 192, 48, 0, 16, 32, 40, 56, 48, 40, 2, 5,  6},
    {13,  3,   72, -1,        0,  8,  56, 70, -1, 3,  0, 68, 112, 120,
     128, 200, 48, 0x2000000, 16, 32, 40, 56, 48, 40, 2, 5,  6},
};

#define MEMTAP_PY_LAYOUTS 5

#endif
