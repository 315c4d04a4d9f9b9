/* The container (reader/container/container.c, source.c): pieces found and checked, streams
 * gathered, processes linked (exec chains, forked children, the root), each process read
 * from its own pieces only; killed images, files cut anywhere (incomplete, never corrupt),
 * and each way a container can be corrupt, with its message and file offset. Captures come
 * from golden files (pieces spelled byte by byte) and from the collector's writer. */
#include <sys/stat.h>

#include "support/golden.h"
#include "support/pieces_builder.h"

static golden_t g;
static memtap_container_t *c;
static memtap_replay_t r;
static char err[512];
static char path[64];
static pb_image_t im[6];
static size_t nim;

static void setup(void) {
    snprintf(path, sizeof path, "/tmp/memtap-unit-container-%d.memtap", (int)getpid());
}
static void free_images(void) {
    for (size_t i = 0; i < nim; i++)
        pb_image_free(&im[i]);
    nim = 0;
}
static void teardown(void) {
    golden_done(&g);
    unlink(path);
    memtap_container_free(c);
    memtap_replay_free(&r);
    free_images();
}
TestSuite(container, .init = setup, .fini = teardown);

static void open_ok(const char *file) {
    int rc = memtap_container_open(&c, file);
    cr_assert_eq(rc, MEMTAP_OK, "%s", c ? c->error : "out of memory");
}

/* Process i of c replayed into r, event by event and in batches alike. */
static int replay(uint32_t i) {
    memtap_replay_t by_events;
    char events_err[512];
    int rc[2];
    for (int batched = 0; batched < 2; batched++) {
        memtap_replay_t *into = batched ? &r : &by_events;
        memtap_decoder_t *d;
        cr_assert_eq(memtap_replay_init(into), 0);
        rc[batched] = memtap_decoder_open_process(&d, c, i);
        if (rc[batched] == MEMTAP_OK)
            rc[batched] = cb_feed(d, into, batched);
        snprintf(batched ? err : events_err, sizeof err, "%s",
                 rc[batched] == MEMTAP_OK ? "" : memtap_decoder_error(d));
        memtap_decoder_free(d);
        memtap_replay_finish(into);
    }
    cr_assert_eq(rc[0], rc[1], "events: %s; batches: %s", events_err, err);
    cr_assert_str_eq(events_err, err);
    if (rc[1] == MEMTAP_OK)
        cb_same_replay(&r, &by_events);
    memtap_replay_free(&by_events);
    return rc[1];
}

static void replay_ok(uint32_t i) {
    memtap_replay_free(&r);
    cr_assert_eq(replay(i), MEMTAP_OK, "%s", err);
}

/* ---- golden captures ----------------------------------------------------------------- */

