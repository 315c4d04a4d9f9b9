/* Format v3: records of the process (source 0) and of each thread arrive in CHUNKs in file
 * order and are replayed in key order; watermarks bound what a source may still send; the
 * checks that keep a damaged or hostile file from misleading the replay. */
#include "support/capture_builder.h"

static cb_case_t t;
static cb_source_t s0, t1, t2;

static void setup(void) {
    cb_init(&t.c);
    cb_source_init(&s0);
    cb_source_init(&t1);
    cb_source_init(&t2);
}
static void teardown(void) { cb_case_done(&t); }
TestSuite(v3, .init = setup, .fini = teardown);

static int decode(int whole) { return cb_case_decode(&t, whole); }
static void expect_corrupt(const char *what) { cb_case_expect_corrupt(&t, what); }

/* Source 0: module, two threads, one stack node, all at key 0. */
static void start(void) {
    cb_header_v3(&t.c, 0);
    cb_module_enc(&s0.enc);
    cr_assert_eq(memtap_enc_thread(&s0.enc, 11, "one"), 0);
    cr_assert_eq(memtap_enc_thread(&s0.enc, 12, "two"), 0);
    memtap_enc_node(&s0.enc, 1, 0, 0x401000);
    cb_chunk(&t.c, 0, 0, &s0);
}

/* Source 0's last records, after every thread record (key k), and the trailer. */
static void finish(uint64_t k, int close_threads) {
    if (close_threads) {
        cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t1);
        cb_chunk(&t.c, 2, MEMTAP_WATERMARK_CLOSED, &t2);
    }
    cb_key(&s0, k);
    memtap_enc_u64(&s0.enc, MEMTAP_REC_EXIT, 5);
    memtap_enc_trailer(&s0.enc);
    cb_chunk(&t.c, 0, MEMTAP_WATERMARK_CLOSED, &s0);
}

/* Thread 1 frees X (ticket 5); thread 2 then gets X again (key 6). Thread 2's chunk comes
 * first in the file: replayed in file order, the reuse would meet a live block. */
static void reuse_across_threads(void) {
    start();
    cb_key(&t2, 6);
    memtap_enc_alloc(&t2.enc, MEMTAP_KIND_MALLOC, 0x5000, 20, 1);
    cb_chunk(&t.c, 2, 2 * 7, &t2);
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1); /* key 0 */
    cb_free_at(&t1, 5, 0x5000);
    cb_chunk(&t.c, 1, 2 * 7, &t1);
    /* s0's records stay below the threads' watermarks: the nodes they use come first */
    t1.enc.allocations = t2.enc.allocations = 0;
    s0.enc.allocations = 2;
    s0.enc.frees = 1;
    s0.enc.nodes = 1;
}

Test(v3, records_are_replayed_in_key_order_not_file_order) {
    reuse_across_threads();
    finish(8, 1);
    cr_assert_eq(decode(1), MEMTAP_OK, "%s", t.err);
    cr_assert(t.r.complete);
    cr_assert_eq(t.r.allocations, 2);
    cr_assert_eq(t.r.frees, 1);
    cr_assert_eq(t.r.unknown_frees, 0);
    cr_assert_eq(t.r.leaked_blocks, 1);
    cr_assert_eq(t.r.leaked_bytes, 20, "the live block is thread two's");
    cr_assert_eq(t.r.threads.n, 2);
    cr_assert_eq(t.r.peak_bytes, 20);
}

Test(v3, an_allocation_at_the_same_stack_as_the_last_is_short) {
    start();
    memtap_enc_node(&s0.enc, 2, 1, 0x401010);
    t.c.enc.nodes = 0;
    cb_chunk(&t.c, 0, 0, &s0);
    size_t before = t1.enc.len;
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 2);
    size_t full = t1.enc.len - before; /* type, address delta, size, node */
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5010, 10, 2); /* node 2 again */
    size_t same = t1.enc.len - before - full;
    cr_assert_eq(t1.buf[before + full], MEMTAP_REC_ALLOC_SAME | MEMTAP_KIND_MALLOC);
    cr_assert_eq(same, 3, "type, address delta, size: the node is left out");
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_CALLOC, 0x5020, 30, 1);
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5030, 40, 1);
    cb_chunk(&t.c, 1, 2, &t1); /* ALLOC_SAME may follow a chunk boundary too: */
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5040, 50, 1);
    s0.enc.allocations = 5;
    s0.enc.nodes = 2;
    finish(1, 1);
    cr_assert_eq(decode(1), MEMTAP_OK, "%s", t.err);
    cr_assert_eq(t.r.allocations, 5);
    cr_assert_eq(t.r.leaked_bytes, 140);
    /* node 2's site holds the first two blocks, node 1's the other three */
    uint64_t at2 = 0, at1 = 0;
    for (size_t i = 1; i < t.r.sites.n; i++) {
        if (t.r.sites.v[i].count == 2)
            at2 = t.r.sites.v[i].live_bytes;
        if (t.r.sites.v[i].count == 3)
            at1 = t.r.sites.v[i].live_bytes;
    }
    cr_assert_eq(at2, 20);
    cr_assert_eq(at1, 120);
}

Test(v3, the_short_form_is_unknown_before_version_3) {
    cb_header(&t.c, 0);
    memtap_enc_node(&t.c.enc, 1, 0, 0x401000);
    memtap_enc_alloc(&t.c.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1);
    memtap_enc_test_form(&t.c.enc, MEMTAP_ENC_SAME_NODE);
    memtap_enc_alloc(&t.c.enc, MEMTAP_KIND_MALLOC, 0x5010, 10, 1);
    cb_end(&t.c);
    expect_corrupt("unknown record type");
}

