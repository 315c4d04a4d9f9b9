/* Test helper: builds captures with the real encoder (preload/output/record.c), compresses
 * them into a temporary file, and decodes files back to a status, event by event and in
 * batches. Header-only, for unit tests. (tests/golden/ holds captures written without the
 * encoder, byte by byte from docs/format.md: support/golden.h.) */
#ifndef MEMTAP_TEST_CAPTURE_BUILDER_H
#define MEMTAP_TEST_CAPTURE_BUILDER_H

#include <criterion/criterion.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decode/decoder.h"
#include "common/errors.h"
#include "memtap/container.h"
#include "memtap/format.h"
#include "memtap/varint.h"
#include "decode/pipeline.h"
#include "output/record.h"
#include "replay/replay.h"

#define CB_CAP (32 << 20)

typedef struct {
    uint8_t *buf;
    memtap_enc_t enc;
} cb_t;

static inline void cb_init(cb_t *c) {
    c->buf = malloc(CB_CAP);
    c->enc = (memtap_enc_t){.buf = c->buf, .cap = CB_CAP};
    memtap_enc_reset(&c->enc);
}

/* The header of an image (format version MEMTAP_FORMAT_VERSION): CHUNKs follow. */
static inline void cb_header(cb_t *c, uint32_t flags) {
    static const char cmd[] = "./prog\0arg";
    memtap_header_info_t h = {.flags = flags, .pid = 1234, .ppid = 1,
                              .start_unix_ns = 1700000000000000000ull, .page_size = 4096,
                              .exe = "/usr/bin/prog", .cmdline = cmd, .cmdline_len = sizeof cmd};
    cr_assert_eq(memtap_enc_header(&c->enc, &h), 0);
}

/* One source's records: its own encoder (delta state and model kept across its chunks) and
 * its order key. A thread's source writes against a model, as the library's do. */
typedef struct {
    uint8_t buf[1 << 16];
    memtap_enc_t enc;
    uint64_t key;
} cb_source_t;

/* The process's records (source 0). */
static inline void cb_process_init(cb_source_t *s) {
    s->enc = (memtap_enc_t){.buf = s->buf, .cap = sizeof s->buf};
    memtap_enc_reset(&s->enc);
    s->key = 0;
}

/* A thread's records (freed by cb_source_free). */
static inline void cb_thread_init(cb_source_t *s) {
    cb_process_init(s);
    s->enc.model = aligned_alloc(4096, sizeof *s->enc.model);
    cr_assert(s->enc.model);
    memtap_enc_reset(&s->enc);
}
static inline void cb_source_free(cb_source_t *s) {
    free(s->enc.model);
    s->enc.model = NULL;
}

/* Moves the source's key to k (a SKIP) before its next record. */
static inline void cb_key(cb_source_t *s, uint64_t k) {
    cr_assert(k >= s->key);
    if (k > s->key)
        memtap_enc_skip(&s->enc, k - s->key);
    s->key = k;
}

/* A FREE with ticket k. */
static inline void cb_free_at(cb_source_t *s, uint64_t k, uint64_t addr) {
    cb_key(s, k);
    memtap_enc_free(&s->enc, addr);
    s->key = k + 1;
}

/* Appends what the source encoded since its last chunk as a CHUNK. */
static inline void cb_chunk(cb_t *c, uint32_t source, uint64_t watermark, cb_source_t *s) {
    uint8_t h[MEMTAP_CHUNK_HEADER_MAX];
    size_t n = memtap_enc_chunk_header(h, source, watermark, s->enc.len);
    cr_assert(c->enc.len + n + s->enc.len <= CB_CAP, "the test's capture outgrew CB_CAP");
    memcpy(c->buf + c->enc.len, h, n);
    memcpy(c->buf + c->enc.len + n, s->enc.buf, s->enc.len);
    c->enc.len += n + s->enc.len;
    s->enc.len = 0;
}

