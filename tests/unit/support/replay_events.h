/* Test helper: feeds a replay hand-made events, one by one, as the decoder would give them
 * (no file involved). Header-only, for unit tests. */
#ifndef MEMTAP_TEST_REPLAY_EVENTS_H
#define MEMTAP_TEST_REPLAY_EVENTS_H

#include <criterion/criterion.h>
#include <string.h>

#include "replay/replay.h"

static inline void re_event(memtap_replay_t *r, memtap_event_t ev) {
    cr_assert_eq(memtap_replay_event(r, &ev), 0);
}

/* A capture frame's header: a new image, or with MEMTAP_HDR_CONTINUED the same again. */
static inline void re_header(memtap_replay_t *r, const char *exe, const char *cmdline,
                             uint32_t flags) {
    memtap_event_t h = {.type = MEMTAP_EV_HEADER};
    h.u.header.flags = flags;
    h.u.header.exe = exe;
    h.u.header.exe_len = strlen(exe);
    h.u.header.cmdline = cmdline;
    h.u.header.cmdline_len = strlen(cmdline);
    re_event(r, h);
}

/* The frame's next stack node, under the node the frame calls parent (0: the root).
 * Returns its id in the frame (local); r->frame_nodes.v[id] is its global id. */
static inline uint32_t re_node(memtap_replay_t *r, uint32_t parent, uint64_t frame) {
    memtap_event_t n = {.type = MEMTAP_EV_NODE};
    n.u.node.id = (uint32_t)r->frame_nodes.n;
    n.u.node.parent = parent;
    n.u.node.frame = frame;
    re_event(r, n);
    return n.u.node.id;
}

static inline void re_alloc(memtap_replay_t *r, unsigned kind, uint64_t addr, uint64_t size,
                            uint32_t node) {
    memtap_event_t e = {.type = MEMTAP_EV_ALLOC};
    e.u.alloc.kind = kind;
    e.u.alloc.addr = addr;
    e.u.alloc.size = size;
    e.u.alloc.node = node;
    re_event(r, e);
}

static inline void re_free(memtap_replay_t *r, uint64_t addr) {
    memtap_event_t e = {.type = MEMTAP_EV_FREE};
    e.u.free.addr = addr;
    re_event(r, e);
}

static inline void re_munmap(memtap_replay_t *r, uint64_t addr, uint64_t len) {
    memtap_event_t e = {.type = MEMTAP_EV_MUNMAP};
    e.u.free.addr = addr;
    e.u.free.len = len;
    re_event(r, e);
}

#endif
