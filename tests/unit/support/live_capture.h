/* Captures written in the test process by the library's own modules (preload/output,
 * preload/core), never by the preloaded library: a temporary file, an image begun on it,
 * and ways to read it back: the raw decompressed bytes (LZ4F) or the reader's events.
 * Also stderr caught in a file, for the one line the library says when it gives up. */
#ifndef MEMTAP_TESTS_LIVE_CAPTURE_H
#define MEMTAP_TESTS_LIVE_CAPTURE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "core/lifecycle.h"
#include "core/threads.h"
#include "container/container.h"
#include "decode/decoder.h"
#include "hooks/real.h"
#include "memtap/container.h"
#include "output/stream.h"

/* A new empty file under /tmp; path gets its name (64 bytes). Returns its descriptor. */
static inline int live_temp(char *path) {
    strcpy(path, "/tmp/memtap-unit-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    return fd;
}

/* What the library's constructor prepares for recording: the real allocator functions
 * (realloc, exec's environment) and the thread-exit key. */
static inline void live_prepare(void) {
    cr_assert(memtap_real_resolve());
    memtap_threads_init();
}

/* The stream's buffers mapped, an image begun on a new file, tracking on. */
static inline int live_begin(char *path, uint32_t flags) {
    int fd = live_temp(path);
    cr_assert_eq(memtap_stream_init(), 0);
    cr_assert_eq(memtap_begin_image(fd, flags), 0);
    memtap_state = MEMTAP_STATE_ACTIVE;
    return fd;
}

/* The decompressed bytes of the file so far (LZ4 frames whole or not); *n gets their
 * count, *ended whether the last LZ4 frame was ended. Free the result. */
static inline uint8_t *live_raw(const char *path, size_t *n, int *ended) {
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    struct stat st;
    fstat(fd, &st);
    size_t in_n = (size_t)st.st_size, cap = 16 * in_n + (1 << 20), done = 0, at = 0;
    uint8_t *in = malloc(in_n + 1), *out = malloc(cap);
    cr_assert_eq(pread(fd, in, in_n, 0), (ssize_t)in_n);
    close(fd);
    LZ4F_dctx *d;
    LZ4F_createDecompressionContext(&d, LZ4F_VERSION);
    size_t hint = 1;
    while (at < in_n) {
        size_t src = in_n - at, dst = cap - done;
        hint = LZ4F_decompress(d, out + done, &dst, in + at, &src, NULL);
        cr_assert(!LZ4F_isError(hint), "LZ4: %s", LZ4F_getErrorName(hint));
        at += src;
        done += dst;
        cr_assert_lt(done, cap);
    }
    LZ4F_freeDecompressionContext(d);
    free(in);
    *n = done;
    *ended = hint == 0;
    return out;
}

/* Strings of events copied out of the decoder's window. */
static char live_pool[1 << 16];
static size_t live_pool_used;
static inline const char *live_keep(const char *s, size_t n) {
    if (!s)
        return NULL;
    cr_assert_lt(live_pool_used + n + 1, sizeof live_pool);
    char *d = live_pool + live_pool_used;
    memcpy(d, s, n);
    d[n] = '\0';
    live_pool_used += n + 1;
    return d;
}

/* TEMPORARY (h-container, until preload/output writes pieces itself): a copy of the capture
 * at path with a piece header (FIRST | LAST | ROOT, stream k for its k-th LZ4 frame) before
 * each LZ4 frame, as the library will write without a collector (docs/format.md 1), so that
 * the reader, which reads pieces only, reads what this library writes. A file that starts
 * with a piece already is used as it is. Returns the path to read (static buffer). */
static inline const char *live_as_pieces(const char *path) {
    static char copy[80];
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    struct stat st;
    fstat(fd, &st);
    uint8_t magic[4] = {0};
    if (pread(fd, magic, 4, 0) == 4 && magic[0] == 0x5e && magic[1] == 0x2a) {
        close(fd);
        return path;
    }
    snprintf(copy, sizeof copy, "%s.pieces", path);
    FILE *out = fopen(copy, "wb");
    cr_assert(out);
    uint64_t at = 0, end, size = (uint64_t)st.st_size;
    for (uint64_t k = 1; at < size; k++, at = end) {
        const char *why;
        int whole = memtap_lz4_frame_walk(fd, size, at, &end, &why);
        cr_assert_geq(whole, 0, "%s at %llu", why, (unsigned long long)at);
        uint8_t h[MEMTAP_PIECE_MAX_HEADER], *buf = malloc(end - at + 1);
        fwrite(h, 1, memtap_piece_header(h, k, 0xb, (uint64_t)getpid(), 0), out);
        cr_assert_eq(pread(fd, buf, end - at, (off_t)at), (ssize_t)(end - at));
        fwrite(buf, 1, end - at, out);
        free(buf);
    }
    fclose(out);
    close(fd);
    return copy;
}

/* Every event of the capture, in the reader's order, its strings (header exe, module path,
 * thread name) NUL-terminated copies valid until the next call. Returns how many, END
 * included; asserts the capture decodes. */
static inline size_t live_events(const char *path, memtap_event_t *out, size_t cap) {
    memtap_decoder_t *dec;
    const char *pieces = live_as_pieces(path);
    int rc = memtap_decoder_open(&dec, pieces);
    if (pieces != path)
        unlink(pieces);
    cr_assert_eq(rc, MEMTAP_OK, "%s", memtap_decoder_error(dec));
    size_t n = 0;
    live_pool_used = 0;
    for (;;) {
        cr_assert_lt(n, cap, "more events than expected");
        memtap_event_t *e = &out[n++];
        rc = memtap_decoder_next(dec, e);
        cr_assert_eq(rc, MEMTAP_OK, "%s", memtap_decoder_error(dec));
        if (e->type == MEMTAP_EV_HEADER) {
            e->u.header.exe = live_keep(e->u.header.exe, e->u.header.exe_len);
            e->u.header.cmdline = NULL;
        } else if (e->type == MEMTAP_EV_MODULE) {
            e->u.module.path = live_keep(e->u.module.path, e->u.module.path_len);
            e->u.module.build_id = NULL;
            e->u.module.segs = NULL;
        } else if (e->type == MEMTAP_EV_THREAD || e->type == MEMTAP_EV_THREAD_NAME) {
            e->u.thread.name = live_keep(e->u.thread.name, e->u.thread.name_len);
        } else if (e->type == MEMTAP_EV_PY_CODE) {
            e->u.py_code.qualname = e->u.py_code.filename = NULL;
        } else if (e->type == MEMTAP_EV_END) {
            break;
        }
    }
    memtap_decoder_free(dec);
    return n;
}

/* How many of the n events are of type t; the first one's index in *first (if any). */
static inline size_t live_count(const memtap_event_t *ev, size_t n, memtap_ev_type_t t,
                                size_t *first) {
    size_t k = 0;
    for (size_t i = n; i > 0; i--)
        if (ev[i - 1].type == t) {
            k++;
            if (first)
                *first = i - 1;
        }
    return k;
}

/* A write(2) for the seams (memtap_sink_open's, memtap_stream_write): live_writes_left
 * calls go through, then the disk is full. */
static int live_writes_left;
static inline ssize_t live_filling_disk(int fd, const void *p, size_t n) {
    if (live_writes_left-- <= 0) {
        errno = ENOSPC;
        return -1;
    }
    return write(fd, p, n);
}

/* stderr (fd 2) into a new file until live_stderr_text, which returns what was written
 * (static buffer) and puts fd 2 back. */
static int live_saved_stderr = -1;
static char live_stderr_path[64];
static inline void live_catch_stderr(void) {
    int fd = live_temp(live_stderr_path);
    live_saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}
static inline const char *live_stderr_text(void) {
    static char text[4096];
    dup2(live_saved_stderr, 2);
    close(live_saved_stderr);
    int fd = open(live_stderr_path, O_RDONLY);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    unlink(live_stderr_path);
    text[n > 0 ? n : 0] = '\0';
    return text;
}

#endif
