/* Golden captures (tests/golden/NAME.hex, written byte by byte from docs/format.md, never by
 * the encoder): the decoder must give exactly the events the format says, and the replay
 * the figures worked out by hand; each corrupt one fails with its message and offset. Each
 * is read event by event (the validating path) and in batches (the fast paths), alike. */
#include "support/golden.h"

static golden_t g;
static memtap_replay_t r;
static char err[512];

static void teardown(void) {
    golden_done(&g);
    memtap_replay_free(&r);
}
TestSuite(golden, .fini = teardown);

#define A(kind, addr, size, node) {MEMTAP_EV_ALLOC, MEMTAP_KIND_##kind, addr, size, node}
#define F(addr) {MEMTAP_EV_FREE, 0, addr, 0, 0}
#define M(addr, len) {MEMTAP_EV_MUNMAP, 0, addr, len, 0}

/* The golden capture's ALLOC, FREE and MUNMAP events must be want[0..n), event by event
 * and in batches, and the others of each type as many as `types` says (NULL: any).
 * Returns the end's complete flag. */
static int expect_events(const cb_want_t *want, size_t n, const size_t *types) {
    size_t got[MEMTAP_EV_END + 1] = {0};
    int complete = cb_expect_events(g.path, want, n, got);
    for (int i = 0; types && i < MEMTAP_EV_END; i++)
        if (!cb_is_block_event(i))
            cr_assert_eq(got[i], types[i], "%zu events of type %d, want %zu", got[i], i,
                         types[i]);
    cb_expect_batches(g.path, want, n);
    return complete;
}

/* The site of the stack whose innermost frame is ip, in image `image`. */
static const memtap_site_t *site(uint32_t image, uint64_t ip) {
    for (size_t i = 1; i < r.sites.n; i++)
        if (r.sites.v[i].image == image && r.nodes.v[r.sites.v[i].node].frame == ip)
            return &r.sites.v[i];
    cr_assert_fail("no site at %#lx in image %u", (unsigned long)ip, image);
    return NULL;
}

Test(golden, thread_records, .timeout = 10) {
    golden_load(&g, "thread_records");
    static const cb_want_t want[] = {
        A(MALLOC, 0x5000, 24, 0),          A(CALLOC, 0x6000, 100, 2),
        A(CALLOC, 0x6070, 100, 2),         F(0x6000),
        A(MALLOC, 0x6000, 40, 0),          A(MMAP, 0x20000, 1ull << 28, 3),
        A(MALLOC, 0x6088, 7, 4),           F(0x6088),
        M(0x20000, 0x1000),                A(MMAP, 0x30000, 8192, 3),
        F(0x6070),                         F(0x5000),
        A(MALLOC, 0x6100, 40, 0),          F(0x6100),
        A(MMAP, 0x34000, 8192, 3),         F(0x6000),
        A(CALLOC, 0x6130, 100, 2),         A(CALLOC, 0x6200, 100, 2),
        F(0x6130),                         F(0x6200),
        A(CALLOC, 0x6200, 100, 2),
    };
    static const size_t types[MEMTAP_EV_END] = {
        [MEMTAP_EV_HEADER] = 1, [MEMTAP_EV_MODULES_RESET] = 1, [MEMTAP_EV_MODULE] = 1,
        [MEMTAP_EV_THREAD] = 1, [MEMTAP_EV_NODE] = 4,          [MEMTAP_EV_EXIT] = 1,
        [MEMTAP_EV_TRAILER] = 1};
    cr_assert(expect_events(want, sizeof want / sizeof *want, types));

    cr_assert_eq(cb_replay(g.path, &r, err, sizeof err), MEMTAP_OK, "%s", err);
    cr_assert(r.complete);
    cr_assert_eq(r.allocations, 12);
    cr_assert_eq(r.frees, 9);
    cr_assert_eq(r.unknown_frees, 0);
    cr_assert_eq(r.bytes_allocated, 268452451);
    cr_assert_eq(r.peak_bytes, 268447944);
    cr_assert_eq(r.peak_blocks, 5);
    cr_assert_eq(r.leaked_bytes, 268447844);
    cr_assert_eq(r.leaked_blocks, 4);
    cr_assert_eq(r.kinds[MEMTAP_KIND_MALLOC].count, 4);
    cr_assert_eq(r.kinds[MEMTAP_KIND_CALLOC].count, 5);
    cr_assert_eq(r.kinds[MEMTAP_KIND_MMAP].count, 3);
    const memtap_site_t *mmaps = site(0, 0x401008), *callocs = site(0, 0x401010);
    cr_assert_eq(mmaps->live_bytes, 268447744);
    cr_assert_eq(mmaps->live_blocks, 3);
    cr_assert_eq(mmaps->count, 3);
    cr_assert_eq(callocs->live_bytes, 100);
    cr_assert_eq(callocs->live_blocks, 1);
    cr_assert_eq(callocs->count, 5);
    cr_assert_eq(site(0, 0x402000)->live_bytes, 0);
    cr_assert_eq(r.images.v[0].pid, 1000);
    cr_assert_str_eq(r.images.v[0].exe, "/bin/prog");
    cr_assert_str_eq(r.images.v[0].cmdline, "prog -x");
    cr_assert_eq(r.modules.n, 1);
    cr_assert_str_eq(r.modules.v[0].path, "/bin/prog");
    cr_assert_eq(r.modules.v[0].build_id_len, 2);
    cr_assert_eq(r.modules.v[0].lo, 0x400000);
    cr_assert_eq(r.modules.v[0].hi, 0x401000);
}

