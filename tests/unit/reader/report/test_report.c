/* What the reports share: sizes and counts as text, allocator names, the ranking of
 * allocation sites by each figure (ties included), and --python-only's merging of stacks
 * that differ only in native frames. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "report/output.h"
#include "report/report.h"
#include "support/replay_events.h"

static const char *size_text(uint64_t bytes) {
    static char buf[64];
    return memtap_fmt_size(bytes, buf, sizeof buf);
}

static const char *count_text(uint64_t n) {
    static char buf[64];
    return memtap_fmt_count(n, buf, sizeof buf);
}

Test(output, sizes_in_binary_units, .timeout = 10) {
    cr_assert_str_eq(size_text(0), "0 B");
    cr_assert_str_eq(size_text(1023), "1023 B");
    cr_assert_str_eq(size_text(1024), "1.0 KiB");
    cr_assert_str_eq(size_text(1536), "1.5 KiB");
    cr_assert_str_eq(size_text(1024 * 1024 - 1), "1024.0 KiB"); /* rounds, unit kept */
    cr_assert_str_eq(size_text(3ull << 20), "3.0 MiB");
    cr_assert_str_eq(size_text(5ull << 30), "5.0 GiB");
    cr_assert_str_eq(size_text(1ull << 40), "1.0 TiB");
    cr_assert_str_eq(size_text(1ull << 50), "1.0 PiB");
    cr_assert_str_eq(size_text(1ull << 60), "1024.0 PiB"); /* no unit above PiB */
}

Test(output, counts_with_thousands_separators, .timeout = 10) {
    cr_assert_str_eq(count_text(0), "0");
    cr_assert_str_eq(count_text(999), "999");
    cr_assert_str_eq(count_text(1000), "1,000");
    cr_assert_str_eq(count_text(123456), "123,456");
    cr_assert_str_eq(count_text(1234567), "1,234,567");
    cr_assert_str_eq(count_text(UINT64_MAX), "18,446,744,073,709,551,615");
}

Test(output, a_count_never_overruns_a_short_buffer, .timeout = 10) {
    char buf[8];
    memset(buf, 'x', sizeof buf);
    memtap_fmt_count(123456789, buf, 5);
    cr_assert_str_eq(buf, "123");
    cr_assert_eq(buf[5], 'x', "nothing written past the given room");
}

Test(output, allocator_names, .timeout = 10) {
    cr_assert_str_eq(memtap_kind_name(MEMTAP_KIND_MALLOC), "malloc");
    cr_assert_str_eq(memtap_kind_name(MEMTAP_KIND_MMAP), "mmap");
    cr_assert_str_eq(memtap_kind_name(MEMTAP_KIND_PYMEM_OBJ), "pyobject");
    cr_assert_str_eq(memtap_kind_name(MEMTAP_KIND_COUNT), "unknown");
}

/* ---- ranking sites ------------------------------------------------------------------ */

static memtap_replay_t r;

static uint32_t node(uint32_t parent, uint64_t frame) {
    return re_next_node(&r, parent, frame);
}
static void alloc(uint64_t addr, uint64_t size, uint32_t node_id) {
    re_alloc_kind(&r, MEMTAP_KIND_MALLOC, addr, size, node_id);
}
static void release(uint64_t addr) {
    re_free(&r, addr);
}

static void setup(void) {
    cr_assert_eq(memtap_replay_init(&r), 0);
    re_header(&r, "/bin/x", "x", 0); /* (the first image: local node ids are global) */
}
static void teardown(void) {
    memtap_replay_free(&r);
}
TestSuite(sites, .init = setup, .fini = teardown);

/* The site of a node (sites are numbered as their first allocation came). */
static uint32_t site_of(uint32_t node_id) {
    return r.site_of_node.v[node_id];
}