/* The image's end: threads t1 and t2 (NULL: none) closed, then the process's EXIT (or EXEC)
 * at key k and the trailer, counting the threads' records and the process's nodes. */
static inline void cb_finish_as(cb_t *c, cb_source_t *s0, uint64_t k, uint8_t end, cb_source_t *t1,
                                cb_source_t *t2) {
    cb_source_t *t[2] = {t1, t2};
    s0->enc.allocations = s0->enc.frees = 0;
    for (uint32_t i = 0; i < 2; i++) {
        if (!t[i])
            continue;
        cb_chunk(c, i + 1, MEMTAP_WATERMARK_CLOSED, t[i]);
        s0->enc.allocations += t[i]->enc.allocations;
        s0->enc.frees += t[i]->enc.frees;
    }
    cb_key(s0, k);
    memtap_enc_u64(&s0->enc, end, 5);
    memtap_enc_trailer(&s0->enc);
    cb_chunk(c, 0, MEMTAP_WATERMARK_CLOSED, s0);
}
static inline void cb_finish(cb_t *c, cb_source_t *s0, uint64_t k, cb_source_t *t1,
                             cb_source_t *t2) {
    cb_finish_as(c, s0, k, MEMTAP_REC_EXIT, t1, t2);
}

/* A module covering [0x400000, 0x500000) named /nonexistent/prog. */
static inline void cb_module_enc(memtap_enc_t *e) {
    memtap_segment_t seg = {0x400000, 0x100000, 5};
    const uint8_t id[4] = {1, 2, 3, 4};
    memtap_enc_simple(e, MEMTAP_REC_MODULES_RESET);
    cr_assert_eq(memtap_enc_module(e, "/nonexistent/prog", 0, id, 4, &seg, 1), 0);
}
/* Appends a piece header (docs/format.md 1.1) to fp. */
static inline void cb_piece_header(FILE *fp, uint64_t stream, unsigned flags, uint64_t pid,
                                   uint64_t status) {
    uint8_t h[MEMTAP_PIECE_MAX_HEADER];
    fwrite(h, 1, memtap_piece_header(h, stream, flags, pid, status), fp);
}

/* The flags of a piece that holds a whole image, as the library writes without a collector. */
#define CB_WHOLE_IMAGE (MEMTAP_PIECE_FIRST | MEMTAP_PIECE_LAST | MEMTAP_PIECE_ROOT)

/* Compresses raw (one image) into one LZ4 frame appended to fp, without its end mark if
 * !whole. */
static inline void cb_compress(FILE *fp, const uint8_t *raw, size_t n, int whole) {
    LZ4F_cctx *cctx;
    LZ4F_createCompressionContext(&cctx, LZ4F_VERSION);
    size_t cap = LZ4F_compressBound(n, NULL) + 64;
    uint8_t *out = malloc(cap);
    size_t k = LZ4F_compressBegin(cctx, out, cap, NULL);
    fwrite(out, 1, k, fp);
    k = LZ4F_compressUpdate(cctx, out, cap, raw, n, NULL);
    fwrite(out, 1, k, fp);
    k = whole ? LZ4F_compressEnd(cctx, out, cap, NULL) : LZ4F_flush(cctx, out, cap, NULL);
    fwrite(out, 1, k, fp);
    free(out);
    LZ4F_freeCompressionContext(cctx);
}

/* Writes the builder's stream as a capture file, one piece (stream 1 of pid 1234, the
 * root); returns its path (static buffer). */
static inline const char *cb_file(cb_t *c, int whole) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/memtap-unit-%d.memtap", (int)getpid());
    FILE *fp = fopen(path, "wb");
    cr_assert(fp);
    cb_piece_header(fp, 1, CB_WHOLE_IMAGE, 1234, 0);
    cb_compress(fp, c->buf, c->enc.len, whole);
    fclose(fp);
    return path;
}