Test(golden, two_images, .timeout = 10) {
    golden_load(&g, "two_images");
    static const cb_want_t want[] = {
        A(MALLOC, 0x7000, 64, 3), A(MALLOC, 0x8000, 32, 1), F(0x8000),
        A(MALLOC, 0x8000, 64, 3), F(0x7000),                A(MALLOC, 0x7000, 64, 3),
        F(0x8000), /* image 2 */  A(MALLOC, 0x9000, 1000, 1), A(MALLOC, 0x9400, 1000, 1),
        F(0x9000),
    };
    static const size_t types[MEMTAP_EV_END] = {
        [MEMTAP_EV_HEADER] = 2,    [MEMTAP_EV_MODULES_RESET] = 1, [MEMTAP_EV_MODULE] = 1,
        [MEMTAP_EV_THREAD] = 3,    [MEMTAP_EV_THREAD_NAME] = 1,   [MEMTAP_EV_NODE] = 4,
        [MEMTAP_EV_PY_CODE] = 1,   [MEMTAP_EV_TIME] = 1,          [MEMTAP_EV_MAIN_DONE] = 1,
        [MEMTAP_EV_EXEC] = 1,      [MEMTAP_EV_EXIT] = 1,          [MEMTAP_EV_TRAILER] = 2};
    cr_assert(expect_events(want, sizeof want / sizeof *want, types));

    cr_assert_eq(cb_replay(g.path, &r, err, sizeof err), MEMTAP_OK, "%s", err);
    cr_assert(r.complete);
    cr_assert_eq(r.images.n, 2);
    cr_assert_eq(r.images.v[0].ended, 2, "the first image execs");
    cr_assert_eq(r.images.v[1].ended, 1, "the second exits");
    cr_assert(r.images.v[1].flags & MEMTAP_HDR_AFTER_EXEC);
    cr_assert_str_eq(r.images.v[1].cmdline, "next");
    cr_assert(r.images.v[0].main_done);
    cr_assert_eq(r.images.v[0].main_done_ms, 60);
    cr_assert_eq(r.allocations, 6);
    cr_assert_eq(r.frees, 4);
    cr_assert_eq(r.unknown_frees, 0, "the reuse across threads is replayed in key order");
    cr_assert_eq(r.bytes_allocated, 2224);
    cr_assert_eq(r.peak_bytes, 2000);
    cr_assert_eq(r.peak_blocks, 2);
    cr_assert_eq(r.leaked_bytes, 1000);
    cr_assert_eq(r.leaked_blocks, 1);
    cr_assert_eq(r.max_rss, 1 << 20);
    cr_assert_eq(r.threads.n, 3);
    cr_assert_str_eq(r.threads.v[1].name, "w2");
    cr_assert_eq(r.threads.v[1].tid, 1001);
    cr_assert_eq(site(1, 0x500000)->live_bytes, 1000);
    cr_assert_eq(site(0, 0x401020)->count, 3);
    cr_assert_eq(site(0, 0x401020)->live_bytes, 0, "image 1's blocks vanish at its exec");
    /* node 2 of image 1 is the Python frame f, line 5, entered from C */
    const memtap_node_t *py = &r.nodes.v[site(0, 0x401020)->node];
    py = &r.nodes.v[py->parent];
    cr_assert(memtap_is_py_frame(py->frame));
    cr_assert_eq(memtap_py_frame_code(py->frame), 7);
    cr_assert_eq(memtap_py_frame_line(py->frame), 5);
    cr_assert(py->frame & MEMTAP_PY_ENTRY_BIT);
    cr_assert_eq(r.nodes.v[py->parent].frame, 0x401000);
    cr_assert_str_eq(memtap_replay_py_code(&r, 0, 7)->qualname, "f");
    cr_assert_str_eq(memtap_replay_py_code(&r, 0, 7)->filename, "a.py");
}

