/* Pieces: a stream's gathered bytes compressed into one LZ4 frame behind a piece header. */
#include "collect/pieces.h"

#include <errno.h>
#include <lz4frame.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memtap/container.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The settings the library's own sink uses: 64 KiB linked blocks, both checksums. */
static const LZ4F_preferences_t prefs = {
    .frameInfo = {.blockSizeID = LZ4F_max64KB,
                  .blockMode = LZ4F_blockLinked,
                  .contentChecksumFlag = LZ4F_contentChecksumEnabled,
                  .blockChecksumFlag = LZ4F_blockChecksumEnabled},
};

void memtap_piece_file_init(memtap_piece_file_t *f, int fd, memtap_piece_write_fn write_fn) {
    memset(f, 0, sizeof *f);
    f->fd = fd;
    f->next_stream = 1;
    f->write = write_fn ? write_fn : write;
}

void memtap_piece_file_free(memtap_piece_file_t *f) {
    free(f->out);
    f->out = NULL;
    f->out_cap = 0;
}

static int write_all(memtap_piece_file_t *f, const uint8_t *p, size_t n) {
    while (n > 0 && !f->error) {
        ssize_t w = f->write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            f->error = w < 0 ? errno : EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        f->bytes += (uint64_t)w;
    }
    return f->error ? -1 : 0;
}

int memtap_piece_stream_open(memtap_piece_file_t *f, memtap_piece_stream_t *s, uint64_t pid,
                             int root) {
    memset(s, 0, sizeof *s);
    s->raw = malloc(MEMTAP_PIECE_RAW);
    if (!s->raw)
        return -1;
    s->id = f->next_stream++;
    s->pid = pid;
    s->flags = root ? MEMTAP_PIECE_ROOT : 0;
    return 0;
}

void memtap_piece_stream_free(memtap_piece_stream_t *s) {
    free(s->raw);
    s->raw = NULL;
}

int memtap_piece_flush(memtap_piece_file_t *f, memtap_piece_stream_t *s, int last, int killed,
                       int status) {
    if (s->ended || (!s->len && !last))
        return 0;
    size_t bound = LZ4F_compressFrameBound(s->len, &prefs);
    if (bound > f->out_cap) {
        uint8_t *p = realloc(f->out, bound);
        if (!p) {
            f->error = f->error ? f->error : ENOMEM;
            return -1;
        }
        f->out = p;
        f->out_cap = bound;
    }
    size_t z = LZ4F_compressFrame(f->out, f->out_cap, s->raw, s->len, &prefs);
    unsigned flags = s->flags | (s->first_written ? 0 : MEMTAP_PIECE_FIRST) |
                     (last ? MEMTAP_PIECE_LAST : 0) | (last && killed ? MEMTAP_PIECE_KILLED : 0);
    s->len = 0;
    s->first_written = 1;
    s->ended = last;
    if (LZ4F_isError(z)) {
        f->error = f->error ? f->error : EINVAL;
        return -1;
    }
    uint8_t head[MEMTAP_PIECE_MAX_HEADER];
    size_t hn = memtap_piece_header(head, s->id, flags, s->pid,
                                    last && killed ? (uint64_t)status : 0);
    if (write_all(f, head, hn) < 0 || write_all(f, f->out, z) < 0)
        return -1;
    return 0;
}

int memtap_piece_put(memtap_piece_file_t *f, memtap_piece_stream_t *s, const void *p, size_t n) {
    const uint8_t *q = p;
    int rc = 0;
    while (n > 0) {
        if (!s->len)
            s->since_ns = now_ns();
        size_t k = MEMTAP_PIECE_RAW - s->len;
        k = k < n ? k : n;
        memcpy(s->raw + s->len, q, k);
        s->len += k;
        q += k;
        n -= k;
        if (s->len == MEMTAP_PIECE_RAW && memtap_piece_flush(f, s, 0, 0, 0) < 0)
            rc = -1;
    }
    return rc;
}
