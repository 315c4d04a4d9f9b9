/* Recording in the thread's buffer: ALLOC, FREE, a realloc's FREE and ALLOC, MUNMAP, each
 * with a stack node the capture defines, in the order made, counted in the trailer;
 * nothing while tracking is off or when the real realloc fails; a failed write turns
 * tracking off with one line, and the program's calls go on. */
#include "support/live_capture.h"

#include <errno.h>

#include "core/track.h"
#include "memtap/format.h"

static char path[64];
static memtap_event_t ev[256];

static void teardown(void) { unlink(path); }
TestSuite(track, .init = live_prepare, .fini = teardown);

static void *returned;
static int fail_errno;
static void *fake_realloc(void *ctx, void *p, size_t n, size_t size) {
    cr_assert_eq(ctx, &returned);
    (void)p;
    cr_assert_eq(n, 0);
    (void)size;
    if (fail_errno)
        errno = fail_errno;
    return returned;
}

/* The events of the finished capture but HEADER, NODE, TIME and the end. */
static size_t records(memtap_event_t *out) {
    memtap_event_t all[256];
    size_t n = live_events(path, all, 256), k = 0;
    uint32_t nodes = 0;
    for (size_t i = 0; i < n; i++) {
        memtap_event_t *e = &all[i];
        if (e->type == MEMTAP_EV_NODE) {
            nodes = e->u.node.id;
            continue;
        }
        if (e->type == MEMTAP_EV_ALLOC)
            cr_assert(e->u.alloc.node > 0 && e->u.alloc.node <= nodes, "a stack defined before");
        if (e->type != MEMTAP_EV_HEADER && e->type != MEMTAP_EV_TIME &&
            e->type != MEMTAP_EV_EXIT && e->type != MEMTAP_EV_END)
            out[k++] = *e;
    }
    cr_assert_eq(all[n - 1].type, MEMTAP_EV_END);
    cr_assert(all[n - 1].u.end.complete);
    return k;
}

Test(track, each_call_is_recorded_in_order_with_its_stack, .timeout = 10) {
    live_begin(path, 0);
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x10000, 100);
    memtap_track_free((void *)0x10000);
    returned = (void *)0x30000;
    errno = 0;
    cr_assert_eq(memtap_track_realloc_with(MEMTAP_KIND_REALLOC, (void *)0x20000, 0, 50,
                                           fake_realloc, &returned),
                 returned);
    memtap_track_munmap((void *)0x40000, 8192);
    memtap_finish();
    size_t n = records(ev);
    cr_assert_eq(n, 7);
    cr_assert_eq(ev[0].type, MEMTAP_EV_THREAD);
    cr_assert_eq(ev[0].u.thread.index, 1);
    cr_assert_eq(ev[0].u.thread.tid, (uint64_t)gettid());
    cr_assert_eq(ev[1].type, MEMTAP_EV_ALLOC);
    cr_assert_eq(ev[1].u.alloc.kind, MEMTAP_KIND_MALLOC);
    cr_assert_eq(ev[1].u.alloc.addr, 0x10000);
    cr_assert_eq(ev[1].u.alloc.size, 100);
    cr_assert_eq(ev[2].type, MEMTAP_EV_FREE);
    cr_assert_eq(ev[2].u.free.addr, 0x10000);
    cr_assert_eq(ev[3].type, MEMTAP_EV_FREE, "realloc: the old block first");
    cr_assert_eq(ev[3].u.free.addr, 0x20000);
    cr_assert_eq(ev[4].type, MEMTAP_EV_ALLOC);
    cr_assert_eq(ev[4].u.alloc.kind, MEMTAP_KIND_REALLOC);
    cr_assert_eq(ev[4].u.alloc.addr, 0x30000);
    cr_assert_eq(ev[4].u.alloc.size, 50);
    cr_assert_neq(ev[4].u.alloc.node, ev[1].u.alloc.node, "another call, another stack");
    cr_assert_eq(ev[5].type, MEMTAP_EV_MUNMAP);
    cr_assert_eq(ev[5].u.free.addr, 0x40000);
    cr_assert_eq(ev[5].u.free.len, 8192);
    cr_assert_eq(ev[6].type, MEMTAP_EV_TRAILER);
    cr_assert_eq(ev[6].u.trailer.allocations, 2);
    cr_assert_eq(ev[6].u.trailer.frees, 3);
}

Test(track, a_failed_realloc_records_nothing_and_keeps_its_errno, .timeout = 10) {
    live_begin(path, 0);
    returned = NULL;
    fail_errno = ENOMEM;
    cr_assert_null(memtap_track_realloc_with(MEMTAP_KIND_REALLOC, (void *)0x20000, 0, 50,
                                             fake_realloc, &returned));
    cr_assert_eq(errno, ENOMEM);
    fail_errno = 0;
    /* glibc's realloc(p, 0) frees p and returns NULL */
    cr_assert_null(memtap_track_realloc_with(MEMTAP_KIND_REALLOC, (void *)0x50000, 0, 0,
                                             fake_realloc, &returned));
    memtap_finish();
    size_t n = records(ev);
    cr_assert_eq(n, 3);
    cr_assert_eq(ev[0].type, MEMTAP_EV_THREAD);
    cr_assert_eq(ev[1].type, MEMTAP_EV_FREE);
    cr_assert_eq(ev[1].u.free.addr, 0x50000);
    cr_assert_eq(ev[2].u.trailer.allocations, 0);
    cr_assert_eq(ev[2].u.trailer.frees, 1);
}

Test(track, nothing_is_recorded_while_tracking_is_off, .timeout = 10) {
    live_begin(path, 0);
    memtap_state = MEMTAP_STATE_OFF;
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x10000, 100);
    memtap_track_free((void *)0x10000);
    memtap_state = MEMTAP_STATE_ACTIVE;
    memtap_track_alloc(MEMTAP_KIND_CALLOC, (void *)0x60000, 60);
    memtap_finish();
    size_t n = records(ev);
    cr_assert_eq(n, 3);
    cr_assert_eq(ev[1].type, MEMTAP_EV_ALLOC);
    cr_assert_eq(ev[1].u.alloc.addr, 0x60000);
    cr_assert_eq(ev[2].u.trailer.allocations, 1);
    cr_assert_eq(ev[2].u.trailer.frees, 0);
}

Test(track, a_failed_write_turns_tracking_off_with_one_line, .timeout = 10) {
    memtap_stream_write = live_filling_disk;
    live_writes_left = 2; /* the piece header and the LZ4 frame's header, then the disk is full */
    live_begin(path, 0);
    live_catch_stderr();
    int calls = 0;
    for (uintptr_t a = 0x100000; calls < 400000 && memtap_tracking(); a += 4096, calls++) {
        memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)a, a & 0xfff0);
        memtap_track_free((void *)(a - 0x80000));
    }
    cr_assert_not(memtap_tracking(), "still on after %d calls", calls);
    memtap_track_alloc(MEMTAP_KIND_MALLOC, (void *)0x10, 1); /* and the calls go on */
    memtap_track_free((void *)0x10);
    cr_assert_str_eq(live_stderr_text(), "memtap: cannot write the capture: No space left on "
                                         "device; tracking is off, the program goes on\n");
}