/* Keys stepped by SKIP_SHORT (one byte, 1 to 8) and SKIP alike put two threads' records and
 * the process's back in the order they were made: thread 2's free of 0x8000 before thread
 * 1 gets the address again. */
Test(golden, short_skips, .timeout = 10) {
    golden_load(&g, "short_skips");
    static const cb_want_t want[] = {
        A(MALLOC, 0x7000, 64, 1), A(MALLOC, 0x8000, 32, 1), F(0x7000),
        F(0x8000),                A(MALLOC, 0x8000, 32, 1), F(0x8000),
    };
    static const size_t types[MEMTAP_EV_END] = {
        [MEMTAP_EV_HEADER] = 1, [MEMTAP_EV_MODULES_RESET] = 1, [MEMTAP_EV_MODULE] = 1,
        [MEMTAP_EV_THREAD] = 2, [MEMTAP_EV_NODE] = 1,          [MEMTAP_EV_TIME] = 1,
        [MEMTAP_EV_EXIT] = 1,   [MEMTAP_EV_TRAILER] = 1};
    cr_assert(expect_events(want, sizeof want / sizeof *want, types));

    cr_assert_eq(cb_replay(g.path, &r, err, sizeof err), MEMTAP_OK, "%s", err);
    cr_assert(r.complete);
    cr_assert_eq(r.allocations, 3);
    cr_assert_eq(r.frees, 3);
    cr_assert_eq(r.unknown_frees, 0);
    cr_assert_eq(r.bytes_allocated, 128);
    cr_assert_eq(r.peak_bytes, 96);
    cr_assert_eq(r.peak_blocks, 2);
    cr_assert_eq(r.leaked_bytes, 0);
    cr_assert_eq(r.leaked_blocks, 0);
}

Test(golden, a_cut_capture_is_read_as_far_as_it_goes, .timeout = 10) {
    golden_load(&g, "cut");
    static const cb_want_t want[] = {A(MALLOC, 0x1000, 32, 1), A(MALLOC, 0x1010, 32, 1)};
    cr_assert_not(expect_events(want, 2, NULL), "the file ends inside its image");
    cr_assert_eq(cb_replay(g.path, &r, err, sizeof err), MEMTAP_OK, "%s", err);
    cr_assert_not(r.complete);
    cr_assert_eq(r.allocations, 2);
    cr_assert_eq(r.leaked_bytes, 64);
    cr_assert_eq(r.leaked_blocks, 2);
}

