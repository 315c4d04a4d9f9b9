/* The decoder: valid captures decode; each kind of corruption gives a clear error naming
 * the offset; truncation reads as incomplete; no input makes it crash or hang. */
#include "support/capture_builder.h"

static cb_case_t t;

static void setup(void) { cb_init(&t.c); }
static void teardown(void) { cb_case_done(&t); }
TestSuite(decoder, .init = setup, .fini = teardown);

/* A small valid program: two stacks, three blocks, one freed. */
static void valid_body(void) {
    cb_header(&t.c, 0);
    cb_module(&t.c);
    cr_assert_eq(memtap_enc_thread(&t.c.enc, 77, "main"), 0);
    memtap_enc_node(&t.c.enc, 1, 0, 0x401000);
    memtap_enc_node(&t.c.enc, 2, 1, 0x402000);
    memtap_enc_alloc(&t.c.enc, MEMTAP_KIND_MALLOC, 0x10000, 100, 2);
    memtap_enc_alloc(&t.c.enc, MEMTAP_KIND_CALLOC, 0x20000, 50, 1);
    memtap_enc_alloc(&t.c.enc, MEMTAP_KIND_MALLOC, 0x30000, 7, 2);
    memtap_enc_free(&t.c.enc, 0x20000);
    memtap_enc_time(&t.c.enc, 3, 1 << 20);
}

static int decode(int whole) { return cb_case_decode(&t, whole); }
static void expect_corrupt(const char *what) { cb_case_expect_corrupt(&t, what); }

Test(decoder, valid_capture) {
    valid_body();
    cb_end(&t.c);
    cr_assert_eq(decode(1), MEMTAP_OK, "%s", t.err);
    cr_assert(t.r.complete);
    cr_assert_eq(t.r.allocations, 3);
    cr_assert_eq(t.r.frees, 1);
    cr_assert_eq(t.r.leaked_bytes, 107);
    cr_assert_eq(t.r.leaked_blocks, 2);
    cr_assert_eq(t.r.threads.n, 1);
    cr_assert_eq(t.r.threads.v[0].tid, 77);
    cr_assert_str_eq(t.r.threads.v[0].name, "main");
    cr_assert_eq(t.r.modules.n, 1);
    cr_assert_eq(t.r.images.v[0].pid, 1234);
    cr_assert_str_eq(t.r.images.v[0].cmdline, "./prog arg");
    cr_assert_eq(t.r.max_rss, 1 << 20);
}

Test(decoder, truncated_stream_is_incomplete_not_corrupt) {
    valid_body();
    size_t full = t.c.enc.len;
    for (size_t cut = full - 1; cut > full - 12; cut--) {
        t.c.enc.len = cut; /* the file ends inside a record: the program was killed */
        memtap_replay_free(&t.r);
        cr_assert_eq(decode(0), MEMTAP_OK, "cut at %zu: %s", cut, t.err);
        cr_assert_not(t.r.complete);
    }
}

Test(decoder, missing_trailer_in_a_closed_frame) {
    valid_body();
    memtap_enc_u64(&t.c.enc, MEMTAP_REC_EXIT, 5);
    expect_corrupt("frame ends without a trailer");
}

Test(decoder, trailer_counts_must_match) {
    valid_body();
    t.c.enc.allocations++;
    cb_end(&t.c);
    expect_corrupt("trailer counts 4 allocations");
}

Test(decoder, bad_magic) {
    valid_body();
    t.c.buf[0] = 'X';
    cb_end(&t.c);
    expect_corrupt("bad magic");
}

Test(decoder, newer_version_refused_clearly) {
    valid_body();
    t.c.buf[MEMTAP_MAGIC_LEN] = MEMTAP_FORMAT_VERSION + 1;
    cb_end(&t.c);
    cr_assert_eq(decode(1), MEMTAP_ERR_VERSION);
    cr_assert(strstr(t.err, "newer than this memtap reads"), "%s", t.err);
}

Test(decoder, unknown_record_type) {
    valid_body();
    t.c.buf[t.c.enc.len++] = 0x7f;
    cb_end(&t.c);
    expect_corrupt("unknown record type");
}

Test(decoder, allocation_with_undefined_stack) {
    valid_body();
    memtap_enc_alloc(&t.c.enc, MEMTAP_KIND_MALLOC, 0x50000, 1, 99);
    cb_end(&t.c);
    expect_corrupt("stack node not yet defined");
}

Test(decoder, node_parent_out_of_range) {
    valid_body();
    t.c.buf[t.c.enc.len++] = MEMTAP_REC_NODE;
    t.c.buf[t.c.enc.len++] = 0; /* id - parent == 0: a node its own parent */
    t.c.buf[t.c.enc.len++] = 0;
    cb_end(&t.c);
    expect_corrupt("parent out of range");
}

Test(decoder, unknown_allocator_kind) {
    valid_body();
    memtap_enc_alloc(&t.c.enc, 0x0e, 0x50000, 1, 1);
    cb_end(&t.c);
    expect_corrupt("unknown allocator kind");
}

Test(decoder, unknown_thread_index) {
    valid_body();
    memtap_enc_u64(&t.c.enc, MEMTAP_REC_THREAD_SWITCH, 5);
    cb_end(&t.c);
    expect_corrupt("unknown thread index");
}

