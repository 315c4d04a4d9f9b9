/* The process's records (reader/decode/records.c): modules, threads, stack nodes, Python
 * code and frames, time markers, MAIN_DONE, through the real encoder and back; each field
 * out of range is corruption at its record's offset. */
#include "support/capture_builder.h"

static cb_case_t t;

static void setup(void) { cb_case_init(&t); }
static void teardown(void) { cb_case_done(&t); }
TestSuite(records, .init = setup, .fini = teardown);

/* The header, a module, a thread and a stack node in source 0 (key 0). */
static void start(void) {
    cb_header(&t.c, 0);
    cb_module_enc(&t.s0.enc);
    cr_assert_eq(memtap_enc_thread(&t.s0.enc, 77, "main"), 0);
    memtap_enc_node(&t.s0.enc, 1, 0, 0x401000);
}

/* Appends raw bytes to source 0 (a record the encoder would not write). */
static void raw(const uint8_t *p, size_t n) {
    memcpy(t.s0.buf + t.s0.enc.len, p, n);
    t.s0.enc.len += n;
}

/* Ends the image (source 0's records so far in one chunk, then EXIT and the trailer). */
static void finish(void) {
    cb_chunk(&t.c, 0, 0, &t.s0);
    cb_finish(&t.c, &t.s0, 1, &t.t1, NULL);
}

static int next(memtap_decoder_t *d, memtap_event_t *ev) {
    int rc = memtap_decoder_next(d, ev);
    cr_assert_eq(rc, MEMTAP_OK, "%s", memtap_decoder_error(d));
    return ev->type;
}

Test(records, every_process_record_comes_back, .timeout = 60) {
    start();
    cr_assert_eq(memtap_enc_thread_name(&t.s0.enc, 1, "worker"), 0);
    cr_assert_eq(memtap_enc_py_code(&t.s0.enc, 7, 12, "Cls.method", 10, "/x/app.py", 9), 0);
    memtap_enc_py_node(&t.s0.enc, 2, 1, 7, 15, 1);
    memtap_enc_node(&t.s0.enc, 3, 2, 0x401010); /* delta from the last native frame */
    memtap_enc_time(&t.s0.enc, 40, 8192);
    memtap_enc_u64(&t.s0.enc, MEMTAP_REC_MAIN_DONE, 42);
    cb_chunk(&t.c, 0, 0, &t.s0);
    cb_key(&t.t1, 1);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_PYMEM_OBJ, 0x1000, 64, 3);
    cb_finish(&t.c, &t.s0, 2, &t.t1, NULL);
    memtap_decoder_t *d;
    cr_assert_eq(memtap_decoder_open(&d, cb_file(&t.c, 1)), MEMTAP_OK);
    memtap_event_t ev;
    cr_assert_eq(next(d, &ev), MEMTAP_EV_HEADER);
    cr_assert_eq(ev.u.header.version, MEMTAP_FORMAT_VERSION);
    cr_assert_eq(ev.u.header.pid, 1234);
    cr_assert_eq(ev.u.header.page_size, 4096);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_MODULES_RESET);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_MODULE);
    cr_assert_eq(ev.u.module.nseg, 1);
    cr_assert_eq(ev.u.module.segs[0].memsz, 0x100000);
    cr_assert_eq(ev.u.module.build_id_len, 4);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_THREAD);
    cr_assert_eq(ev.u.thread.index, 1);
    cr_assert_eq(ev.u.thread.tid, 77);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_NODE);
    cr_assert_eq(ev.u.node.frame, 0x401000);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_THREAD_NAME);
    cr_assert_eq(ev.u.thread.index, 1);
    cr_assert(ev.u.thread.name_len == 6 && !memcmp(ev.u.thread.name, "worker", 6));
    cr_assert_eq(next(d, &ev), MEMTAP_EV_PY_CODE);
    cr_assert_eq(ev.u.py_code.id, 7);
    cr_assert_eq(ev.u.py_code.firstline, 12);
    cr_assert_eq(ev.u.py_code.qualname_len, 10);
    cr_assert(!memcmp(ev.u.py_code.qualname, "Cls.method", 10));
    cr_assert(!memcmp(ev.u.py_code.filename, "/x/app.py", 9));
    cr_assert_eq(next(d, &ev), MEMTAP_EV_NODE);
    cr_assert(memtap_is_py_frame(ev.u.node.frame));
    cr_assert_eq(memtap_py_frame_code(ev.u.node.frame), 7);
    cr_assert_eq(memtap_py_frame_line(ev.u.node.frame), 15);
    cr_assert(ev.u.node.frame & MEMTAP_PY_ENTRY_BIT);
    cr_assert_eq(ev.u.node.parent, 1);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_NODE);
    cr_assert_eq(ev.u.node.frame, 0x401010);
    cr_assert_eq(ev.u.node.id, 3);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_TIME);
    cr_assert(ev.u.time.ms == 40 && ev.u.time.rss == 8192);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_MAIN_DONE);
    cr_assert_eq(ev.u.time.ms, 42);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_ALLOC);
    cr_assert_eq(ev.u.alloc.kind, MEMTAP_KIND_PYMEM_OBJ);
    cr_assert_eq(ev.u.alloc.node, 3);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_EXIT);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_TRAILER);
    cr_assert_eq(next(d, &ev), MEMTAP_EV_END);
    cr_assert(ev.u.end.complete);
    memtap_decoder_free(d);
}

