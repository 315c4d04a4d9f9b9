/* Putting an image's records in order (reader/decode/merge.c, order.c): records of the
 * process (source 0) and of each thread arrive in CHUNKs in file order and are replayed in
 * key order; watermarks bound what a source may still send; the checks that keep a damaged
 * or hostile file from misleading the replay. */
#include "support/capture_builder.h"

static cb_case_t t;

static void setup(void) { cb_case_init(&t); }
static void teardown(void) { cb_case_done(&t); }
TestSuite(merge, .init = setup, .fini = teardown);

static int decode(int whole) { return cb_case_decode(&t, whole); }
static void expect_corrupt(const char *what) { cb_case_expect_corrupt(&t, what); }

/* Source 0: module, two threads, one stack node, all at key 0. */
static void start(void) {
    cb_header(&t.c, 0);
    cb_module_enc(&t.s0.enc);
    cr_assert_eq(memtap_enc_thread(&t.s0.enc, 11, "one"), 0);
    cr_assert_eq(memtap_enc_thread(&t.s0.enc, 12, "two"), 0);
    memtap_enc_node(&t.s0.enc, 1, 0, 0x401000);
    cb_chunk(&t.c, 0, 0, &t.s0);
}

/* Source 0's last records, after every thread record (key k), and the trailer. */
static void finish(uint64_t k, int close_threads) {
    if (close_threads) {
        cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t.t1);
        cb_chunk(&t.c, 2, MEMTAP_WATERMARK_CLOSED, &t.t2);
    }
    cb_key(&t.s0, k);
    memtap_enc_u64(&t.s0.enc, MEMTAP_REC_EXIT, 5);
    memtap_enc_trailer(&t.s0.enc);
    cb_chunk(&t.c, 0, MEMTAP_WATERMARK_CLOSED, &t.s0);
}

/* Thread 1 frees X (ticket 5); thread 2 then gets X again (key 6). Thread 2's chunk comes
 * first in the file: replayed in file order, the reuse would meet a live block. */
static void reuse_across_threads(void) {
    start();
    cb_key(&t.t2, 6);
    memtap_enc_alloc(&t.t2.enc, MEMTAP_KIND_MALLOC, 0x5000, 20, 1);
    cb_chunk(&t.c, 2, 2 * 7, &t.t2);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1); /* key 0 */
    cb_free_at(&t.t1, 5, 0x5000);
    cb_chunk(&t.c, 1, 2 * 7, &t.t1);
    /* s0's records stay below the threads' watermarks: the nodes they use come first */
    t.t1.enc.allocations = t.t2.enc.allocations = 0;
    t.s0.enc.allocations = 2;
    t.s0.enc.frees = 1;
    t.s0.enc.nodes = 1;
}

Test(merge, records_are_replayed_in_key_order_not_file_order, .timeout = 60) {
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

Test(merge, a_cut_image_replays_what_arrived, .timeout = 60) {
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
Test(merge, a_cut_image_keeps_records_whose_thread_or_node_never_arrived, .timeout = 60) {
    start();
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x6000, 20, 2); /* node 2: never written */
    cb_chunk(&t.c, 1, 2, &t.t1);
    memtap_enc_alloc(&t.t2.enc, MEMTAP_KIND_MALLOC, 0x7000, 30, 1);
    cb_chunk(&t.c, 3, 2, &t.t2); /* thread 3: its THREAD record never written */
    cr_assert_eq(decode(0), MEMTAP_OK, "%s", t.err);
    cr_assert(!t.r.complete);
    cr_assert_eq(t.r.allocations, 3);
    cr_assert_eq(t.r.leaked_bytes, 60);
    memtap_replay_free(&t.r);
    finish(1, 1); /* the same image whole: corrupt (node 2 is met first) */
    expect_corrupt("stack node not yet defined");
}

Test(merge, record_below_a_watermark_is_corrupt, .timeout = 60) {
    start();
    cb_chunk(&t.c, 1, 2 * 9, &t.t1); /* thread one: nothing below position 18 */
    cb_chunk(&t.c, 2, 2 * 9, &t.t2);
    cb_key(&t.s0, 9);
    memtap_enc_time(&t.s0.enc, 1, 4096); /* position 18: released */
    cb_chunk(&t.c, 0, 2 * 9, &t.s0);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1); /* position 0 after all */
    cb_chunk(&t.c, 1, 2 * 9, &t.t1);
    finish(10, 1);
    expect_corrupt("record out of order");
}

Test(merge, watermark_going_back_is_corrupt, .timeout = 60) {
    start();
    cb_chunk(&t.c, 1, 20, &t.t1);
    cb_chunk(&t.c, 1, 10, &t.t1);
    finish(10, 1);
    expect_corrupt("chunk watermark goes back");
}

Test(merge, records_of_an_unannounced_thread_are_corrupt, .timeout = 60) {
    start();
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1);
    cb_chunk(&t.c, 3, MEMTAP_WATERMARK_CLOSED, &t.t1); /* source 3: no THREAD record */
    finish(1, 1);
    expect_corrupt("before its THREAD record");
}

Test(merge, node_used_before_its_record_is_corrupt, .timeout = 60) {
    start();
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 2); /* node 2 comes at key 3 */
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t.t1);
    cb_key(&t.s0, 3);
    memtap_enc_node(&t.s0.enc, 2, 1, 0x401010);
    finish(4, 1);
    expect_corrupt("stack node not yet defined");
}

/* A record of the process held back by a thread's watermark has been parsed already, its
 * strings pointing into the process's queue; more of the process's records then arrive and
 * the queue moves (to its front, or to a larger block): the record must keep its strings
 * (the ASan reader once read a freed block here, on a real 41-process capture). */