Test(container, golden_two_processes_interleaved, .timeout = 60) {
    golden_load(&g, "pieces_two_processes");
    open_ok(g.path);
    cr_assert_eq(c->pieces.n, 4, "the two LZ4 skippable frames that are not memtap's are skipped");
    cr_assert_eq(c->streams.n, 2);
    cr_assert_eq(c->processes.n, 2);
    cr_assert_not(c->cut);
    cr_assert_eq(c->end, c->file_size);
    const memtap_process_t *p = &c->processes.v[0], *q = &c->processes.v[1];
    cr_assert_eq(c->root, 0);
    cr_assert_eq(p->pid, 1000);
    cr_assert_eq(p->ppid, 1);
    cr_assert_eq(p->parent, MEMTAP_NONE);
    cr_assert(p->root && p->complete && !p->killed);
    cr_assert_str_eq(p->command, "prog");
    cr_assert_eq(q->pid, 1001);
    cr_assert_eq(q->ppid, 1000);
    cr_assert_eq(q->parent, 0);
    cr_assert_eq(q->depth, 1);
    cr_assert(!q->root && q->complete);
    cr_assert_str_eq(q->command, "prog child");
    cr_assert_eq(c->streams.v[1].header_flags, MEMTAP_HDR_FORK_CHILD);
    cr_assert_eq(memtap_container_find(c, -1), 0);
    cr_assert_eq(memtap_container_find(c, 1001), 1);
    cr_assert_eq(memtap_container_find(c, 999), MEMTAP_NONE);

    replay_ok(0);
    cr_assert(r.complete);
    cr_assert_eq(r.images.n, 1);
    cr_assert_eq(r.allocations, 2);
    cr_assert_eq(r.frees, 1);
    cr_assert_eq(r.bytes_allocated, 32);
    cr_assert_eq(r.peak_bytes, 32);
    cr_assert_eq(r.peak_blocks, 2);
    cr_assert_eq(r.leaked_bytes, 16);
    cr_assert_eq(r.leaked_blocks, 1);
    cr_assert_eq(r.unknown_frees, 0);
    cr_assert_eq(r.now_ms, 5);

    replay_ok(1);
    cr_assert(r.complete);
    cr_assert_eq(r.images.n, 1);
    cr_assert_eq(r.images.v[0].pid, 1001);
    cr_assert(r.images.v[0].flags & MEMTAP_HDR_FORK_CHILD);
    cr_assert_eq(r.allocations, 1);
    cr_assert_eq(r.kinds[MEMTAP_KIND_CALLOC].count, 1);
    cr_assert_eq(r.frees, 0);
    cr_assert_eq(r.unknown_frees, 1, "its parent's block");
    cr_assert_eq(r.leaked_bytes, 100);
    cr_assert_eq(r.leaked_blocks, 1);
    cr_assert_eq(r.now_ms, 3);
}

Test(container, golden_killed_image_after_an_exec, .timeout = 60) {
    golden_load(&g, "pieces_killed");
    open_ok(g.path);
    cr_assert_eq(c->processes.n, 1, "the exec'd image continues the process");
    const memtap_process_t *p = &c->processes.v[0];
    cr_assert_eq(p->images, 2);
    cr_assert(p->root && !p->complete && p->killed);
    cr_assert_eq(p->signal, 9);
    cr_assert_str_eq(p->command, "prog", "the last image's command");
    cr_assert(c->streams.v[0].whole && c->streams.v[1].whole);
    cr_assert_eq(c->streams.v[1].status, 9);

    replay_ok(0);
    cr_assert_not(r.complete, "killed: incomplete, not corrupt");
    cr_assert_eq(r.images.n, 2);
    cr_assert_eq(r.images.v[0].ended, 2, "the first image execs");
    cr_assert_eq(r.allocations, 4);
    cr_assert_eq(r.bytes_allocated, 192);
    cr_assert_eq(r.frees, 1);
    cr_assert_eq(r.unknown_frees, 0);
    cr_assert_eq(r.peak_bytes, 96);
    cr_assert_eq(r.peak_blocks, 2);
    cr_assert_eq(r.leaked_bytes, 96);
    cr_assert_eq(r.leaked_blocks, 2);
    cr_assert_eq(r.now_ms, 70);
    cr_assert_eq(r.max_rss, 1 << 20);
}

/* ---- written by the collector's writer ------------------------------------------------ */

/* Process 500 (root) forks 501, which forks 502; 500 execs; 503 is 500's second child.
 * Images are sliced into pieces of `slice` bytes and interleaved. */
