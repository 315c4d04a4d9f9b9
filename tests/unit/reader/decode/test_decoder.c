/* The decoder's driver (reader/decode/decoder.c): images one after another, the format
 * version, a file cut short (incomplete, not corrupt), empty and foreign files, damage at
 * the record and the LZ4 level; every problem a clear error naming the offset. */
#include "support/capture_builder.h"

static cb_case_t t;

static void setup(void) { cb_case_init(&t); }
static void teardown(void) { cb_case_done(&t); }
TestSuite(decoder, .init = setup, .fini = teardown);

/* A small valid program: two stacks, three blocks, one freed (keys 1 to 4), a time marker
 * (key 5). */
static void valid_body(void) {
    cb_header(&t.c, 0);
    cb_module_enc(&t.s0.enc);
    cr_assert_eq(memtap_enc_thread(&t.s0.enc, 77, "main"), 0);
    memtap_enc_node(&t.s0.enc, 1, 0, 0x401000);
    memtap_enc_node(&t.s0.enc, 2, 1, 0x402000);
    cb_chunk(&t.c, 0, 0, &t.s0);
    cb_key(&t.t1, 1);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x10000, 100, 2);
    cb_key(&t.t1, 2);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_CALLOC, 0x20000, 50, 1);
    cb_key(&t.t1, 3);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x30000, 7, 2);
    cb_free_at(&t.t1, 4, 0x20000);
    cb_chunk(&t.c, 1, 2 * 5, &t.t1);
    cb_key(&t.s0, 5);
    memtap_enc_time(&t.s0.enc, 3, 1 << 20);
    cb_chunk(&t.c, 0, 2 * 5, &t.s0);
}

static int decode(int whole) { return cb_case_decode(&t, whole); }
static void expect_corrupt(const char *what) { cb_case_expect_corrupt(&t, what); }

Test(decoder, valid_capture, .timeout = 60) {
    valid_body();
    cb_finish(&t.c, &t.s0, 6, &t.t1, NULL);
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

Test(decoder, a_cut_capture_is_incomplete_not_corrupt, .timeout = 60) {
    valid_body();
    size_t full = t.c.enc.len;
    for (size_t cut = full - 1; cut > full - 40; cut--) {
        t.c.enc.len = cut; /* the file ends inside a chunk: the program was killed */
        memtap_replay_free(&t.r);
        cr_assert_eq(decode(0), MEMTAP_OK, "cut at %zu: %s", cut, t.err);
        cr_assert_not(t.r.complete);
    }
}

Test(decoder, an_image_without_a_trailer_is_corrupt, .timeout = 60) {
    valid_body();
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t.t1);
    cb_key(&t.s0, 6);
    memtap_enc_u64(&t.s0.enc, MEMTAP_REC_EXIT, 5);
    cb_chunk(&t.c, 0, MEMTAP_WATERMARK_CLOSED, &t.s0);
    expect_corrupt("image ends without a trailer");
}

Test(decoder, trailer_counts_must_match, .timeout = 60) {
    valid_body();
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t.t1);
    t.s0.enc.allocations = 4; /* 3 were written */
    t.s0.enc.frees = 1;
    cb_key(&t.s0, 6);
    memtap_enc_trailer(&t.s0.enc);
    cb_chunk(&t.c, 0, MEMTAP_WATERMARK_CLOSED, &t.s0);
    expect_corrupt("trailer counts 4 allocations, 1 frees, 2 nodes; the image holds 3, 1, 2");
}

Test(decoder, bad_magic, .timeout = 60) {
    valid_body();
    t.c.buf[0] = 'X';
    cb_finish(&t.c, &t.s0, 6, &t.t1, NULL);
    expect_corrupt("bad magic");
    /* the index reads every image's header: it names the file offset of the piece's LZ4
     * frame (after the 17-byte piece header) */
    cr_assert(strstr(t.err, "at byte 17:"), "%s", t.err);
}