Test(golden, leak_classes, .timeout = 10) {
    golden_load(&g, "leak_classes");
    static const cb_want_t want[] = {A(MALLOC, 0x1000, 32, 1), A(MALLOC, 0x1100, 64, 1),
                                     A(MALLOC, 0x1200, 16, 1)};
    static const size_t types[MEMTAP_EV_END] = {
        [MEMTAP_EV_HEADER] = 1,     [MEMTAP_EV_THREAD] = 1,        [MEMTAP_EV_NODE] = 1,
        [MEMTAP_EV_EXIT] = 1,       [MEMTAP_EV_LEAK_SCAN] = 1,     [MEMTAP_EV_LEAK_CLASSES] = 1,
        [MEMTAP_EV_TRAILER] = 1};
    cr_assert(expect_events(want, sizeof want / sizeof *want, types));
    cr_assert_eq(cb_replay(g.path, &r, err, sizeof err), MEMTAP_OK, "%s", err);
    cr_assert(r.complete);
    cr_assert_eq(r.leak_scan, MEMTAP_LEAK_SCAN_DONE, "the hash matches the replay's blocks");
    cr_assert_eq(r.leak_scan_ms, 5);
    cr_assert_eq(r.leaked_blocks, 3);
    /* the replay's classes: the record's code + 1 (0: none) */
    static const struct { uint64_t addr; unsigned cls; } blocks[] = {
        {0x1000, MEMTAP_CLASS_DEFINITE + 1}, {0x1100, MEMTAP_CLASS_REACHABLE + 1},
        {0x1200, MEMTAP_CLASS_POSSIBLE + 1}};
    for (size_t i = 0; i < 3; i++) {
        const memtap_block_t *b = memtap_addrmap_get(&r.live, blocks[i].addr);
        cr_assert_not_null(b);
        cr_assert_eq(b->leak_class, blocks[i].cls, "block %#lx", (unsigned long)blocks[i].addr);
    }
}

/* Each corrupt golden capture fails with exactly its message (the offset in it worked out
 * by hand, @at lines in the file checking the count), event by event and in batches. */
Test(golden, corrupt_captures_fail_at_their_offset, .timeout = 10) {
    static const struct {
        const char *name;
        int rc;
        const char *message;
    } cases[] = {
        {"corrupt_trailer_count", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 90: trailer counts 2 allocations, 0 frees, 1 nodes; the image "
         "holds 1, 0, 1"},
        {"corrupt_ref_beyond_ring", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 73: address refers to a record the thread never wrote (record "
         "type 0x40)"},
        {"corrupt_undefined_node", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 68: allocation names a stack node not yet defined"},
        {"corrupt_site_not_own", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 68: allocation at a stack node the thread never allocated at "
         "(record type 0x80)"},
        {"corrupt_retired_type", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 68: record type 0x30 in the records of a thread"},
        {"corrupt_thread_unannounced", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 60: records of thread 1 before its THREAD record"},
        {"corrupt_below_watermark", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 89: record out of order (below an earlier chunk's watermark)"},
        {"corrupt_no_trailer", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 90: image ends without a trailer"},
        {"corrupt_leak_before_exit", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 98: leak classes before the image's exit (record type 0x26)"},
        {"corrupt_leak_beyond_scan", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 112: leak classes out of order (record type 0x27)"},
        {"corrupt_leak_truncated", MEMTAP_ERR_CORRUPT,
         "corrupt capture at byte 115: record cut short by the end of its image"},
        {"corrupt_version_4", MEMTAP_ERR_VERSION,
         "capture format version 4, this memtap reads version 6"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        golden_load(&g, cases[i].name);
        cr_assert_eq(cb_replay(g.path, &r, err, sizeof err), cases[i].rc, "%s: %s",
                     cases[i].name, err);
        cr_assert_str_eq(err, cases[i].message, "%s: %s", cases[i].name, err);
        golden_done(&g);
        memtap_replay_free(&r);
        memset(&r, 0, sizeof r); /* the fixture's teardown frees it again */
    }
}
