/* Streaming decompression of one process's images, piece by piece (see source.h). May
 * call: container.h, liblz4's LZ4F API. */
#include "container/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memtap/container.h"

#define IN_SIZE (1 << 20)

int memtap_source_open(memtap_source_t *src, const memtap_container_t *c, uint32_t process) {
    memset(src, 0, sizeof *src);
    src->c = c;
    src->stream = src->piece = MEMTAP_NONE;
    if (process < c->processes.n) {
        src->stream = c->processes.v[process].first;
        src->piece = c->streams.v[src->stream].first;
    }
    /* a small file needs no more (the fuzzer reads thousands of them) */
    src->in_cap = c->file_size < IN_SIZE ? (size_t)c->file_size + 1 : IN_SIZE;
    src->in = malloc(src->in_cap);
    if (!src->in || LZ4F_isError(LZ4F_createDecompressionContext(&src->dctx, LZ4F_VERSION))) {
        snprintf(src->error, sizeof src->error, "out of memory");
        memtap_source_close(src);
        return MEMTAP_ERR_NOMEM;
    }
    return MEMTAP_OK;
}

void memtap_source_close(memtap_source_t *src) {
    if (src->dctx)
        LZ4F_freeDecompressionContext(src->dctx);
    free(src->in);
    src->dctx = NULL;
    src->in = NULL;
}

/* Moves the input to file offset `at`: within the bytes already read when it is there
 * (the next piece often is), else they are dropped and read afresh from there. */
static void seek(memtap_source_t *src, uint64_t at) {
    if (at >= src->in_at && at <= src->in_at + src->in_len) {
        src->in_pos = (size_t)(at - src->in_at);
        return;
    }
    src->in_at = at;
    src->in_pos = src->in_len = 0;
}

/* Reads more input at the current offset. Returns MEMTAP_OK (src->in_len == src->in_pos
 * when the file has no more), or MEMTAP_ERR_IO. */
static int refill(memtap_source_t *src) {
    src->in_at += src->in_pos;
    src->in_pos = src->in_len = 0;
    ssize_t r = pread(src->c->fd, src->in, src->in_cap, (off_t)src->in_at);
    if (r < 0) {
        snprintf(src->error, sizeof src->error, "%s", strerror(errno));
        return MEMTAP_ERR_IO;
    }
    src->in_len = (size_t)r;
    return MEMTAP_OK;
}

/* The current piece is read (or cut short): on to the stream's next one, or the image's
 * end. Returns the image's end, or MEMTAP_IMAGE_GOES_ON. */
static int piece_done(memtap_source_t *src) {
    const memtap_container_t *c = src->c;
    src->in_frame = 0;
    src->hint = 0;
    src->piece = c->pieces.v[src->piece].next;
    if (src->piece != MEMTAP_NONE)
        return MEMTAP_IMAGE_GOES_ON;
    const memtap_stream_t *s = &c->streams.v[src->stream];
    src->stream = s->next_image;
    src->piece = src->stream != MEMTAP_NONE ? c->streams.v[src->stream].first : MEMTAP_NONE;
    return s->whole && !(s->flags & MEMTAP_PIECE_KILLED) ? MEMTAP_IMAGE_WHOLE : MEMTAP_IMAGE_CUT;
}

int memtap_source_read(memtap_source_t *src, uint8_t *dst, size_t cap, size_t *n, int *image_end) {
    *n = 0;
    *image_end = MEMTAP_IMAGE_GOES_ON;
    while (*n < cap && src->piece != MEMTAP_NONE) {
        if (!src->in_frame) {
            seek(src, src->c->pieces.v[src->piece].frame);
            src->in_frame = 1;
        }
        if (src->in_pos == src->in_len) {
            int rc = refill(src);
            if (rc != MEMTAP_OK)
                return rc;
            if (src->in_len == 0) { /* the file ends inside this piece's LZ4 frame */
                LZ4F_resetDecompressionContext(src->dctx);
                if ((*image_end = piece_done(src)) != MEMTAP_IMAGE_GOES_ON)
                    return MEMTAP_OK;
                continue;
            }
        }
        size_t out = cap - *n, in = src->in_len - src->in_pos;
        /* block by block (a new LZ4 frame: its header first), so an error names the damaged
         * block, and no byte past the LZ4 frame's end is taken */
        size_t want = src->hint ? src->hint : LZ4F_HEADER_SIZE_MIN;
        if (want < in)
            in = want;
        size_t hint = LZ4F_decompress(src->dctx, dst + *n, &out, src->in + src->in_pos, &in, NULL);
        if (LZ4F_isError(hint)) {
            snprintf(src->error, sizeof src->error, "corrupt capture at byte %llu: %s",
                     (unsigned long long)memtap_source_offset(src), LZ4F_getErrorName(hint));
            return MEMTAP_ERR_CORRUPT;
        }
        src->in_pos += in;
        src->hint = hint;
        *n += out;
        if (hint == 0 && (*image_end = piece_done(src)) != MEMTAP_IMAGE_GOES_ON)
            return MEMTAP_OK;
        if (in == 0 && out == 0 && hint != 0)
            break; /* no progress possible with this much room */
    }
    return MEMTAP_OK;
}