Test(v3, truncated_frame_replays_what_arrived) {
    reuse_across_threads();
    cr_assert_eq(decode(0), MEMTAP_OK, "%s", t.err);
    cr_assert(!t.r.complete);
    cr_assert_eq(t.r.allocations, 2);
    cr_assert_eq(t.r.frees, 1);
    cr_assert_eq(t.r.unknown_frees, 0);
}

/* SIGKILL after a thread wrote a full buffer but before the process's records it needs
 * (its THREAD, a new stack node) reached the file: the cut capture still reads, with what
 * cannot be placed kept without a stack. */
Test(v3, a_cut_frame_keeps_records_whose_thread_or_node_never_arrived) {
    start();
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1);
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x6000, 20, 2); /* node 2: never written */
    cb_chunk(&t.c, 1, 2, &t1);
    memtap_enc_alloc(&t2.enc, MEMTAP_KIND_MALLOC, 0x7000, 30, 1);
    cb_chunk(&t.c, 3, 2, &t2); /* thread 3: its THREAD record never written */
    cr_assert_eq(decode(0), MEMTAP_OK, "%s", t.err);
    cr_assert(!t.r.complete);
    cr_assert_eq(t.r.allocations, 3);
    cr_assert_eq(t.r.leaked_bytes, 60);
    memtap_replay_free(&t.r);
    finish(1, 1); /* the same frame whole: corrupt (node 2 is met first) */
    expect_corrupt("stack node not yet defined");
}

Test(v3, record_below_a_watermark_is_corrupt) {
    start();
    cb_chunk(&t.c, 1, 2 * 9, &t1); /* thread one: nothing below position 18 */
    cb_chunk(&t.c, 2, 2 * 9, &t2);
    cb_key(&s0, 9);
    memtap_enc_time(&s0.enc, 1, 4096); /* position 18: released */
    cb_chunk(&t.c, 0, 2 * 9, &s0);
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1); /* position 0 after all */
    cb_chunk(&t.c, 1, 2 * 9, &t1);
    finish(10, 1);
    expect_corrupt("record out of order");
}

Test(v3, watermark_going_back_is_corrupt) {
    start();
    cb_chunk(&t.c, 1, 20, &t1);
    cb_chunk(&t.c, 1, 10, &t1);
    finish(10, 1);
    expect_corrupt("chunk watermark goes back");
}

Test(v3, thread_records_hold_only_allocations_and_frees) {
    start();
    memtap_enc_node(&t1.enc, 2, 1, 0x401010);
    cb_chunk(&t.c, 1, 2, &t1);
    finish(1, 1);
    expect_corrupt("in the records of a thread");
}

Test(v3, process_records_hold_no_allocation) {
    start();
    memtap_enc_alloc(&s0.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1);
    cb_chunk(&t.c, 0, 2, &s0);
    finish(1, 1);
    expect_corrupt("in the records of the process");
}

Test(v3, records_of_an_unannounced_thread_are_corrupt) {
    start();
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1);
    cb_chunk(&t.c, 3, MEMTAP_WATERMARK_CLOSED, &t1); /* source 3: no THREAD record */
    finish(1, 1);
    expect_corrupt("before its THREAD record");
}

Test(v3, node_used_before_its_record_is_corrupt) {
    start();
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 2); /* node 2 comes at key 3 */
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t1);
    cb_key(&s0, 3);
    memtap_enc_node(&s0.enc, 2, 1, 0x401010);
    finish(4, 1);
    expect_corrupt("stack node not yet defined");
}

Test(v3, a_record_may_span_two_chunks_of_its_source) {
    start();
    memtap_enc_simple(&s0.enc, MEMTAP_REC_MODULES_RESET);
    memtap_segment_t seg = {0x600000, 0x1000, 5};
    cr_assert_eq(memtap_enc_module(&s0.enc, "/nonexistent/lib.so", 0x600000, NULL, 0, &seg, 1), 0);
    size_t half = s0.enc.len - 8; /* the MODULE record cut in two */
    cb_source_t tail;
    cb_source_init(&tail);
    memcpy(tail.buf, s0.buf + half, s0.enc.len - half);
    tail.enc.len = s0.enc.len - half;
    s0.enc.len = half;
    cb_chunk(&t.c, 0, 0, &s0);
    cb_chunk(&t.c, 0, 0, &tail);
    finish(0, 1);
    cr_assert_eq(decode(1), MEMTAP_OK, "%s", t.err);
    cr_assert_eq(t.r.modules.n, 2);
}

Test(v3, record_cut_by_the_frame_end_is_corrupt) {
    start();
    memtap_enc_alloc(&t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1);
    t1.enc.len -= 1;
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t1);
    finish(1, 0);
    cb_chunk(&t.c, 2, MEMTAP_WATERMARK_CLOSED, &t2);
    expect_corrupt("cut short");
}

Test(v3, only_chunks_after_the_header) {
    start();
    memtap_enc_time(&t.c.enc, 1, 1);
    expect_corrupt("only chunks");
}

Test(v3, random_damage_never_crashes, .timeout = 60) {
    reuse_across_threads();
    finish(8, 1);
    cb_case_random_damage(&t, 3000, 7);
}
