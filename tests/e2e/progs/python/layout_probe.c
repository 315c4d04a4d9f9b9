/* Compares memtap's table of CPython layouts (preload/python/pylayout.h) with the headers it
 * is compiled against: build with -DPy_BUILD_CORE and the interpreter's include directory
 * (its internal/ headers are needed from 3.11 on). Prints each value that differs and exits
 * 1; exits 0 when the table's entry for this version matches; `--print` prints the entry
 * the headers give, as a line for the table. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_frame.h>
#endif

#include "python/pylayout.h"

static int low_bit(const void *state) {
    uint32_t w;
    memcpy(&w, state, sizeof w);
    return w ? __builtin_ctz(w) : -1;
}

/* The state bit-field's bits, found by setting each field in a blank object. */
static void state_bits(memtap_py_layout_t *l) {
    PyASCIIObject a;
    memset(&a, 0, sizeof a);
    a.state.kind = 1;
    l->str_kind_shift = (uint8_t)low_bit(&a.state);
    memset(&a, 0, sizeof a);
    a.state.compact = 1;
    l->str_compact_bit = (uint8_t)low_bit(&a.state);
    memset(&a, 0, sizeof a);
    a.state.ascii = 1;
    l->str_ascii_bit = (uint8_t)low_bit(&a.state);
}

static memtap_py_layout_t from_headers(void) {
    memtap_py_layout_t l = {.minor = PY_MINOR_VERSION,
                            .cframe_current = -1,
                            .fr_owner = -1,
                            .fr_is_entry = -1,
                            .owner_cstack = -1};
#if PY_VERSION_HEX < 0x030B0000
    l.style = MEMTAP_PYF_OBJECTS;
    l.ts_frame = offsetof(PyThreadState, frame);
    l.fr_code = offsetof(PyFrameObject, f_code);
    l.fr_previous = offsetof(PyFrameObject, f_back);
    l.fr_instr = offsetof(PyFrameObject, f_lasti);
    l.lasti_bytes = PY_VERSION_HEX >= 0x030A0000 ? 2 : 1;
#else
    l.fr_previous = offsetof(_PyInterpreterFrame, previous);
    l.fr_owner = offsetof(_PyInterpreterFrame, owner);
    l.co_qualname = offsetof(PyCodeObject, co_qualname);
    l.co_code = offsetof(PyCodeObject, co_code_adaptive);
#if PY_VERSION_HEX < 0x030C0000
    l.style = MEMTAP_PYF_IS_ENTRY;
    l.fr_is_entry = offsetof(_PyInterpreterFrame, is_entry);
#else
    l.style = MEMTAP_PYF_CSTACK;
    l.owner_cstack = FRAME_OWNED_BY_CSTACK;
#endif
#if PY_VERSION_HEX < 0x030D0000
    l.ts_frame = offsetof(PyThreadState, cframe);
    l.cframe_current = offsetof(_PyCFrame, current_frame);
    l.fr_code = offsetof(_PyInterpreterFrame, f_code);
    l.fr_instr = offsetof(_PyInterpreterFrame, prev_instr);
#else
    l.ts_frame = offsetof(PyThreadState, current_frame);
    l.fr_code = offsetof(_PyInterpreterFrame, f_executable);
    l.fr_instr = offsetof(_PyInterpreterFrame, instr_ptr);
#endif
#endif
    l.co_firstlineno = offsetof(PyCodeObject, co_firstlineno);
    l.co_filename = offsetof(PyCodeObject, co_filename);
    l.co_name = offsetof(PyCodeObject, co_name);
    l.co_flags = offsetof(PyCodeObject, co_flags);
#ifdef CO_NO_MONITORING_EVENTS
    l.co_shim_flag = CO_NO_MONITORING_EVENTS;
#endif
    l.str_length = offsetof(PyASCIIObject, length);
    l.str_state = offsetof(PyASCIIObject, state);
    l.str_ascii_size = sizeof(PyASCIIObject);
    l.str_compact_size = sizeof(PyCompactUnicodeObject);
    l.str_utf8 = offsetof(PyCompactUnicodeObject, utf8);
    l.str_utf8_length = offsetof(PyCompactUnicodeObject, utf8_length);
    state_bits(&l);
    return l;
}

#define FIELDS(X)                                                                                  \
    X(style)                                                                                       \
    X(ts_frame) X(cframe_current) X(fr_code) X(fr_previous) X(fr_instr) X(fr_owner) X(fr_is_entry) \
        X(owner_cstack) X(lasti_bytes) X(co_firstlineno) X(co_filename) X(co_name) X(co_qualname)  \
            X(co_code) X(co_flags) X(co_shim_flag) X(str_length) X(str_state) X(str_ascii_size)    \
                X(str_compact_size) X(str_utf8) X(str_utf8_length) X(str_kind_shift)               \
                    X(str_compact_bit) X(str_ascii_bit)

int main(int argc, char **argv) {
    memtap_py_layout_t h = from_headers();
    if (argc > 1 && !strcmp(argv[1], "--print")) {
        printf("    {%d", h.minor);
#define PRINT(f) printf(", %d", (int)h.f);
        FIELDS(PRINT)
        printf("}, /* %s */\n", PY_VERSION);
        return 0;
    }
    for (int i = 0; i < MEMTAP_PY_LAYOUTS; i++) {
        const memtap_py_layout_t *t = &memtap_py_layouts[i];
        if (t->minor != h.minor)
            continue;
        int bad = 0, n = 0;
#define CHECK(f)                                                                                   \
    n++;                                                                                           \
    if (t->f != h.f) {                                                                             \
        printf("3.%d %s: memtap has %d, the headers %d\n", h.minor, #f, (int)t->f, (int)h.f);      \
        bad = 1;                                                                                   \
    }
        FIELDS(CHECK)
        if (!bad)
            printf("3.%d: %d values agree\n", h.minor, n);
        return bad;
    }
    printf("3.%d: memtap has no layout for this version\n", h.minor);
    return 1;
}
