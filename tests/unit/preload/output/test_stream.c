/* The record stream, byte for byte: the header opens the LZ4 frame, source 0's records go
 * out as CHUNKs (a SKIP when the order counter moved, any length appended), the threads'
 * buffers as CHUNKs of their own, the end of an image closes every source and the LZ4
 * frame; a write failure turns tracking off with one line on stderr. */
#include "support/live_capture.h"

#include <errno.h>

#include "memtap/format.h"
#include "output/record.h"
#include "output/tbuf.h"

static char path[64];
static memtap_header_info_t header = {.pid = 42, .ppid = 1, .page_size = 4096, .exe = "/bin/x"};

/* What the stream should hold, built with the encoder the stream uses. */
static uint8_t expect_buf[1 << 20];
static memtap_enc_t expect = {.buf = expect_buf, .cap = sizeof expect_buf};

static void expect_chunk(uint32_t source, uint64_t watermark, const uint8_t *p, size_t n) {
    expect.len += memtap_enc_chunk_header(expect.buf + expect.len, source, watermark, n);
    if (n)
        memcpy(expect.buf + expect.len, p, n);
    expect.len += n;
}

static void open_stream(void) {
    int fd = live_temp(path);
    cr_assert_eq(memtap_stream_init(), 0);
    int err = 0;
    cr_assert_eq(memtap_stream_open(fd, &header, &err), 0);
    memtap_state = MEMTAP_STATE_ACTIVE;
    cr_assert_eq(memtap_enc_header(&expect, &header), 0);
}

static void assert_stream_is_expected(int ended) {
    size_t n;
    int was_ended;
    uint8_t *raw = live_raw(path, &n, &was_ended);
    cr_assert_eq(was_ended, ended);
    cr_assert_eq(n, expect.len);
    cr_assert_eq(memcmp(raw, expect.buf, n), 0);
    free(raw);
}

static void remove_capture(void) { unlink(path); }
TestSuite(stream, .init = open_stream, .fini = remove_capture);

Test(stream, source0_records_go_out_as_a_chunk, .timeout = 10) {
    memtap_lock(&memtap_stream_lock);
    cr_assert_eq(memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX), 0);
    memtap_enc_u64(&memtap_stream, MEMTAP_REC_MAIN_DONE, 5);
    cr_assert_eq(memtap_stream_flush(1), 0);
    memtap_unlock(&memtap_stream_lock);
    uint8_t rec[MEMTAP_ENC_FIXED_MAX];
    memtap_enc_t r = {.buf = rec, .cap = sizeof rec};
    memtap_enc_u64(&r, MEMTAP_REC_MAIN_DONE, 5);
    expect_chunk(0, 0, rec, r.len);
    assert_stream_is_expected(0);
    cr_assert_eq(memtap_stream.len, 0, "written, so emptied");
}

Test(stream, a_record_after_other_keys_starts_with_a_skip, .timeout = 10) {
    memtap_tbuf_ticket(); /* three frees elsewhere: keys 0, 1, 2 taken */
    memtap_tbuf_ticket();
    memtap_tbuf_ticket();
    memtap_lock(&memtap_stream_lock);
    cr_assert_eq(memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX), 0);
    memtap_enc_node(&memtap_stream, 1, 0, 0x401000);
    cr_assert_eq(memtap_stream_flush(1), 0);
    memtap_unlock(&memtap_stream_lock);
    uint8_t rec[2 * MEMTAP_ENC_FIXED_MAX];
    memtap_enc_t r = {.buf = rec, .cap = sizeof rec};
    memtap_enc_skip(&r, 3);
    memtap_enc_node(&r, 1, 0, 0x401000);
    expect_chunk(0, 6, rec, r.len);
    assert_stream_is_expected(0);
}

Test(stream, append_takes_any_length, .timeout = 10) {
    static uint8_t data[150 * 1024];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31 / 7);
    memtap_lock(&memtap_stream_lock);
    cr_assert_eq(memtap_stream_append(data, sizeof data), 0);
    cr_assert_eq(memtap_stream_flush(1), 0);
    memtap_unlock(&memtap_stream_lock);
    /* the 64 KiB buffer goes out whenever it is full */
    expect_chunk(0, 0, data, 65536);
    expect_chunk(0, 0, data + 65536, 65536);
    expect_chunk(0, 0, data + 131072, sizeof data - 131072);
    assert_stream_is_expected(0);
}