static void family(size_t slice) {
    static const char a[] = "parent\0-x", b[] = "child", e[] = "parent2", d[] = "late";
    pb_image_begin(&im[0], 0, 500, 1, a, sizeof a, 0);
    for (uint64_t i = 0; i < 300; i++)
        pb_alloc(&im[0], 0x100000 + 64 * i, 48);
    for (uint64_t i = 0; i < 300; i += 2)
        pb_free(&im[0], 0x100000 + 64 * i);
    pb_image_end(&im[0], MEMTAP_REC_EXEC, 7);
    pb_image_begin(&im[1], MEMTAP_HDR_AFTER_EXEC, 500, 1, e, sizeof e, 8);
    pb_alloc(&im[1], 0x900000, 4096);
    pb_image_end(&im[1], MEMTAP_REC_EXIT, 9);
    pb_image_begin(&im[2], MEMTAP_HDR_FORK_CHILD, 501, 500, b, sizeof b, 1);
    for (uint64_t i = 0; i < 200; i++)
        pb_alloc(&im[2], 0x200000 + 32 * i, 24);
    pb_image_end(&im[2], MEMTAP_REC_EXIT, 4);
    pb_image_begin(&im[3], MEMTAP_HDR_FORK_CHILD, 502, 501, b, sizeof b, 2);
    pb_alloc(&im[3], 0x300000, 8);
    pb_free(&im[3], 0x300000);
    pb_image_end(&im[3], MEMTAP_REC_EXIT, 1);
    pb_image_begin(&im[4], MEMTAP_HDR_FORK_CHILD, 503, 500, d, sizeof d, 3);
    pb_alloc(&im[4], 0x400000, 77);
    pb_image_killed(&im[4], 2);
    nim = 5;
    pb_proc_t procs[4] = {
        {.pid = 500, .root = 1, .images = {&im[0], &im[1]}, .nimages = 2},
        {.pid = 501, .images = {&im[2]}, .nimages = 1},
        {.pid = 502, .images = {&im[3]}, .nimages = 1},
        {.pid = 503, .images = {&im[4]}, .nimages = 1},
    };
    pb_write(path, procs, 4, slice);
}

/* The figures of family()'s processes, whoever else's pieces lie between theirs. */
static void check_family(void) {
    cr_assert_eq(c->processes.n, 4);
    static const uint64_t pids[4] = {500, 501, 502, 503}, parents[4] = {MEMTAP_NONE, 0, 1, 0};
    static const uint32_t depth[4] = {0, 1, 2, 1}, images[4] = {2, 1, 1, 1};
    for (uint32_t i = 0; i < 4; i++) {
        const memtap_process_t *p = &c->processes.v[i];
        cr_assert_eq(p->pid, pids[i]);
        cr_assert_eq(p->parent, parents[i], "process %u", i);
        cr_assert_eq(p->depth, depth[i]);
        cr_assert_eq(p->images, images[i]);
        cr_assert_eq(p->complete, i != 3);
        cr_assert_eq(p->killed, i == 3);
    }
    cr_assert_eq(c->root, 0);
    cr_assert_str_eq(c->processes.v[0].command, "parent2");
    cr_assert_eq(c->processes.v[3].signal, 9);

    replay_ok(0);
    cr_assert(r.complete);
    cr_assert_eq(r.images.n, 2);
    cr_assert_eq(r.allocations, 301);
    cr_assert_eq(r.frees, 150);
    cr_assert_eq(r.bytes_allocated, 300 * 48 + 4096);
    cr_assert_eq(r.peak_bytes, 300 * 48);
    cr_assert_eq(r.leaked_bytes, 4096, "the first image's blocks vanish at the exec");
    cr_assert_eq(r.leaked_blocks, 1);
    replay_ok(1);
    cr_assert(r.complete);
    cr_assert_eq(r.allocations, 200);
    cr_assert_eq(r.leaked_bytes, 200 * 24);
    replay_ok(2);
    cr_assert(r.complete);
    cr_assert_eq(r.allocations, 1);
    cr_assert_eq(r.frees, 1);
    cr_assert_eq(r.leaked_bytes, 0);
    replay_ok(3);
    cr_assert_not(r.complete);
    cr_assert_eq(r.allocations, 1, "the half-written record is the end");
    cr_assert_eq(r.leaked_bytes, 77);
}

Test(container, collector_pieces_of_a_process_tree, .timeout = 60) {
    family(16);
    open_ok(path);
    cr_assert_gt(c->pieces.n, 40, "images cut into many pieces: %zu", c->pieces.n);
    check_family();
    free_images();
    family(1 << 20); /* each image whole in one piece */
    memtap_container_free(c);
    open_ok(path);
    cr_assert_eq(c->pieces.n, 5);
    check_family();
}