/* The replay of a decoder's events, event by event (the validating path) or in batches
 * filled on the pipeline's thread (the reader's own path, with its fast paths). */
static inline int cb_feed(memtap_decoder_t *d, memtap_replay_t *r, int batched) {
    int rc = MEMTAP_OK;
    memtap_event_t ev;
    memtap_pipeline_t *p = NULL;
    if (batched)
        cr_assert_eq(memtap_pipeline_start(&p, d), MEMTAP_OK);
    for (int end = 0; rc == MEMTAP_OK && !end;) {
        if (batched) {
            memtap_batch_t *b = memtap_pipeline_take(p);
            rc = b->rc;
            end = b->end;
            cr_assert_eq(memtap_replay_batch(r, b), 0);
            memtap_pipeline_give(p, b);
        } else if ((rc = memtap_decoder_next(d, &ev)) == MEMTAP_OK) {
            cr_assert_eq(memtap_replay_event(r, &ev), 0);
            end = ev.type == MEMTAP_EV_END;
        }
    }
    memtap_pipeline_stop(p);
    return rc;
}

/* Decodes path into r (initialised here), event by event or in batches. Returns the
 * decoder's status; err gets the message. */
static inline int cb_replay_one(const char *path, memtap_replay_t *r, char *err, size_t cap,
                                int batched) {
    memtap_decoder_t *d;
    cr_assert_eq(memtap_replay_init(r), 0);
    int rc = memtap_decoder_open(&d, path);
    if (rc == MEMTAP_OK)
        rc = cb_feed(d, r, batched);
    snprintf(err, cap, "%s", rc == MEMTAP_OK ? "" : memtap_decoder_error(d));
    memtap_decoder_free(d);
    memtap_replay_finish(r);
    return rc;
}

/* Both replays must hold the same figures, down to every site. */
static inline void cb_same_replay(const memtap_replay_t *a, const memtap_replay_t *b) {
#define CB_SAME(f) cr_assert_eq(a->f, b->f, "batches and events disagree on " #f)
    CB_SAME(allocations);
    CB_SAME(frees);
    CB_SAME(bytes_allocated);
    CB_SAME(unknown_frees);
    CB_SAME(live_bytes);
    CB_SAME(live_blocks);
    CB_SAME(peak_bytes);
    CB_SAME(peak_blocks);
    CB_SAME(peak_ms);
    CB_SAME(peak_seq);
    CB_SAME(leaked_bytes);
    CB_SAME(leaked_blocks);
    CB_SAME(temporary);
    CB_SAME(held_bytes);
    CB_SAME(seq);
    CB_SAME(now_ms);
    CB_SAME(max_rss);
    CB_SAME(complete);
    CB_SAME(nodes.n);
    CB_SAME(sites.n);
    CB_SAME(images.n);
    CB_SAME(threads.n);
    CB_SAME(modules.n);
    CB_SAME(py_codes.n);
    CB_SAME(regions.n);
    CB_SAME(live.count);
#undef CB_SAME
    cr_assert_eq(memcmp(a->kinds, b->kinds, sizeof a->kinds), 0, "per-kind figures differ");
    for (size_t i = 0; i < a->sites.n; i++)
        cr_assert_eq(memcmp(&a->sites.v[i], &b->sites.v[i], sizeof a->sites.v[i]), 0,
                     "site %zu differs", i);
    for (size_t i = 0; i < a->nodes.n; i++)
        cr_assert_eq(memcmp(&a->nodes.v[i], &b->nodes.v[i], sizeof a->nodes.v[i]), 0,
                     "node %zu differs", i);
    for (size_t i = 0; i < a->threads.n; i++)
        cr_assert_str_eq(a->threads.v[i].name, b->threads.v[i].name);
    for (size_t i = 0; i < a->modules.n; i++)
        cr_assert_str_eq(a->modules.v[i].path, b->modules.v[i].path);
    for (size_t i = 0; i < a->py_codes.n; i++)
        cr_assert_str_eq(a->py_codes.v[i].qualname, b->py_codes.v[i].qualname);
    for (size_t i = 0; i < a->images.n; i++)
        cr_assert_str_eq(a->images.v[i].cmdline, b->images.v[i].cmdline);
}

