/* Test helper: captures in pieces (docs/format.md 1) as the collector writes them: images
 * made with the real encoder (capture_builder.h), their bytes handed to the collector's
 * writer (reader/collect/pieces.c) a slice at a time, each slice a piece, processes taking
 * turns, so that their streams interleave. Header-only, for unit tests. */
#ifndef MEMTAP_TEST_PIECES_BUILDER_H
#define MEMTAP_TEST_PIECES_BUILDER_H

#include <fcntl.h>

#include "collect/pieces.h"
#include "container/container.h"
#include "support/capture_builder.h"

#define PB_MAX_IMAGES 4

/* One image: its bytes (c), its process's records (s0) and one thread's (t1). */
typedef struct {
    cb_t c;
    cb_source_t s0, t1;
    int killed; /* its last piece says KILLED, with signal 9 */
} pb_image_t;

/* A process: its images in order, written one after another. */
typedef struct {
    uint64_t pid;
    int root;
    pb_image_t *images[PB_MAX_IMAGES];
    size_t nimages;
    /* the writer's progress */
    size_t image, at;
    memtap_piece_stream_t stream;
    int open;
} pb_proc_t;

/* Begins image im: its header (flags, pid, ppid, command line "cmd" with NUL-separated
 * arguments, start time start_ms after 1e9 ns), a THREAD and NODE 1 at 0x401000 + pid. */
static inline void pb_image_begin(pb_image_t *im, uint32_t flags, uint64_t pid, uint64_t ppid,
                                  const char *cmd, size_t cmd_len, uint64_t start_ms) {
    memset(im, 0, sizeof *im);
    cb_init(&im->c);
    cb_process_init(&im->s0);
    cb_thread_init(&im->t1);
    memtap_header_info_t h = {.flags = flags,
                              .pid = pid,
                              .ppid = ppid,
                              .start_unix_ns = 1000000000ull + start_ms * 1000000ull,
                              .page_size = 4096,
                              .exe = "/bin/prog",
                              .cmdline = cmd,
                              .cmdline_len = cmd_len};
    cr_assert_eq(memtap_enc_header(&im->c.enc, &h), 0);
    cr_assert_eq(memtap_enc_thread(&im->s0.enc, pid, "main"), 0);
    memtap_enc_node(&im->s0.enc, 1, 0, 0x401000 + pid);
    cb_chunk(&im->c, 0, 0, &im->s0);
}

/* Thread 1 allocates size bytes at addr (node 1), or frees addr. */
static inline void pb_alloc(pb_image_t *im, uint64_t addr, uint64_t size) {
    cb_key(&im->t1, im->t1.key);
    memtap_enc_alloc(&im->t1.enc, MEMTAP_KIND_MALLOC, addr, size, 1);
}
static inline void pb_free(pb_image_t *im, uint64_t addr) {
    cb_free_at(&im->t1, im->t1.key, addr);
}

/* Ends the image with EXIT (or EXEC) at ms and its trailer. */
static inline void pb_image_end(pb_image_t *im, uint8_t end, uint64_t ms) {
    cb_source_t *s0 = &im->s0;
    s0->enc.allocations = im->t1.enc.allocations;
    s0->enc.frees = im->t1.enc.frees;
    cb_chunk(&im->c, 1, MEMTAP_WATERMARK_CLOSED, &im->t1);
    cb_key(s0, im->t1.key + 1);
    memtap_enc_u64(&s0->enc, end, ms);
    memtap_enc_trailer(&s0->enc);
    cb_chunk(&im->c, 0, MEMTAP_WATERMARK_CLOSED, s0);
}

/* Ends the image as the collector does for a process killed inside it: thread 1's records
 * in a closing chunk whose last record was half written (its first `half` bytes), no
 * trailer; its last piece says KILLED, signal 9. */
static inline void pb_image_killed(pb_image_t *im, size_t half) {
    size_t n = im->t1.enc.len;
    memtap_enc_alloc(&im->t1.enc, MEMTAP_KIND_MALLOC, 0x7f0000, 1234567, 1);
    cr_assert(half < im->t1.enc.len - n);
    im->t1.enc.len = n + half;
    cb_chunk(&im->c, 1, MEMTAP_WATERMARK_CLOSED, &im->t1);
    im->killed = 1;
}

static inline void pb_image_free(pb_image_t *im) {
    free(im->c.buf);
    cb_source_free(&im->t1);
}

/* Writes the processes' images to a new file at path through the collector's writer:
 * processes take turns, each writing `slice` bytes of its current image as a piece; an
 * image's last piece has LAST (and KILLED); a process's next image starts after it. */
static inline void pb_write(const char *path, pb_proc_t *procs, size_t n, size_t slice) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    memtap_piece_file_t f;
    memtap_piece_file_init(&f, fd, NULL);
    for (size_t left = n; left > 0;) {
        left = 0;
        for (size_t i = 0; i < n; i++) {
            pb_proc_t *p = &procs[i];
            if (p->image == p->nimages)
                continue;
            left++;
            pb_image_t *im = p->images[p->image];
            if (!p->open) {
                cr_assert_eq(memtap_piece_stream_open(&f, &p->stream, p->pid, p->root), 0);
                p->open = 1;
            }
            size_t k = im->c.enc.len - p->at < slice ? im->c.enc.len - p->at : slice;
            cr_assert_eq(memtap_piece_put(&f, &p->stream, im->c.buf + p->at, k), 0);
            p->at += k;
            int last = p->at == im->c.enc.len;
            cr_assert_eq(memtap_piece_flush(&f, &p->stream, last, im->killed, 9), 0);
            if (last) {
                memtap_piece_stream_free(&p->stream);
                p->open = 0;
                p->image++;
                p->at = 0;
            }
        }
    }
    cr_assert_eq(f.error, 0);
    memtap_piece_file_free(&f);
    close(fd);
}

#endif
