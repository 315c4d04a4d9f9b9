/* Reading on two threads (reader/decode/pipeline.c): batches come in the capture's order,
 * and a reader that stops early stops the decoding thread too. */
#include "support/capture_builder.h"

static cb_case_t t;

static void setup(void) { cb_case_init(&t); }
static void teardown(void) { cb_case_done(&t); }
TestSuite(pipeline, .init = setup, .fini = teardown);

/* n allocations on one thread, each freed two allocations later: many batches. */
static const char *capture(uint32_t n) {
    cb_header(&t.c, 0);
    cr_assert_eq(memtap_enc_thread(&t.s0.enc, 11, "one"), 0);
    memtap_enc_node(&t.s0.enc, 1, 0, 0x401000);
    cb_chunk(&t.c, 0, 0, &t.s0);
    for (uint32_t i = 0; i < n; i++) {
        memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x10000 + 0x40 * (i % 3), 48, 1);
        if (i >= 2)
            memtap_enc_free(&t.t1.enc, 0x10000 + 0x40 * ((i - 2) % 3));
        if (t.t1.enc.len > 60000)
            cb_chunk(&t.c, 1, 2 * t.t1.enc.frees, &t.t1); /* the key: frees so far */
    }
    cb_finish(&t.c, &t.s0, n + 1, &t.t1, NULL);
    return cb_file(&t.c, 1);
}

Test(pipeline, batches_hold_every_event_in_order, .timeout = 30) {
    cr_assert_eq(cb_replay(capture(300000), &t.r, t.err, sizeof t.err), MEMTAP_OK, "%s", t.err);
    cr_assert_eq(t.r.allocations, 300000);
    cr_assert_eq(t.r.frees, 299998);
    cr_assert_eq(t.r.unknown_frees, 0);
    cr_assert_eq(t.r.leaked_blocks, 2);
    cr_assert_eq(t.r.peak_blocks, 3);
}

Test(pipeline, stopping_the_pipeline_early_does_not_hang, .timeout = 30) {
    memtap_decoder_t *d;
    cr_assert_eq(memtap_decoder_open(&d, capture(300000)), MEMTAP_OK);
    memtap_pipeline_t *p;
    cr_assert_eq(memtap_pipeline_start(&p, d), MEMTAP_OK);
    memtap_batch_t *b = memtap_pipeline_take(p);
    cr_assert_eq(b->rc, MEMTAP_OK);
    cr_assert_not(b->end, "the capture is many batches long");
    memtap_pipeline_give(p, b);
    usleep(100000); /* the decoding thread fills the free batches and waits */
    memtap_pipeline_stop(p);
    memtap_decoder_free(d);
}
