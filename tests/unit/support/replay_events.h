/* Test helper: feeds a replay events made by hand (no capture file), for the tests of the
 * replay and of what reads it. Header-only, for unit tests. */
#ifndef MEMTAP_TEST_REPLAY_EVENTS_H
#define MEMTAP_TEST_REPLAY_EVENTS_H

#include <criterion/criterion.h>
#include <string.h>

#include "replay/replay.h"

static inline void re_feed(memtap_replay_t *r, memtap_event_t e) {
    cr_assert_eq(memtap_replay_event(r, &e), 0);
}

/* r initialised, and an image of python3 begun. */
static inline void re_start_image(memtap_replay_t *r) {
    cr_assert_eq(memtap_replay_init(r), 0);
    memtap_event_t h = {.type = MEMTAP_EV_HEADER};
    h.u.header.exe = "/bin/python3";
    h.u.header.exe_len = 12;
    h.u.header.cmdline = "python3";
    h.u.header.cmdline_len = 7;
    re_feed(r, h);
}

static inline void re_node(memtap_replay_t *r, uint32_t id, uint32_t parent, uint64_t frame) {
    re_feed(r, (memtap_event_t){.type = MEMTAP_EV_NODE, .u.node = {id, parent, frame}});
}

/* A PyObject_Malloc block of size at addr, at stack node `at`. */
static inline void re_alloc(memtap_replay_t *r, uint64_t addr, uint64_t size, uint32_t at) {
    re_feed(r, (memtap_event_t){.type = MEMTAP_EV_ALLOC,
                                .u.alloc = {MEMTAP_KIND_PYMEM_OBJ, addr, size, at}});
}

/* Python code object id, function `name` in /app/main.py. */
static inline void re_code(memtap_replay_t *r, uint64_t id, const char *name) {
    memtap_event_t e = {.type = MEMTAP_EV_PY_CODE};
    e.u.py_code.id = id;
    e.u.py_code.firstline = 1;
    e.u.py_code.qualname = name;
    e.u.py_code.qualname_len = strlen(name);
    e.u.py_code.filename = "/app/main.py";
    e.u.py_code.filename_len = 12;
    re_feed(r, e);
}

#endif