/* Only the version this memtap writes is read: any other one says both. */
Test(decoder, another_format_version_is_refused_clearly, .timeout = 60) {
    valid_body();
    cb_finish(&t.c, &t.s0, 6, &t.t1, NULL);
    const unsigned versions[] = {0, 1, 4, MEMTAP_FORMAT_VERSION + 1, 0x105};
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        t.c.buf[MEMTAP_MAGIC_LEN] = (uint8_t)versions[i];
        t.c.buf[MEMTAP_MAGIC_LEN + 1] = (uint8_t)(versions[i] >> 8);
        memtap_replay_free(&t.r);
        cr_assert_eq(decode(1), MEMTAP_ERR_VERSION);
        char want[128];
        snprintf(want, sizeof want, "capture format version %u, this memtap reads version %u",
                 versions[i], MEMTAP_FORMAT_VERSION);
        cr_assert_str_eq(t.err, want);
    }
}

Test(decoder, an_image_holds_only_chunks_after_its_header, .timeout = 60) {
    valid_body();
    memtap_enc_time(&t.c.enc, 1, 1);
    expect_corrupt("an image holds only chunks after its header");
}

Test(decoder, record_after_trailer, .timeout = 60) {
    valid_body();
    cb_finish(&t.c, &t.s0, 6, &t.t1, NULL);
    memtap_enc_u64(&t.s0.enc, MEMTAP_REC_EXIT, 5);
    cb_chunk(&t.c, 0, MEMTAP_WATERMARK_CLOSED, &t.s0);
    expect_corrupt("chunk after the trailer");
}

Test(decoder, empty_and_foreign_files, .timeout = 60) {
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
    memtap_replay_free(&t.r);
    fp = fopen(path, "wb"); /* a piece whose LZ4 frame holds nothing */
    cb_piece_header(fp, 1, CB_WHOLE_IMAGE, 1234, 0);
    cb_compress(fp, t.c.buf, 0, 1);
    fclose(fp);
    cr_assert_eq(cb_replay(path, &t.r, t.err, sizeof t.err), MEMTAP_ERR_CORRUPT);
    cr_assert_str_eq(t.err, "corrupt capture at byte 17: stream 1 ends before its image "
                            "header does");
}

Test(decoder, a_second_image_after_exec, .timeout = 60) {
    valid_body();
    cb_finish_as(&t.c, &t.s0, 6, MEMTAP_REC_EXEC, &t.t1, NULL);
    const char *path = cb_file(&t.c, 1);
    memtap_enc_reset(&t.c.enc);
    memtap_enc_reset(&t.s0.enc);
    memtap_enc_reset(&t.t1.enc);
    t.s0.key = t.t1.key = 0;
    cb_header(&t.c, MEMTAP_HDR_AFTER_EXEC);
    cr_assert_eq(memtap_enc_thread(&t.s0.enc, 78, "main"), 0);
    memtap_enc_node(&t.s0.enc, 1, 0, 0x401000);
    cb_chunk(&t.c, 0, 0, &t.s0);
    memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x10000, 5, 1);
    cb_finish(&t.c, &t.s0, 1, &t.t1, NULL);
    FILE *fp = fopen(path, "ab");
    cb_piece_header(fp, 2, CB_WHOLE_IMAGE, 1234, 0);
    cb_compress(fp, t.c.buf, t.c.enc.len, 1);
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
    for (int i = 0; i < 200; i++) {
        cb_key(&t.t1, 6 + (uint64_t)i);
        memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x40000 + (uint64_t)i * 32, (uint64_t)i, 2);
    }
    cb_finish(&t.c, &t.s0, 300, &t.t1, NULL);
    cb_case_random_damage(&t, 1000, 12345);
    /* damage to the compressed bytes themselves */
    const char *path = cb_file(&t.c, 1);
    FILE *fp = fopen(path, "rb");
    uint8_t file[1 << 16];
    size_t fn = fread(file, 1, sizeof file, fp);
    fclose(fp);
    for (int round = 0; round < 300; round++) {
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
}
