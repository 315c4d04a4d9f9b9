/* The replay model: totals, leaks, peak and what each stack held at the peak, realloc,
 * partial munmap, exec. Events are fed directly, no file involved. */
#include <stdio.h>
#include <criterion/criterion.h>
#include <string.h>

#include "replay/replay.h"
#include "support/replay_events.h"

static memtap_replay_t r;
static void setup(void) {
    cr_assert_eq(memtap_replay_init(&r), 0);
    re_header(&r, "/bin/x", "x", 0);
    for (uint32_t id = 1; id <= 3; id++) /* three one-frame stacks */
        re_next_node(&r, 0, 0x1000 * id);
}
static void teardown(void) { memtap_replay_free(&r); }
TestSuite(replay, .init = setup, .fini = teardown);

static void alloc(unsigned kind, uint64_t addr, uint64_t size, uint32_t node) {
    re_alloc_kind(&r, kind, addr, size, node);
}
static void release(uint64_t addr) { re_free(&r, addr); }
static void unmap(uint64_t addr, uint64_t len) { re_munmap(&r, addr, len); }
/* A frame header: a new image (AFTER_EXEC) or the same one again (CONTINUED). */
static void header(uint32_t flags) { re_header(&r, "", "", flags); }
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

/* A node is one per (image, parent, frame): a continued frame names the same nodes again
 * with ids of its own; a new image has nodes of its own. Past the key table's first slots. */
Test(replay, nodes_are_shared_within_an_image_only, .timeout = 30) {
    enum { N = 3000 };
    uint32_t first[N];
    for (uint32_t i = 0; i < N; i++) {
        uint32_t local = re_next_node(&r, i % 2 ? (uint32_t)r.local_nodes.n - 1 : 0, 0x5000 + 16 * i);
        first[i] = r.local_nodes.v[local];
    }
    size_t nodes = r.nodes.n;
    cr_assert_eq(nodes, 4 + N, "the root, three, and the new ones");
    header(MEMTAP_HDR_CONTINUED);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t local = re_next_node(&r, i % 2 ? (uint32_t)r.local_nodes.n - 1 : 0, 0x5000 + 16 * i);
        cr_assert_eq(r.local_nodes.v[local], first[i], "node %u", i);
    }
    cr_assert_eq(r.nodes.n, nodes, "no node is new");
    header(MEMTAP_HDR_AFTER_EXEC);
    uint32_t local = re_next_node(&r, 0, 0x5000);
    cr_assert_eq(r.local_nodes.v[local], nodes, "a new image: a new node");
    cr_assert_eq(r.nodes.v[nodes].image, 1);
}

static void py_code(uint64_t id, const char *qualname) {
    re_code(&r, id, qualname);
}

Test(replay, python_code_objects_by_image_and_id, .timeout = 30) {
    char name[32];
    for (uint64_t id = 1; id <= 1000; id++) { /* past the index's first slots */
        snprintf(name, sizeof name, "f%llu", (unsigned long long)id);
        py_code(id * 0x1000, name);
    }
    header(MEMTAP_HDR_CONTINUED);
    py_code(5 * 0x1000, "f5"); /* defined again by the next frame: the same code */
    cr_assert_eq(r.py_codes.n, 1000);
    header(MEMTAP_HDR_AFTER_EXEC);
    py_code(5 * 0x1000, "other"); /* the same id in a new image: another code */
    cr_assert_eq(r.py_codes.n, 1001);
    for (uint64_t id = 1; id <= 1000; id++) {
        const memtap_py_code_t *c = memtap_replay_py_code(&r, 0, id * 0x1000);
        snprintf(name, sizeof name, "f%llu", (unsigned long long)id);
        cr_assert(c && !strcmp(c->qualname, name), "code %llu", (unsigned long long)id);
    }
    cr_assert_str_eq(memtap_replay_py_code(&r, 1, 5 * 0x1000)->qualname, "other");
    cr_assert_null(memtap_replay_py_code(&r, 1, 6 * 0x1000));
    cr_assert_null(memtap_replay_py_code(&r, 0, 7));
}