Test(merge, a_process_record_held_back_keeps_its_strings_when_its_queue_moves, .timeout = 60) {
    start();
    cb_chunk(&t.c, 1, 2 * 3, &t.t1); /* thread one may still send from position 6 */
    cb_chunk(&t.c, 2, MEMTAP_WATERMARK_CLOSED, &t.t2);
    cb_key(&t.s0, 5); /* position 10: held back */
    memtap_segment_t seg = {0x600000, 0x1000, 5};
    cr_assert_eq(memtap_enc_module(&t.s0.enc, "/nonexistent/held.so", 0x600000, NULL, 0, &seg, 1),
                 0);
    cb_chunk(&t.c, 0, 2 * 5, &t.s0);
    static char long_path[20000]; /* more than the queue's first 4 KiB */
    memset(long_path, 'x', sizeof long_path - 1);
    long_path[0] = '/';
    for (int i = 0; i < 2; i++) { /* the queue moves to its front, then grows */
        cr_assert_eq(memtap_enc_module(&t.s0.enc, long_path, 0x700000 + 0x1000 * (uint64_t)i,
                                       NULL, 0, &seg, 1), 0);
        cb_chunk(&t.c, 0, 2 * 5, &t.s0);
    }
    cb_key(&t.t1, 3);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1); /* position 6 */
    t.t1.enc.allocations = 0;
    t.s0.enc.allocations = 1;
    t.s0.enc.nodes = 1;
    finish(6, 1);
    cr_assert_eq(decode(1), MEMTAP_OK, "%s", t.err);
    int held = 0, long_ones = 0;
    for (size_t i = 0; i < t.r.modules.n; i++) {
        held += !strcmp(t.r.modules.v[i].path, "/nonexistent/held.so");
        long_ones += !strcmp(t.r.modules.v[i].path, long_path);
    }
    cr_assert_eq(held, 1, "the held-back record's path");
    cr_assert_eq(long_ones, 2);
}

Test(merge, a_record_may_span_two_chunks_of_its_source, .timeout = 60) {
    start();
    memtap_enc_simple(&t.s0.enc, MEMTAP_REC_MODULES_RESET);
    memtap_segment_t seg = {0x600000, 0x1000, 5};
    cr_assert_eq(memtap_enc_module(&t.s0.enc, "/nonexistent/lib.so", 0x600000, NULL, 0, &seg, 1), 0);
    size_t half = t.s0.enc.len - 8; /* the MODULE record cut in two */
    cb_source_t tail;
    cb_process_init(&tail);
    memcpy(tail.buf, t.s0.buf + half, t.s0.enc.len - half);
    tail.enc.len = t.s0.enc.len - half;
    t.s0.enc.len = half;
    cb_chunk(&t.c, 0, 0, &t.s0);
    cb_chunk(&t.c, 0, 0, &tail);
    finish(0, 1);
    cr_assert_eq(decode(1), MEMTAP_OK, "%s", t.err);
    cr_assert_eq(t.r.modules.n, 2);
}

/* A thread's records cut at every byte: each record that spans two chunks is read whole. */
Test(merge, a_thread_record_may_span_two_chunks_of_its_source, .timeout = 60) {
    start();
    cb_key(&t.t1, 1);
    for (uint64_t i = 0; i < 40; i++) { /* full ALLOCs, model forms, references, frees */
        memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x5000 + 0x30 * (i % 7), 24 + i % 3, 1);
        if (i < 33) /* each key 1 higher: s0's EXIT comes after them all */
            memtap_enc_free(&t.t1.enc, 0x5000 + 0x30 * (i % 7));
    }
    size_t n = t.t1.enc.len;
    cr_assert_gt(n, 60);
    cb_source_t copy;
    memcpy(copy.buf, t.t1.buf, n);
    for (size_t i = 0; i < n; i++) { /* one byte a chunk */
        memcpy(t.t1.buf, copy.buf + i, 1);
        t.t1.enc.len = 1;
        cb_chunk(&t.c, 1, 2, &t.t1);
    }
    t.s0.enc.allocations = 40;
    t.s0.enc.frees = 33;
    t.s0.enc.nodes = 1;
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t.t1);
    cb_chunk(&t.c, 2, MEMTAP_WATERMARK_CLOSED, &t.t2);
    cb_key(&t.s0, 40);
    memtap_enc_u64(&t.s0.enc, MEMTAP_REC_EXIT, 5);
    memtap_enc_trailer(&t.s0.enc);
    cb_chunk(&t.c, 0, MEMTAP_WATERMARK_CLOSED, &t.s0);
    cr_assert_eq(decode(1), MEMTAP_OK, "%s", t.err);
    cr_assert_eq(t.r.allocations, 40);
    cr_assert_eq(t.r.frees, 33);
    cr_assert_eq(t.r.unknown_frees, 0);
    cr_assert_eq(t.r.live_blocks, 7, "the last 7, one at each address");
}

Test(merge, a_record_cut_by_the_end_of_its_image_is_corrupt, .timeout = 60) {
    start();
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x5000, 10, 1);
    t.t1.enc.len -= 1;
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t.t1);
    finish(1, 0);
    cb_chunk(&t.c, 2, MEMTAP_WATERMARK_CLOSED, &t.t2);
    expect_corrupt("record cut short by the end of its image");
}

Test(merge, random_damage_never_crashes, .timeout = 60) {
    reuse_across_threads();
    finish(8, 1);
    cb_case_random_damage(&t, 1000, 7);
}