/* Decodes path into r (initialised here) both ways, batches and events, and requires the
 * same status, message and figures. Returns the status; err gets the message. */
static inline int cb_replay(const char *path, memtap_replay_t *r, char *err, size_t cap) {
    memtap_replay_t by_events;
    char events_err[512];
    int rc_events = cb_replay_one(path, &by_events, events_err, sizeof events_err, 0);
    int rc = cb_replay_one(path, r, err, cap, 1);
    cr_assert_eq(rc, rc_events, "batches: %d (%s), events: %d (%s)", rc, err, rc_events,
                 events_err);
    cr_assert_str_eq(err, events_err);
    if (rc == MEMTAP_OK)
        cb_same_replay(r, &by_events);
    memtap_replay_free(&by_events);
    return rc;
}

/* The state of a test that decodes one capture at a time: the builder, the process's and
 * two threads' records, the replay, the last error, and the file cb_file writes. */
typedef struct {
    cb_t c;
    cb_source_t s0, t1, t2;
    memtap_replay_t r;
    char err[512];
} cb_case_t;

static inline void cb_case_init(cb_case_t *t) {
    cb_init(&t->c);
    cb_process_init(&t->s0);
    cb_thread_init(&t->t1);
    cb_thread_init(&t->t2);
}

static inline void cb_case_done(cb_case_t *t) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/memtap-unit-%d.memtap", (int)getpid());
    unlink(path);
    free(t->c.buf);
    cb_source_free(&t->t1);
    cb_source_free(&t->t2);
    memtap_replay_free(&t->r);
}

/* An ALLOC, FREE or MUNMAP event a test expects. */
typedef struct {
    int type; /* MEMTAP_EV_ALLOC, _FREE or _MUNMAP */
    unsigned kind;
    uint64_t addr, size; /* size: an unmapping's length */
    uint32_t node;
} cb_want_t;

/* Event i, ev, must be w. */
static inline void cb_expect_event(const memtap_event_t *ev, const cb_want_t *w, size_t i) {
    cr_assert_eq(ev->type, w->type, "event %zu: type %d, want %d", i, ev->type, w->type);
    if (w->type == MEMTAP_EV_ALLOC) {
        cr_assert_eq(ev->u.alloc.addr, w->addr, "event %zu: address %#lx, want %#lx", i,
                     (unsigned long)ev->u.alloc.addr, (unsigned long)w->addr);
        cr_assert_eq(ev->u.alloc.size, w->size, "event %zu: size", i);
        cr_assert_eq(ev->u.alloc.node, w->node, "event %zu: node", i);
        cr_assert_eq(ev->u.alloc.kind, w->kind, "event %zu: kind", i);
    } else {
        cr_assert_eq(ev->u.free.addr, w->addr, "event %zu: address %#lx, want %#lx", i,
                     (unsigned long)ev->u.free.addr, (unsigned long)w->addr);
        cr_assert_eq(ev->u.free.len, w->size, "event %zu: length", i);
    }
}

static inline int cb_is_block_event(int type) {
    return type == MEMTAP_EV_ALLOC || type == MEMTAP_EV_FREE || type == MEMTAP_EV_MUNMAP;
}

/* Decodes path event by event (the validating path): its ALLOC, FREE and MUNMAP events
 * must be want[0..n), in that order. types (NULL: not wanted, else MEMTAP_EV_END + 1 of
 * them) counts the events of each type. Returns the end's complete flag. */
