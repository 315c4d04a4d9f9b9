/* The replay model: totals, leaks, peak and what each stack held at the peak, realloc,
 * partial munmap, exec. Events are fed directly, no file involved. */
#include <criterion/criterion.h>
#include <string.h>

#include "replay/replay.h"

static memtap_replay_t r;
static void setup(void) {
    cr_assert_eq(memtap_replay_init(&r), 0);
    memtap_event_t h = {.type = MEMTAP_EV_HEADER};
    h.u.header.exe = "/bin/x";
    h.u.header.exe_len = 6;
    h.u.header.cmdline = "x";
    h.u.header.cmdline_len = 1;
    cr_assert_eq(memtap_replay_event(&r, &h), 0);
    for (uint32_t id = 1; id <= 3; id++) { /* three one-frame stacks */
        memtap_event_t n = {.type = MEMTAP_EV_NODE};
        n.u.node.id = id;
        n.u.node.parent = 0;
        n.u.node.frame = 0x1000 * id;
        cr_assert_eq(memtap_replay_event(&r, &n), 0);
    }
}
static void teardown(void) { memtap_replay_free(&r); }
TestSuite(replay, .init = setup, .fini = teardown);

static void alloc(unsigned kind, uint64_t addr, uint64_t size, uint32_t node) {
    memtap_event_t e = {.type = MEMTAP_EV_ALLOC};
    e.u.alloc.kind = kind;
    e.u.alloc.addr = addr;
    e.u.alloc.size = size;
    e.u.alloc.node = node;
    cr_assert_eq(memtap_replay_event(&r, &e), 0);
}
static void release(uint64_t addr) {
    memtap_event_t e = {.type = MEMTAP_EV_FREE};
    e.u.free.addr = addr;
    cr_assert_eq(memtap_replay_event(&r, &e), 0);
}
static void unmap(uint64_t addr, uint64_t len) {
    memtap_event_t e = {.type = MEMTAP_EV_MUNMAP};
    e.u.free.addr = addr;
    e.u.free.len = len;
    cr_assert_eq(memtap_replay_event(&r, &e), 0);
}
/* A frame header: a new image (AFTER_EXEC) or the same one again (CONTINUED). */
static void header(uint32_t flags) {
    memtap_event_t h = {.type = MEMTAP_EV_HEADER};
    h.u.header.flags = flags;
    h.u.header.exe = "";
    h.u.header.cmdline = "";
    cr_assert_eq(memtap_replay_event(&r, &h), 0);
}
static const memtap_site_t *site(uint32_t node) { return &r.sites.v[r.site_of_node.v[node]]; }

Test(replay, totals_and_leaks, .timeout = 30) {
    alloc(MEMTAP_KIND_MALLOC, 0x100, 10, 1);
    alloc(MEMTAP_KIND_MALLOC, 0x200, 20, 1);
    alloc(MEMTAP_KIND_CALLOC, 0x300, 30, 2);
    release(0x200);
    release(0x999); /* never seen: allocated before tracking */
    memtap_replay_finish(&r);
    cr_assert_eq(r.allocations, 3);
    cr_assert_eq(r.frees, 1);
    cr_assert_eq(r.unknown_frees, 1);
    cr_assert_eq(r.bytes_allocated, 60);
    cr_assert_eq(r.leaked_bytes, 40);
    cr_assert_eq(r.leaked_blocks, 2);
    cr_assert_eq(r.kinds[MEMTAP_KIND_MALLOC].leaked_bytes, 10);
    cr_assert_eq(r.kinds[MEMTAP_KIND_CALLOC].leaked_bytes, 30);
    cr_assert_eq(site(1)->total_bytes, 30);
    cr_assert_eq(site(1)->count, 2);
    cr_assert_eq(site(1)->live_bytes, 10);
}

Test(replay, peak_per_site_is_the_state_at_the_global_peak, .timeout = 30) {
    alloc(MEMTAP_KIND_MALLOC, 0x100, 100, 1); /* 100 */
    alloc(MEMTAP_KIND_MALLOC, 0x200, 50, 2);  /* 150: peak so far */
    release(0x100);                           /* 50 */
    alloc(MEMTAP_KIND_MALLOC, 0x300, 120, 3); /* 170: new peak: site1 0, site2 50, site3 120 */
    release(0x300);                           /* 50 */
    alloc(MEMTAP_KIND_MALLOC, 0x400, 110, 1); /* 160: below the peak */
    memtap_replay_finish(&r);
    cr_assert_eq(r.peak_bytes, 170);
    cr_assert_eq(memtap_site_peak_bytes(&r, site(1)), 0);
    cr_assert_eq(memtap_site_peak_bytes(&r, site(2)), 50);
    cr_assert_eq(memtap_site_peak_bytes(&r, site(3)), 120);
    uint64_t sum = 0;
    for (size_t i = 1; i < r.sites.n; i++)
        sum += memtap_site_peak_bytes(&r, &r.sites.v[i]);
    cr_assert_eq(sum, r.peak_bytes);
}