/* Sorted site indexes must be want[0..n). */
static void expect_order(memtap_order_t by, const uint32_t *want, size_t n) {
    size_t got;
    uint32_t *order = memtap_sites_sorted(&r, r.sites.v, r.sites.n, by, &got);
    cr_assert_eq(got, n, "by %d: %zu sites ranked, want %zu", by, got, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(order[i], want[i], "by %d, place %zu: site %u, want %u", by, i, order[i],
                     want[i]);
    free(order);
}

Test(sites, ranked_by_each_figure_largest_first, .timeout = 10) {
    uint32_t a = node(0, 0x1000), b = node(0, 0x2000), c = node(0, 0x3000);
    alloc(0x100, 100, a); /* a: 3 x 100, one freed at once (temporary), two kept */
    release(0x100);
    alloc(0x200, 100, a);
    alloc(0x300, 100, a);
    alloc(0x400, 1000, b); /* b: one large block, freed after another allocation */
    alloc(0x500, 1, c);    /* c: five small ones, all kept */
    release(0x400);
    for (uint64_t i = 0; i < 4; i++)
        alloc(0x600 + 16 * i, 1, c);
    memtap_replay_finish(&r);
    uint32_t sa = site_of(a), sb = site_of(b), sc = site_of(c);
    expect_order(MEMTAP_BY_TOTAL, (uint32_t[]){sb, sa, sc}, 3);
    expect_order(MEMTAP_BY_COUNT, (uint32_t[]){sc, sa, sb}, 3);
    expect_order(MEMTAP_BY_PEAK, (uint32_t[]){sb, sa, sc}, 3); /* peak: 1201 at c's first */
    expect_order(MEMTAP_BY_LEAKED, (uint32_t[]){sa, sc}, 2);   /* b leaked nothing */
    expect_order(MEMTAP_BY_TEMPORARY, (uint32_t[]){sa}, 1);
    expect_order(MEMTAP_BY_HELD, (uint32_t[]){sa, sc}, 2); /* no MAIN_DONE: held = leaked */
}

Test(sites, ties_go_to_more_blocks_then_the_older_site, .timeout = 10) {
    uint32_t a = node(0, 0x1000), b = node(0, 0x2000), c = node(0, 0x3000);
    alloc(0x100, 60, a); /* a: 60 bytes in one block */
    alloc(0x200, 30, b); /* b: 60 bytes in two */
    alloc(0x300, 30, b);
    alloc(0x400, 60, c); /* c: as a, but newer */
    memtap_replay_finish(&r);
    expect_order(MEMTAP_BY_LEAKED, (uint32_t[]){site_of(b), site_of(a), site_of(c)}, 3);
}

Test(sites, zero_byte_leaks_still_count_as_blocks, .timeout = 10) {
    uint32_t a = node(0, 0x1000);
    alloc(0x100, 0, a);
    memtap_replay_finish(&r);
    expect_order(MEMTAP_BY_LEAKED, (uint32_t[]){site_of(a)}, 1);
    expect_order(MEMTAP_BY_TOTAL, NULL, 0);
}

Test(sites, python_only_merges_stacks_that_differ_in_native_frames, .timeout = 10) {
    /* two native callers of the same Python frame, a third Python frame elsewhere, and a
     * stack without Python frames */
    uint32_t n1 = node(0, 0x1000), n2 = node(0, 0x2000);
    uint32_t p1 = node(n1, memtap_py_frame(5, 10, 1)); /* entry bit: same Python frame */
    uint32_t p2 = node(n2, memtap_py_frame(5, 10, 0));
    uint32_t p3 = node(n2, memtap_py_frame(6, 20, 0));
    uint32_t native = node(n1, 0x3000);
    alloc(0x100, 10, p1);
    alloc(0x200, 20, p2);
    alloc(0x300, 40, p3);
    alloc(0x400, 80, native);
    release(0x100);
    memtap_replay_finish(&r);
    size_t n;
    memtap_site_t *view = memtap_view_sites(&r, 1, &n);
    cr_assert(view);
    cr_assert_eq(n, 4, "the unused [0] and three stacks, not four");
    /* in order of first allocation: p1 with p2 merged, p3, native */
    cr_assert_eq(view[1].total_bytes, 30);
    cr_assert_eq(view[1].count, 2);
    cr_assert_eq(view[1].live_bytes, 20);
    cr_assert_eq(view[1].live_blocks, 1);
    cr_assert_eq(memtap_site_peak_bytes(&r, &view[1]), 30, "both live at the peak");
    cr_assert_eq(view[2].total_bytes, 40);
    cr_assert_eq(view[3].total_bytes, 80);
    cr_assert_eq(view[3].node, native);
    size_t ranked;
    uint32_t *order = memtap_sites_sorted(&r, view, n, MEMTAP_BY_TOTAL, &ranked);
    cr_assert_eq(ranked, 3);
    cr_assert_eq(order[0], 3);
    cr_assert_eq(order[1], 2);
    cr_assert_eq(order[2], 1);
    free(order);
    free(view);
    view = memtap_view_sites(&r, 0, &n);
    cr_assert_eq(n, 5, "without --python-only, every stack is its own");
    free(view);
}