static inline int cb_expect_events(const char *path, const cb_want_t *want, size_t n,
                                   size_t *types) {
    memtap_decoder_t *d;
    cr_assert_eq(memtap_decoder_open(&d, path), MEMTAP_OK);
    memtap_event_t ev;
    size_t i = 0;
    do {
        cr_assert_eq(memtap_decoder_next(d, &ev), MEMTAP_OK, "%s", memtap_decoder_error(d));
        if (types)
            types[ev.type]++;
        if (!cb_is_block_event(ev.type))
            continue;
        cr_assert(i < n, "more events than expected");
        cb_expect_event(&ev, &want[i], i);
        i++;
    } while (ev.type != MEMTAP_EV_END);
    cr_assert_eq(i, n, "%zu events of %zu", i, n);
    memtap_decoder_free(d);
    return ev.u.end.complete;
}

/* The same in batches (the fast paths where they apply, the validating one elsewhere). */
static inline void cb_expect_batches(const char *path, const cb_want_t *want, size_t n) {
    memtap_decoder_t *d;
    cr_assert_eq(memtap_decoder_open(&d, path), MEMTAP_OK);
    memtap_batch_t *b = memtap_batch_new();
    cr_assert(b);
    size_t i = 0;
    for (int end = 0; !end;) {
        cr_assert_eq(memtap_decoder_fill(d, b), MEMTAP_OK, "%s", memtap_decoder_error(d));
        end = b->end;
        for (size_t k = 0; k < b->n; k++) {
            const memtap_bev_t *e = &b->ev[k];
            if (!cb_is_block_event(e->type))
                continue;
            memtap_event_t ev = {.type = (memtap_ev_type_t)e->type};
            if (e->type == MEMTAP_EV_ALLOC)
                ev.u.alloc = (__typeof__(ev.u.alloc)){e->kind, e->addr, e->size, e->node, e->thread};
            else
                ev.u.free = (__typeof__(ev.u.free)){e->addr, e->size};
            cr_assert(i < n, "more batched events than expected");
            cb_expect_event(&ev, &want[i], i);
            i++;
        }
    }
    cr_assert_eq(i, n, "%zu batched events of %zu", i, n);
    memtap_batch_free(b);
    memtap_decoder_free(d);
}

static inline int cb_case_decode(cb_case_t *t, int whole) {
    return cb_replay(cb_file(&t->c, whole), &t->r, t->err, sizeof t->err);
}

/* The capture must decode as corrupt, with a message naming the offset and `what`. */
static inline void cb_case_expect_corrupt(cb_case_t *t, const char *what) {
    cr_assert_eq(cb_case_decode(t, 1), MEMTAP_ERR_CORRUPT, "expected corruption: %s", what);
    cr_assert(strstr(t->err, "corrupt capture at byte ") == t->err, "message: %s", t->err);
    cr_assert(strstr(t->err, what), "message '%s' should say '%s'", t->err, what);
}

/* Damages the case's capture at random `rounds` times (flipped bytes, cut ends, whole or
 * not): every decode must end in success or a clear error, never a crash. */
static inline void cb_case_random_damage(cb_case_t *t, int rounds, unsigned seed) {
    size_t n = t->c.enc.len;
    uint8_t *orig = malloc(n);
    memcpy(orig, t->c.buf, n);
    srand(seed);
    for (int round = 0; round < rounds; round++) {
        memcpy(t->c.buf, orig, n);
        for (int k = 0; k < 1 + rand() % 4; k++)
            t->c.buf[(size_t)rand() % n] ^= (uint8_t)(1 + rand() % 255);
        t->c.enc.len = round % 3 == 0 ? (size_t)rand() % n : n;
        memtap_replay_free(&t->r);
        int rc = cb_case_decode(t, round % 2);
        cr_assert(rc == MEMTAP_OK || rc == MEMTAP_ERR_CORRUPT || rc == MEMTAP_ERR_VERSION,
                  "rc %d: %s", rc, t->err);
    }
    memcpy(t->c.buf, orig, n);
    t->c.enc.len = n;
    free(orig);
}

#endif