Test(replay, realloc_moves_a_block, .timeout = 30) {
    alloc(MEMTAP_KIND_MALLOC, 0x100, 10, 1);
    release(0x100); /* realloc's old block */
    alloc(MEMTAP_KIND_REALLOC, 0x500, 1000, 2);
    memtap_replay_finish(&r);
    cr_assert_eq(r.leaked_bytes, 1000);
    cr_assert_eq(r.peak_bytes, 1000);
    cr_assert_eq(r.kinds[MEMTAP_KIND_REALLOC].leaked_blocks, 1);
}

Test(replay, partial_munmap_splits_and_shrinks, .timeout = 30) {
    alloc(MEMTAP_KIND_MMAP, 0x10000, 0x4000, 1); /* four pages */
    unmap(0x11000, 0x1000);                      /* a hole: two mappings left */
    cr_assert_eq(r.regions.n, 2);
    cr_assert_eq(r.live_bytes, 0x3000);
    cr_assert_eq(site(1)->live_blocks, 2);
    unmap(0x10000, 0x1000); /* the first piece entirely */
    unmap(0x13000, 0x1000); /* the tail of the second */
    memtap_replay_finish(&r);
    cr_assert_eq(r.leaked_bytes, 0x1000);
    cr_assert_eq(r.leaked_blocks, 1);
    cr_assert_eq(r.kinds[MEMTAP_KIND_MMAP].leaked_bytes, 0x1000);
    unmap(0x50000, 0x1000); /* not ours */
    cr_assert_eq(r.unknown_frees, 1);
}

Test(replay, exec_drops_the_old_image, .timeout = 30) {
    alloc(MEMTAP_KIND_MALLOC, 0x100, 10, 1);
    alloc(MEMTAP_KIND_MMAP, 0x10000, 0x1000, 2);
    header(MEMTAP_HDR_AFTER_EXEC);
    memtap_replay_finish(&r);
    cr_assert_eq(r.leaked_bytes, 0);
    cr_assert_eq(r.peak_bytes, 10 + 0x1000);
    cr_assert_eq(r.images.n, 2);
}

Test(replay, continued_frame_keeps_blocks, .timeout = 30) {
    alloc(MEMTAP_KIND_MALLOC, 0x100, 10, 1);
    header(MEMTAP_HDR_CONTINUED);
    release(0x100);
    memtap_replay_finish(&r);
    cr_assert_eq(r.leaked_bytes, 0);
    cr_assert_eq(r.unknown_frees, 0);
}

Test(replay, address_reused_without_free_replaces_the_block, .timeout = 30) {
    alloc(MEMTAP_KIND_MALLOC, 0x100, 10, 1);
    alloc(MEMTAP_KIND_MALLOC, 0x100, 30, 2);
    memtap_replay_finish(&r);
    cr_assert_eq(r.leaked_bytes, 30);
    cr_assert_eq(r.leaked_blocks, 1);
    cr_assert_eq(site(1)->live_bytes, 0);
}

Test(replay, temporaries_are_freed_before_any_other_allocation, .timeout = 30) {
    alloc(MEMTAP_KIND_MALLOC, 0x100, 10, 1);
    release(0x100); /* temporary */
    alloc(MEMTAP_KIND_MALLOC, 0x200, 10, 1);
    alloc(MEMTAP_KIND_MALLOC, 0x300, 10, 2);
    release(0x200); /* another allocation came between: not temporary */
    release(0x300); /* the latest allocation, but a free came between: still temporary */
    alloc(MEMTAP_KIND_MALLOC, 0x400, 10, 3);
    release(0x999);
    release(0x400); /* an unmatched free in between does not count as an allocation */
    cr_assert_eq(r.temporary, 3);
    cr_assert_eq(site(1)->temporary, 1);
    cr_assert_eq(site(2)->temporary, 1);
    cr_assert_eq(site(3)->temporary, 1);
}