/* A file cut anywhere, inside a piece's header, its LZ4 frame or between pieces, reads as
 * incomplete, never as corrupt; the processes whose pieces all came are whole. */
Test(container, a_file_cut_anywhere_is_incomplete, .timeout = 60) {
    family(50);
    int fd = open(path, O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    size_t n = (size_t)st.st_size;
    uint8_t *file = malloc(n);
    cr_assert_eq(read(fd, file, n), (ssize_t)n);
    close(fd);
    char cut[80];
    snprintf(cut, sizeof cut, "%s.cut", path);
    for (size_t len = 1; len < n; len += 1 + len / 64) {
        FILE *fp = fopen(cut, "wb");
        fwrite(file, 1, len, fp);
        fclose(fp);
        memtap_container_free(c);
        int rc = memtap_container_open(&c, cut);
        if (len < 17) { /* not even the first piece's header */
            cr_assert_eq(rc, MEMTAP_ERR_CORRUPT);
            cr_assert(strstr(c->error, "no memtap records"), "%zu: %s", len, c->error);
            continue;
        }
        cr_assert_eq(rc, MEMTAP_OK, "cut at %zu: %s", len, c->error);
        cr_assert(c->cut || c->end == len);
        for (uint32_t i = 0; i < c->processes.n; i++) {
            memtap_replay_free(&r);
            cr_assert_eq(replay(i), MEMTAP_OK, "cut at %zu, process %u: %s", len, i, err);
            cr_assert_eq(r.complete, c->processes.v[i].complete, "cut at %zu", len);
        }
    }
    unlink(cut);
    free(file);
}

/* ---- pieces by hand ---------------------------------------------------------------- */

/* A whole image of pid 1234 (capture_builder's) in t's builder. */
static void small_image(cb_case_t *t) {
    cb_case_init(t);
    memset(&t->r, 0, sizeof t->r);
    cb_header(&t->c, 0);
    cr_assert_eq(memtap_enc_thread(&t->s0.enc, 1234, "main"), 0);
    memtap_enc_node(&t->s0.enc, 1, 0, 0x401000);
    cb_chunk(&t->c, 0, 0, &t->s0);
    memtap_enc_alloc(&t->t1.enc, MEMTAP_KIND_MALLOC, 0x1000, 10, 1);
    cb_finish(&t->c, &t->s0, 1, &t->t1, NULL);
}

/* How a test's file is made: pieces of small_image's bytes, and bytes by hand. */
typedef struct {
    const char *what;
    const char *message; /* the error, "%" standing for the offset of the `at`-th part */
    int rc;
    int at;
    struct {
        int kind; /* 0 end; 1 piece header (stream, flags, pid, status); 2 the image's LZ4
                     frame; 3 raw bytes; 4 the image's LZ4 frame, without its end mark */
        uint64_t v[4];
        const char *raw;
        size_t raw_len;
    } part[8];
} case_t;

/* clang-format off */
#define PIECE(s, f, p, st) {1, {s, f, p, st}, NULL, 0}
#define FRAME {2, {0}, NULL, 0}
#define CUT_FRAME {4, {0}, NULL, 0}
#define RAW(s) {3, {0}, s, sizeof s - 1}
#define FL(x) MEMTAP_PIECE_##x
#define WHOLE (FL(FIRST) | FL(LAST) | FL(ROOT))

/* Writes case k's file; returns the file offset where part `at` begins. */
static uint64_t write_case(const case_t *k, cb_case_t *t) {
    FILE *fp = fopen(path, "wb");
    uint64_t at = 0;
    for (int i = 0; k->part[i].kind; i++) {
        if (i == k->at)
            at = (uint64_t)ftell(fp);
        const uint64_t *v = k->part[i].v;
        switch (k->part[i].kind) {
        case 1:
            cb_piece_header(fp, v[0], (unsigned)v[1], v[2], v[3]);
            break;
        case 2:
        case 4:
            cb_compress(fp, t->c.buf, t->c.enc.len, k->part[i].kind == 2);
            break;
        default:
            fwrite(k->part[i].raw, 1, k->part[i].raw_len, fp);
        }
    }
    fclose(fp);
    return at;
}

static const case_t corrupt_cases[] = {
    {"a stream starts twice", "corrupt capture at byte %: stream 1 starts twice",
     MEMTAP_ERR_CORRUPT, 2, {PIECE(1, WHOLE, 1234, 0), FRAME, PIECE(1, FL(FIRST), 1234, 0), FRAME}},
    {"a piece before its stream's first",
     "corrupt capture at byte %: piece of stream 2 before its first piece", MEMTAP_ERR_CORRUPT,
     2, {PIECE(1, WHOLE, 1234, 0), FRAME, PIECE(2, FL(LAST), 1234, 0), FRAME}},
    {"a piece after its stream's last",
     "corrupt capture at byte %: piece of stream 1 after its last piece", MEMTAP_ERR_CORRUPT, 2,
     {PIECE(1, WHOLE, 1234, 0), FRAME, PIECE(1, FL(ROOT), 1234, 0), FRAME}},
    {"a piece of another pid",
     "corrupt capture at byte %: piece of stream 1 names pid 99, its first piece 1234",
     MEMTAP_ERR_CORRUPT, 2,
     {PIECE(1, FL(FIRST), 1234, 0), FRAME, PIECE(1, FL(LAST), 99, 0), FRAME}},
    {"ROOT on some pieces only", "corrupt capture at byte %: pieces of stream 1 disagree on ROOT",
     MEMTAP_ERR_CORRUPT, 2,
     {PIECE(1, FL(FIRST), 1234, 0), FRAME, PIECE(1, FL(LAST) | FL(ROOT), 1234, 0), FRAME}},
    {"KILLED before the last piece",
     "corrupt capture at byte %: KILLED piece of stream 1 is not its last", MEMTAP_ERR_CORRUPT,
     0, {PIECE(1, FL(FIRST) | FL(KILLED), 1234, 9), FRAME}},
    {"a status without KILLED",
     "corrupt capture at byte %: piece of stream 1 has status 9 without KILLED",
     MEMTAP_ERR_CORRUPT, 0, {PIECE(1, WHOLE, 1234, 9), FRAME}},
    {"a status out of range", "corrupt capture at byte %: piece of stream 1 has status 300",
     MEMTAP_ERR_CORRUPT, 0, {PIECE(1, WHOLE | FL(KILLED), 1234, 300), FRAME}},
    {"stream 0", "corrupt capture at byte %: piece of stream 0 (streams count from 1)",
     MEMTAP_ERR_CORRUPT, 0, {PIECE(0, WHOLE, 1234, 0), FRAME}},
    {"a piece header with a byte too many", "corrupt capture at byte %: malformed piece header",
     MEMTAP_ERR_CORRUPT, 0,
     {RAW("\x5e\x2a\x4d\x18\x09\x00\x00\x00MTAP\x01\x0b\x01\x00\x00"), FRAME}},
    {"a piece header too long", "corrupt capture at byte %: malformed piece header",
     MEMTAP_ERR_CORRUPT, 0, {RAW("\x5e\x2a\x4d\x18\x40\x00\x00\x00MTAP\x01\x0b\x01\x00"
                                 "0123456789012345678901234567890123456789012345678901234567")}},
    {"a piece header with a varint too long", "corrupt capture at byte %: malformed piece header",
     MEMTAP_ERR_CORRUPT, 0,
     {RAW("\x5e\x2a\x4d\x18\x12\x00\x00\x00MTAP\x01\x0b"
          "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00")}},
    {"a piece header without its LZ4 frame",
     "corrupt capture at byte %: a piece header without its LZ4 frame", MEMTAP_ERR_CORRUPT, 1,
     {PIECE(1, WHOLE, 1234, 0), RAW("hello, world")}},
    {"an LZ4 frame descriptor not valid",
     "corrupt capture at byte %: LZ4 frame descriptor not valid", MEMTAP_ERR_CORRUPT, 1,
     {PIECE(1, WHOLE, 1234, 0), RAW("\x04\x22\x4d\x18\x20\x40\x00\x00\x00\x00\x00")}},
    {"an LZ4 block too large", "corrupt capture at byte %: LZ4 block larger than its LZ4 frame "
     "allows", MEMTAP_ERR_CORRUPT, 2,
     {PIECE(1, WHOLE, 1234, 0), RAW("\x04\x22\x4d\x18\x60\x40\x82"), RAW("\x01\x00\x01\x00")}},
    {"an LZ4 frame without a piece header",
     "corrupt capture at byte %: LZ4 frame without a piece header", MEMTAP_ERR_CORRUPT, 2,
     {PIECE(1, FL(FIRST) | FL(ROOT), 1234, 0), FRAME, FRAME}},
    {"garbage after the last piece",
     "corrupt capture at byte %: expected a piece header, found bytes de ad be ef",
     MEMTAP_ERR_CORRUPT, 2, {PIECE(1, WHOLE, 1234, 0), FRAME, RAW("\xde\xad\xbe\xef\x00")}},
    {"not a capture at all", "not a memtap capture (no piece at byte 0)", MEMTAP_ERR_CORRUPT, 0,
     {RAW("#!/bin/sh\n")}},
};
/* clang-format on */

Test(container, each_corrupt_container_names_its_byte, .timeout = 60) {
    cb_case_t t;
    small_image(&t);
    for (size_t i = 0; i < sizeof corrupt_cases / sizeof *corrupt_cases; i++) {
        const case_t *k = &corrupt_cases[i];
        uint64_t at = write_case(k, &t);
        char want[256], num[32];
        snprintf(num, sizeof num, "%llu", (unsigned long long)at);
        const char *pct = strchr(k->message, '%');
        snprintf(want, sizeof want, "%.*s%s%s",
                 pct ? (int)(pct - k->message) : (int)strlen(k->message), k->message,
                 pct ? num : "", pct ? pct + 1 : "");
        memtap_container_free(c);
        cr_assert_eq(memtap_container_open(&c, path), k->rc, "%s: %s", k->what, c->error);
        cr_assert_str_eq(c->error, want, "%s", k->what);
        /* the decoder says the same */
        memtap_replay_free(&r);
        memset(&r, 0, sizeof r);
        cr_assert_eq(cb_replay(path, &r, err, sizeof err), k->rc, "%s", k->what);
        cr_assert_str_eq(err, want);
    }
    cb_case_done(&t);
}

/* Files that are not corrupt, though not as the collector writes them. */
/* clang-format off */
static const case_t fine_cases[] = {
    {"a file cut inside a piece header", "complete", MEMTAP_OK, 0,
     {PIECE(1, WHOLE, 1234, 0), FRAME, RAW("\x5e\x2a\x4d\x18\x09")}},
    {"a file cut inside a piece header's magic", "complete", MEMTAP_OK, 0,
     {PIECE(1, WHOLE, 1234, 0), FRAME, RAW("\x5e\x2a")}},
    {"a file cut inside a piece's LZ4 frame", "incomplete", MEMTAP_OK, 0,
     {PIECE(1, WHOLE, 1234, 0), CUT_FRAME}},
    {"LZ4 skippable frames that are not memtap's, first and between pieces", "complete", MEMTAP_OK,
     0, {RAW("\x50\x2a\x4d\x18\x02\x00\x00\x00xy"), PIECE(1, FL(FIRST) | FL(ROOT), 1234, 0),
         FRAME, RAW("\x5e\x2a\x4d\x18\x04\x00\x00\x00MTAQ"), PIECE(1, FL(ROOT) | FL(LAST), 1234, 0),
         RAW("\x04\x22\x4d\x18\x60\x40\x82\x00\x00\x00\x00")}},
    {"a stream whose last piece never came", "incomplete", MEMTAP_OK, 0,
     {PIECE(1, FL(FIRST) | FL(ROOT), 1234, 0), FRAME}},
};
/* clang-format on */

Test(container, cut_files_and_foreign_frames_are_not_corrupt, .timeout = 60) {
    cb_case_t t;
    small_image(&t);
    for (size_t i = 0; i < sizeof fine_cases / sizeof *fine_cases; i++) {
        const case_t *k = &fine_cases[i];
        write_case(k, &t);
        memtap_container_free(c);
        open_ok(path);
        cr_assert_eq(c->processes.n, 1, "%s", k->what);
        cr_assert_eq(c->cut, i < 3, "%s", k->what);
        int whole = !strcmp(k->message, "complete");
        cr_assert_eq(c->processes.v[0].complete, whole, "%s", k->what);
        replay_ok(0);
        cr_assert_eq(r.complete, whole, "%s", k->what);
        cr_assert_eq(r.allocations, 1, "%s", k->what);
    }
    cb_case_done(&t);
}

/* A process that wrote nothing but its piece's beginning (killed at once): a process with no
 * allocations, never a corrupt capture. */
Test(container, a_process_with_no_records_reads_as_empty, .timeout = 60) {
    cb_case_t t;
    small_image(&t);
    FILE *fp = fopen(path, "wb");
    cb_piece_header(fp, 1, WHOLE, 4321, 0);
    cb_compress(fp, t.c.buf, 0, 0); /* the LZ4 frame's header only: 7 bytes */
    fclose(fp);
    open_ok(path);
    cr_assert_eq(c->file_size, 17 + 7);
    cr_assert_eq(c->processes.n, 1);
    cr_assert_eq(c->processes.v[0].pid, 4321, "the piece's pid");
    cr_assert_not(c->streams.v[0].has_header);
    cr_assert_str_eq(c->processes.v[0].command, "");
    cr_assert_not(c->processes.v[0].complete);
    replay_ok(0);
    cr_assert_not(r.complete);
    cr_assert_eq(r.images.n, 0);
    cr_assert_eq(r.allocations, 0);
    cb_case_done(&t);
}

/* A capture of format version 5 (LZ4 frames without pieces) names its version. */
Test(container, a_version_5_capture_names_its_version, .timeout = 60) {
    cb_case_t t;
    small_image(&t);
    t.c.buf[MEMTAP_MAGIC_LEN] = 5;
    FILE *fp = fopen(path, "wb");
    cb_compress(fp, t.c.buf, t.c.enc.len, 1);
    fclose(fp);
    cr_assert_eq(memtap_container_open(&c, path), MEMTAP_ERR_VERSION);
    cr_assert_str_eq(c->error, "capture format version 5, this memtap reads version 6");
    cb_case_done(&t);
}

/* The exec'd image of a process continues it, and a pid used again later by a new process
 * (no AFTER_EXEC) is a new process; --pid finds the first. */
Test(container, a_pid_used_again_is_another_process, .timeout = 60) {
    static const char a[] = "one", b[] = "two";
    pb_image_begin(&im[0], 0, 77, 1, a, sizeof a, 0);
    pb_image_end(&im[0], MEMTAP_REC_EXIT, 1);
    pb_image_begin(&im[1], MEMTAP_HDR_FORK_CHILD, 77, 1, b, sizeof b, 5);
    pb_alloc(&im[1], 0x5000, 5);
    pb_image_end(&im[1], MEMTAP_REC_EXIT, 1);
    nim = 2;
    pb_proc_t procs[1] = {{.pid = 77, .images = {&im[0], &im[1]}, .nimages = 2}};
    pb_write(path, procs, 1, 1 << 20);
    open_ok(path);
    cr_assert_eq(c->processes.n, 2);
    cr_assert_eq(c->root, MEMTAP_NONE, "no piece says ROOT");
    cr_assert_eq(memtap_container_find(c, -1), 0, "then the first process is shown");
    cr_assert_eq(memtap_container_find(c, 77), 0);
    replay_ok(1);
    cr_assert_eq(r.leaked_bytes, 5);
}
