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
    memtap_event_t e = {.type = MEMTAP_EV_NODE};
    e.u.node.id = id;
    e.u.node.parent = parent;
    e.u.node.frame = frame;
    re_feed(r, e);
}

/* A PyObject_Malloc block of size at addr, at stack node `at`. */
static inline void re_alloc(memtap_replay_t *r, uint64_t addr, uint64_t size, uint32_t at) {
    memtap_event_t e = {.type = MEMTAP_EV_ALLOC};
    e.u.alloc.kind = MEMTAP_KIND_PYMEM_OBJ;
    e.u.alloc.addr = addr;
    e.u.alloc.size = size;
    e.u.alloc.node = at;
    re_feed(r, e);
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

/* --- more events, for the replay's own tests and the symbolizer's ---------------------- */

/* A capture's next header: a new image, or with MEMTAP_HDR_CONTINUED the same again. */
static inline void re_header(memtap_replay_t *r, const char *exe, const char *cmdline,
                             uint32_t flags) {
    re_feed(r, (memtap_event_t){.type = MEMTAP_EV_HEADER,
                                .u.header = {.flags = flags,
                                             .exe = exe,
                                             .exe_len = strlen(exe),
                                             .cmdline = cmdline,
                                             .cmdline_len = strlen(cmdline)}});
}

/* The next stack node under parent (0: the root), ids as the capture gives them since its
 * last header. Returns its id there; r->local_nodes.v[id] is the replay's own id. */
static inline uint32_t re_next_node(memtap_replay_t *r, uint32_t parent, uint64_t frame) {
    uint32_t id = (uint32_t)r->local_nodes.n;
    re_node(r, id, parent, frame);
    return id;
}

/* A block of allocator kind `kind`. */
static inline void re_alloc_kind(memtap_replay_t *r, unsigned kind, uint64_t addr, uint64_t size,
                                 uint32_t node) {
    re_feed(r,
            (memtap_event_t){.type = MEMTAP_EV_ALLOC,
                             .u.alloc = {.kind = kind, .addr = addr, .size = size, .node = node}});
}

static inline void re_free(memtap_replay_t *r, uint64_t addr) {
    re_feed(r, (memtap_event_t){.type = MEMTAP_EV_FREE, .u.free = {.addr = addr}});
}

static inline void re_munmap(memtap_replay_t *r, uint64_t addr, uint64_t len) {
    re_feed(r, (memtap_event_t){.type = MEMTAP_EV_MUNMAP, .u.free = {.addr = addr, .len = len}});
}

/* A module loaded at bias, its PT_LOAD segments segs[0..nseg). */
static inline void re_module(memtap_replay_t *r, const char *path, uint64_t bias,
                             const uint8_t *build_id, size_t build_id_len, const memtap_seg_t *segs,
                             size_t nseg) {
    re_feed(r, (memtap_event_t){.type = MEMTAP_EV_MODULE,
                                .u.module = {.path = path,
                                             .path_len = strlen(path),
                                             .bias = bias,
                                             .build_id = build_id,
                                             .build_id_len = build_id_len,
                                             .nseg = nseg,
                                             .segs = segs}});
}

#endif