Test(records, a_python_node_with_code_id_0_is_corrupt, .timeout = 60) {
    start();
    memtap_enc_py_node(&t.s0.enc, 2, 1, 0, 3, 0);
    finish();
    cb_case_expect_corrupt(&t, "Python frame out of range");
}

Test(records, a_node_its_own_parent_is_corrupt, .timeout = 60) {
    start();
    raw((const uint8_t[]){MEMTAP_REC_NODE, 0, 0}, 3); /* id - parent == 0 */
    finish();
    cb_case_expect_corrupt(&t, "stack node parent out of range");
}

Test(records, a_thread_name_of_4_eib_is_refused_not_allocated, .timeout = 60) {
    start();
    uint8_t rec[16] = {MEMTAP_REC_THREAD, 1};
    raw(rec, 2 + memtap_varint_put(rec + 2, 1ull << 62));
    finish();
    cb_case_expect_corrupt(&t, "thread name too long");
}

Test(records, too_many_segments, .timeout = 60) {
    start();
    uint8_t rec[16] = {MEMTAP_REC_MODULE, 1, '/', 0, 0}; /* path "/", bias 0, no build-id */
    raw(rec, 5 + memtap_varint_put(rec + 5, 1000000));
    finish();
    cb_case_expect_corrupt(&t, "too many segments");
}

Test(records, renaming_an_unknown_thread_is_corrupt, .timeout = 60) {
    start();
    cr_assert_eq(memtap_enc_thread_name(&t.s0.enc, 2, "ghost"), 0);
    finish();
    cb_case_expect_corrupt(&t, "unknown thread index");
}

/* Retired types (THREAD_SWITCH, ALLOC_SAME) and unused ones are unknown; thread records
 * are out of place among the process's. */
Test(records, types_that_are_not_process_records, .timeout = 60) {
    const uint8_t types[] = {0x04, 0x30, 0x3f, 0x28, 0x2f, 0x00, 0x11, 0x06, 0x22, 0x41, 0x80};
    for (size_t i = 0; i < sizeof types; i++) {
        if (i) {
            teardown();
            setup();
        }
        start();
        size_t at = t.c.enc.len + 4 + t.s0.enc.len; /* the chunk's header is 4 bytes here */
        raw(&types[i], 1);
        raw((const uint8_t[]){1, 1, 1}, 3);
        finish();
        int thread = types[i] >= 0x40 || (types[i] & 0xf0) == 0x10 || types[i] == 0x06 ||
                     types[i] == 0x22;
        char want[128];
        if (thread)
            snprintf(want, sizeof want, "at byte %zu: record type 0x%02x in the records of the "
                     "process", at, types[i]);
        else
            snprintf(want, sizeof want, "at byte %zu: unknown record type (record type 0x%02x)",
                     at, types[i]);
        cb_case_expect_corrupt(&t, want);
    }
}

Test(records, random_damage_never_crashes, .timeout = 60) {
    start();
    cr_assert_eq(memtap_enc_py_code(&t.s0.enc, 7, 12, "f", 1, "/x/app.py", 9), 0);
    for (uint32_t id = 2; id < 200; id++) {
        if (id % 3)
            memtap_enc_node(&t.s0.enc, id, id / 2, 0x401000 + 16 * id);
        else
            memtap_enc_py_node(&t.s0.enc, id, id - 1, 7, id, id & 1);
    }
    finish();
    cb_case_random_damage(&t, 1000, 99);
}
