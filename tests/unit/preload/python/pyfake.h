/* Fake CPython objects laid out as memtap_py_layouts says (thread state, frames, code
 * objects, compact strings), and stubs of the few API functions pystack.c calls, for the
 * tests of preload/python. */
#ifndef MEMTAP_TEST_PYFAKE_H
#define MEMTAP_TEST_PYFAKE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/pycode.h"
#include "python/pylayout.h"
#include "python/pystack.h"
#include "python/python_api.h"

static char fake_code_type[64], fake_other_type[64];
static char fake_ts[256], fake_cframe[64];
static const memtap_py_layout_t *fl; /* the layout of the test's interpreter */
static int addr2line_calls;

static inline void put_ptr(char *base, unsigned offset, const void *p) {
    memcpy(base + offset, &p, sizeof p);
}
static inline void put_int(char *base, unsigned offset, int v) {
    memcpy(base + offset, &v, sizeof v);
}

/* Zeroed memory for fake objects, never freed (a bump arena: no leak to report). */
static inline char *blank(size_t bytes) {
    static _Alignas(16) char arena[32u << 20];
    static size_t used;
    bytes = (bytes + 15) & ~(size_t)15;
    cr_assert(used + bytes <= sizeof arena, "the fake objects' arena is full");
    used += bytes;
    return arena + used - bytes;
}

/* A compact str of n code points of `kind` bytes; ASCII when kind is 1 and every point is;
 * `utf8`: the UTF-8 copy CPython caches once asked (non-ASCII strings only), or NULL. */
static inline char *fake_str(const uint32_t *points, size_t n, int kind, const char *utf8) {
    int ascii = kind == 1;
    for (size_t i = 0; i < n; i++)
        ascii = ascii && points[i] < 0x80;
    size_t head = ascii ? fl->str_ascii_size : fl->str_compact_size;
    char *s = blank(head + (n + 1) * (size_t)kind);
    memcpy(s + fl->str_length, &n, sizeof n);
    uint32_t state = 1u << fl->str_compact_bit | (uint32_t)kind << fl->str_kind_shift |
                     (ascii ? 1u << fl->str_ascii_bit : 0);
    memcpy(s + fl->str_state, &state, sizeof state);
    for (size_t i = 0; i < n; i++) {
        if (kind == 1)
            s[head + i] = (char)points[i];
        else if (kind == 2)
            ((uint16_t *)(void *)(s + head))[i] = (uint16_t)points[i];
        else
            ((uint32_t *)(void *)(s + head))[i] = points[i];
    }
    if (!ascii && utf8) {
        size_t len = strlen(utf8);
        put_ptr(s, fl->str_utf8, utf8);
        memcpy(s + fl->str_utf8_length, &len, sizeof len);
    }
    return s;
}

static inline char *fake_ascii(const char *text) {
    size_t n = strlen(text);
    uint32_t *points = (uint32_t *)(void *)blank((n + 1) * sizeof *points);
    for (size_t i = 0; i < n; i++)
        points[i] = (uint8_t)text[i];
    return fake_str(points, n, 1, NULL);
}

#define CODE_ROOM 64 /* bytes of bytecode a fake code object has room for */

static inline char *fake_code_at(char *c, const char *name, const char *file, int first,
                                 uint32_t flags) {
    memset(c, 0, (size_t)(fl->co_code ? fl->co_code : 256) + CODE_ROOM);
    put_ptr(c, 8, fake_code_type);
    char *n = fake_ascii(name);
    put_ptr(c, fl->co_name, n);
    if (fl->co_qualname)
        put_ptr(c, fl->co_qualname, n);
    put_ptr(c, fl->co_filename, fake_ascii(file));
    put_int(c, fl->co_firstlineno, first);
    memcpy(c + fl->co_flags, &flags, sizeof flags);
    return c;
}

static inline char *fake_code(const char *name, const char *file, int first) {
    return fake_code_at(blank((size_t)(fl->co_code ? fl->co_code : 256) + CODE_ROOM), name, file,
                        first, 0);
}

/* A frame running code at byte offset `at`, called from `previous`; is_entry where the
 * layout has the field (3.11). */
static inline char *fake_frame(char *code, int at, char *previous, int is_entry) {
    char *f = blank(128);
    put_ptr(f, fl->fr_code, code);
    put_ptr(f, fl->fr_previous, previous);
    if (fl->style == MEMTAP_PYF_OBJECTS)
        put_int(f, fl->fr_instr, at / fl->lasti_bytes);
    else
        put_ptr(f, fl->fr_instr, code + fl->co_code + at);
    if (fl->fr_is_entry >= 0)
        f[fl->fr_is_entry] = (char)is_entry;
    return f;
}

/* The frame a run of the interpreter loop pushes on the C stack (3.12+). */
static inline char *fake_cstack(char *previous) {
    char *f = blank(128);
    put_ptr(f, fl->fr_code, fake_other_type);
    put_ptr(f, fl->fr_previous, previous);
    f[fl->fr_owner] = fl->owner_cstack;
    return f;
}

static inline void set_current(char *frame) {
    if (fl->cframe_current >= 0) {
        put_ptr(fake_ts, fl->ts_frame, fake_cframe);
        put_ptr(fake_cframe, (unsigned)fl->cframe_current, frame);
    } else {
        put_ptr(fake_ts, fl->ts_frame, frame);
    }
}

static inline void *stub_tstate(void) {
    return fake_ts;
}

/* Lines: the first line plus one per two bytes of bytecode (first line when negative). */
static inline int stub_addr2line(py_object_t *code, int offset) {
    addr2line_calls++;
    int first;
    memcpy(&first, (char *)code + fl->co_firstlineno, sizeof first);
    return first + (offset < 0 ? 0 : offset / 2);
}

/* Starts pystack on the layout of Python 3.minor with the stubs above. */
static inline void fake_python(int minor) {
    char version[32];
    snprintf(version, sizeof version, "3.%d.0 (main) [GCC]", minor);
    for (int i = 0; i < MEMTAP_PY_LAYOUTS; i++)
        if (memtap_py_layouts[i].minor == minor)
            fl = &memtap_py_layouts[i];
    cr_assert(fl, "no layout for 3.%d", minor);
    py.PyGILState_GetThisThreadState = stub_tstate;
    py.PyCode_Addr2Line = stub_addr2line;
    py.code_type = fake_code_type;
    cr_assert_eq(memtap_pystack_start(version), 0);
}

/* The calling thread's Python frames as memtap_stack_of_call reads them. */
static inline int read_frames(uint64_t *out, int room) {
    if (!memtap_pystack_depth())
        return 0;
    return memtap_pystack_frames(out, room);
}

static inline const char *name_of(uint64_t frame) {
    memtap_py_code_t *c = memtap_pystack_code(memtap_py_frame_code(frame));
    cr_assert(c, "frame names no code");
    return c->qualname;
}

#endif