Test(stream, thread_buffers_are_chunks_of_their_own, .timeout = 10) {
    memtap_tbuf_t *b = memtap_tbuf_mine();
    memtap_lock(&memtap_stream_lock);
    memtap_stream_register(b, 1, 5);
    memtap_unlock(&memtap_stream_lock);
    memtap_tbuf_enter(b);
    memtap_tbuf_stamp(&b->enc, &b->key, memtap_tbuf_read_key());
    memtap_enc_alloc(&b->enc, MEMTAP_KIND_MALLOC, 0x1000, 64, 0);
    memtap_tbuf_commit(b);
    size_t first = b->enc.len;
    uint8_t first_rec[MEMTAP_ENC_FIXED_MAX];
    memcpy(first_rec, b->data, first);
    cr_assert_eq(memtap_stream_flush_own(b), 0); /* full: the owner writes it out */
    cr_assert_eq(b->enc.len, 0);
    memtap_tbuf_enter(b);
    memtap_enc_alloc(&b->enc, MEMTAP_KIND_MALLOC, 0x2000, 64, 0);
    memtap_tbuf_commit(b);
    uint8_t second[MEMTAP_ENC_FIXED_MAX];
    memcpy(second, b->data, b->enc.len);
    size_t second_len = b->enc.len;
    memtap_stream_thread_done(b); /* the thread ends: its last chunk closes it */
    cr_assert_eq(b->image, 0);
    memtap_lock(&memtap_stream_lock);
    cr_assert_eq(memtap_stream_flush(1), 0); /* what is staged reaches the file */
    memtap_unlock(&memtap_stream_lock);

    size_t n;
    int ended;
    uint8_t *raw = live_raw(path, &n, &ended);
    size_t at = expect.len; /* past the header */
    uint8_t h[MEMTAP_CHUNK_HEADER_MAX];
    size_t hl = memtap_enc_chunk_header(h, 1, 0, first);
    cr_assert_eq(memcmp(raw + at, h, hl), 0, "thread 1's chunk, watermark 0");
    cr_assert_eq(memcmp(raw + at + hl, first_rec, first), 0);
    at += hl + first;
    hl = memtap_enc_chunk_header(h, 1, MEMTAP_WATERMARK_CLOSED, second_len);
    cr_assert_eq(memcmp(raw + at, h, hl), 0, "its last chunk closes it");
    cr_assert_eq(memcmp(raw + at + hl, second, second_len), 0);
    cr_assert_eq(at + hl + second_len, n, "nothing else (source 0 had nothing)");
    free(raw);
}

Test(stream, the_end_of_an_image_closes_every_source_and_the_lz4_frame, .timeout = 10) {
    memtap_tbuf_t *b = memtap_tbuf_mine();
    memtap_lock(&memtap_stream_lock);
    memtap_stream_register(b, 1, 5);
    uint64_t allocations, frees;
    memtap_image_closing = 1;
    memtap_stream_close_threads(&allocations, &frees);
    cr_assert_eq(b->image, 0, "unregistered");
    cr_assert_eq(memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX), 0);
    memtap_enc_u64(&memtap_stream, MEMTAP_REC_EXIT, 9);
    cr_assert_eq(memtap_stream_end(), 0);
    memtap_unlock(&memtap_stream_lock);
    expect_chunk(1, MEMTAP_WATERMARK_CLOSED, NULL, 0);
    uint8_t rec[MEMTAP_ENC_FIXED_MAX];
    memtap_enc_t r = {.buf = rec, .cap = sizeof rec};
    memtap_enc_u64(&r, MEMTAP_REC_EXIT, 9);
    expect_chunk(0, MEMTAP_WATERMARK_CLOSED, rec, r.len);
    assert_stream_is_expected(1);
}

Test(stream, a_failed_write_turns_tracking_off_with_one_line, .timeout = 10) {
    memtap_stream_write = live_filling_disk;
    live_writes_left = 2; /* the piece header and the LZ4 frame's header, then the disk is full */
    int err = 0;
    cr_assert_eq(memtap_stream_open(open(path, O_WRONLY | O_TRUNC), &header, &err), 0);
    live_catch_stderr();
    memtap_lock(&memtap_stream_lock);
    cr_assert_eq(memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX), 0);
    memtap_enc_u64(&memtap_stream, MEMTAP_REC_MAIN_DONE, 5);
    cr_assert_eq(memtap_stream_flush(1), -1);
    cr_assert_not(memtap_tracking());
    cr_assert_eq(memtap_stream_reserve(MEMTAP_ENC_FIXED_MAX), -1, "no record once off");
    cr_assert_eq(memtap_stream_flush(1), -1);
    memtap_unlock(&memtap_stream_lock);
    cr_assert_str_eq(live_stderr_text(), "memtap: cannot write the capture: No space left on "
                                         "device; tracking is off, the program goes on\n");
}

Test(stream, a_flush_from_a_signal_handler_gives_up_when_the_sink_is_busy, .timeout = 10) {
    memtap_lock(&memtap_stream_lock);
    memtap_stream_lock_sink(); /* a thread is writing out its buffer */
    cr_assert_eq(memtap_stream_flush(0), -1);
    cr_assert(memtap_tracking(), "busy is no failure");
    memtap_stream_unlock_sink();
    cr_assert_eq(memtap_stream_flush(0), 0);
    memtap_unlock(&memtap_stream_lock);
}