Test(decoder, absurd_lengths_are_refused_not_allocated) {
    valid_body();
    t.c.buf[t.c.enc.len++] = MEMTAP_REC_THREAD;
    t.c.buf[t.c.enc.len++] = 1;
    t.c.enc.len += memtap_varint_put(t.c.buf + t.c.enc.len, 1ull << 62); /* a name of 4 EiB */
    cb_end(&t.c);
    expect_corrupt("thread name too long");
}

Test(decoder, too_many_segments) {
    valid_body();
    t.c.buf[t.c.enc.len++] = MEMTAP_REC_MODULE;
    t.c.buf[t.c.enc.len++] = 1;
    t.c.buf[t.c.enc.len++] = '/';
    t.c.buf[t.c.enc.len++] = 0; /* bias */
    t.c.buf[t.c.enc.len++] = 0; /* no build-id */
    t.c.enc.len += memtap_varint_put(t.c.buf + t.c.enc.len, 1000000);
    cb_end(&t.c);
    expect_corrupt("too many segments");
}

Test(decoder, overlong_varint) {
    valid_body();
    t.c.buf[t.c.enc.len++] = MEMTAP_REC_FREE;
    for (int i = 0; i < 11; i++)
        t.c.buf[t.c.enc.len++] = 0xff;
    cb_end(&t.c);
    expect_corrupt("address");
}

Test(decoder, record_after_trailer) {
    valid_body();
    cb_end(&t.c);
    memtap_enc_free(&t.c.enc, 0x10000);
    expect_corrupt("record after the trailer");
}

Test(decoder, empty_and_foreign_files) {
    char path[64];
    snprintf(path, sizeof path, "%s", cb_file(&t.c, 1));
    FILE *fp = fopen(path, "wb");
    fclose(fp);
    cr_assert_eq(cb_replay(path, &t.r, t.err, sizeof t.err), MEMTAP_ERR_CORRUPT);
    cr_assert(strstr(t.err, "empty file"), "%s", t.err);
    memtap_replay_free(&t.r);
    fp = fopen(path, "wb");
    fputs("#!/bin/sh\necho not a capture\n", fp);
    fclose(fp);
    cr_assert_eq(cb_replay(path, &t.r, t.err, sizeof t.err), MEMTAP_ERR_CORRUPT);
    cr_assert(strstr(t.err, "not a memtap capture"), "%s", t.err);
}

Test(decoder, two_frames_after_exec) {
    valid_body();
    memtap_enc_u64(&t.c.enc, MEMTAP_REC_EXEC, 4);
    memtap_enc_trailer(&t.c.enc);
    const char *path = cb_file(&t.c, 1);
    memtap_enc_reset(&t.c.enc);
    cb_header(&t.c, MEMTAP_HDR_AFTER_EXEC);
    memtap_enc_node(&t.c.enc, 1, 0, 0x401000);
    memtap_enc_alloc(&t.c.enc, MEMTAP_KIND_MALLOC, 0x10000, 5, 1);
    cb_end(&t.c);
    FILE *fp = fopen(path, "ab");
    cb_frame(fp, t.c.buf, t.c.enc.len, 1);
    fclose(fp);
    cr_assert_eq(cb_replay(path, &t.r, t.err, sizeof t.err), MEMTAP_OK, "%s", t.err);
    cr_assert_eq(t.r.images.n, 2);
    cr_assert(t.r.complete);
    cr_assert_eq(t.r.leaked_bytes, 5, "the first image's blocks vanish at exec");
    cr_assert_eq(t.r.allocations, 4);
}

/* Random damage to a valid capture, at the record level and at the file level: the decoder
 * must end every time, with an answer or a clean error. */
Test(decoder, random_damage_never_crashes, .timeout = 60) {
    valid_body();
    for (int i = 0; i < 200; i++)
        memtap_enc_alloc(&t.c.enc, MEMTAP_KIND_MALLOC, 0x40000 + (uint64_t)i * 32, (uint64_t)i, 2);
    cb_end(&t.c);
    size_t n = t.c.enc.len;
    uint8_t *orig = malloc(n);
    memcpy(orig, t.c.buf, n);
    srand(12345);
    for (int round = 0; round < 2000; round++) {
        memcpy(t.c.buf, orig, n);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            t.c.buf[(size_t)rand() % n] ^= (uint8_t)(1 + rand() % 255);
        t.c.enc.len = round % 3 == 0 ? (size_t)rand() % n : n;
        memtap_replay_free(&t.r);
        int rc = decode(round % 2);
        cr_assert(rc == MEMTAP_OK || rc == MEMTAP_ERR_CORRUPT || rc == MEMTAP_ERR_VERSION);
    }
    /* damage to the compressed bytes themselves */
    memcpy(t.c.buf, orig, n);
    t.c.enc.len = n;
    const char *path = cb_file(&t.c, 1);
    FILE *fp = fopen(path, "rb");
    uint8_t file[1 << 16];
    size_t fn = fread(file, 1, sizeof file, fp);
    fclose(fp);
    for (int round = 0; round < 500; round++) {
        uint8_t copy[1 << 16];
        memcpy(copy, file, fn);
        copy[(size_t)rand() % fn] ^= (uint8_t)(1 + rand() % 255);
        fp = fopen(path, "wb");
        fwrite(copy, 1, round % 4 == 0 ? (size_t)rand() % fn : fn, fp);
        fclose(fp);
        memtap_replay_free(&t.r);
        int rc = cb_replay(path, &t.r, t.err, sizeof t.err);
        cr_assert(rc == MEMTAP_OK || rc == MEMTAP_ERR_CORRUPT || rc == MEMTAP_ERR_VERSION);
    }
    free(orig);
}
