/* The decoder's driver: validated events from a capture's decompressed stream, image by
 * image (header, then chunks until the LZ4 frame ends). Every length, index and count is
 * checked before use; the window never grows, so no input can make the decoder allocate
 * without bound. May call: source.h (the stream), records.c and order.c (through
 * decoder_internal.h). */
#include "decode/decoder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "decode/decoder_internal.h"

int dec_fail(memtap_decoder_t *d, int code, uint64_t offset, const char *fmt, ...) {
    char msg[384], who[48] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (d->c && d->c->processes.n > 1) /* offsets count this process's images only */
        snprintf(who, sizeof who, " (process %llu)",
                 (unsigned long long)d->c->processes.v[d->process].pid);
    if (code == MEMTAP_ERR_VERSION)
        snprintf(d->error, sizeof d->error, "%s", msg);
    else
        snprintf(d->error, sizeof d->error, "corrupt capture at byte %llu: %s%s",
                 (unsigned long long)offset, msg, who);
    d->done = 1;
    return code;
}

int memtap_decoder_open_process(memtap_decoder_t **out, const memtap_container_t *c,
                                uint32_t process) {
    memtap_decoder_t *d = calloc(1, sizeof *d);
    *out = d;
    if (!d)
        return MEMTAP_ERR_NOMEM;
    d->state = EXPECT_HEADER;
    d->c = c;
    d->process = process;
    int rc = memtap_source_open(&d->src, c, process);
    if (rc != MEMTAP_OK) {
        snprintf(d->error, sizeof d->error, "%s", d->src.error);
        return rc;
    }
    d->win = malloc(WIN_SIZE);
    if (!d->win) {
        snprintf(d->error, sizeof d->error, "out of memory");
        return MEMTAP_ERR_NOMEM;
    }
    return MEMTAP_OK;
}

int memtap_decoder_open(memtap_decoder_t **out, const char *path) {
    memtap_container_t *c;
    int rc = memtap_container_open(&c, path);
    if (rc != MEMTAP_OK) {
        memtap_decoder_t *d = calloc(1, sizeof *d);
        *out = d;
        if (d)
            snprintf(d->error, sizeof d->error, "%s", c ? c->error : "out of memory");
        memtap_container_free(c);
        return d ? rc : MEMTAP_ERR_NOMEM;
    }
    rc = memtap_decoder_open_process(out, c, memtap_container_find(c, -1));
    if (*out)
        (*out)->own = c;
    else
        memtap_container_free(c);
    return rc;
}

void memtap_decoder_free(memtap_decoder_t *d) {
    if (!d)
        return;
    memtap_source_close(&d->src);
    memtap_merge_free(&d->merge);
    memtap_container_free(d->own);
    free(d->win);
    free(d);
}

const char *memtap_decoder_error(const memtap_decoder_t *d) { return d->error; }

void memtap_decoder_progress(const memtap_decoder_t *d, uint64_t *done, uint64_t *total) {
    *done = d->c ? memtap_source_offset(&d->src) : 0;
    *total = d->c ? d->c->file_size : 0;
}

/* Moves the unread bytes to the front and decompresses more of the current image. */
static int fill(memtap_decoder_t *d) {
    if (d->pos > 0) {
        memmove(d->win, d->win + d->pos, d->len - d->pos);
        d->win_offset += d->pos;
        d->len -= d->pos;
        d->pos = 0;
    }
    size_t n;
    int rc = memtap_source_read(&d->src, d->win + d->len, WIN_SIZE - d->len, &n, &d->image_end);
    if (rc != MEMTAP_OK) {
        snprintf(d->error, sizeof d->error, "%s", d->src.error);
        d->done = 1;
        return rc;
    }
    d->len += n;
    if (n == 0 && !d->image_end)
        d->eof = 1;
    return MEMTAP_OK;
}

enum { NEXT_EVENT = 0, NEXT_LOOP = -1 }; /* besides error codes: what next_event does */

/* The window is empty: the image ends (checked when whole), more of it comes in, or the
 * process's records end (ev: MEMTAP_EV_END). Returns NEXT_LOOP to go on, NEXT_EVENT with
 * ev, or an error code. */
static int window_empty(memtap_decoder_t *d, memtap_event_t *ev) {
    if ((d->image_end || d->eof) && d->state != EXPECT_HEADER && !d->merge_closed) {
        memtap_merge_close(&d->merge); /* release all that is left, then end */
        d->merge_closed = 1;
        return NEXT_LOOP;
    }
    if (d->image_end == MEMTAP_IMAGE_WHOLE) { /* the image must have ended properly */
        uint64_t at = d->win_offset + d->pos;
        if (d->merge.pending)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "record cut short by the end of its image");
        if (d->state == EXPECT_HEADER)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "stream without a memtap image");
        if (d->state != AFTER_TRAILER)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "image ends without a trailer");
    } else if (d->image_end == MEMTAP_IMAGE_CUT) {
        /* killed, or the file ends: what arrived was released; a record cut short is the end */
        d->incomplete = 1;
    }
    if (d->image_end) {
        d->state = EXPECT_HEADER;
        d->image_end = 0;
    }
    if (!d->eof) {
        int rc = fill(d);
        return rc == MEMTAP_OK ? NEXT_LOOP : rc;
    }
    ev->type = MEMTAP_EV_END;
    ev->offset = d->win_offset + d->pos;
    ev->u.end.complete = !d->incomplete && d->state == EXPECT_HEADER;
    d->done = 1;
    return NEXT_EVENT;
}

/* The window ends inside the header or chunk at ev->offset: more of the image, or the end
 * of what arrived of a cut image. */
static int record_cut(memtap_decoder_t *d, memtap_event_t *ev) {
    if (d->image_end == MEMTAP_IMAGE_WHOLE)
        return dec_fail(d, MEMTAP_ERR_CORRUPT, ev->offset,
                        "record cut short by the end of its image");
    if (d->image_end || d->eof) {
        /* the image was cut inside this header or chunk: what the chunks before it brought
         * is released (window_empty closes the merge); the rest is lost */
        d->pos = d->len;
        return NEXT_LOOP;
    }
    if (d->len - d->pos >= WIN_SIZE / 2)
        return dec_fail(d, MEMTAP_ERR_CORRUPT, ev->offset, "record larger than any valid record");
    int rc = fill(d);
    return rc == MEMTAP_OK ? NEXT_LOOP : rc;
}

/* The header or chunk at the window's start. */
static int parse_top(memtap_decoder_t *d, memtap_event_t *ev) {
    cursor_t c = {d->win + d->pos, d->win + d->len, PARSE_OK, NULL};
    memset(ev, 0, sizeof *ev);
    ev->offset = d->win_offset + d->pos;
    int header = d->state == EXPECT_HEADER;
    if (header)
        dec_parse_header(&c, ev);
    else
        dec_parse_chunk(d, &c);
    if (c.status == PARSE_BAD)
        return dec_fail(d, MEMTAP_ERR_CORRUPT, ev->offset, "%s (record type 0x%02x)", c.why,
                        d->win[d->pos]);
    if (c.status == PARSE_MORE)
        return record_cut(d, ev);
    if (header && ev->u.header.version != MEMTAP_FORMAT_VERSION)
        return dec_fail(d, MEMTAP_ERR_VERSION, ev->offset,
                        "capture format version %u, this memtap reads version %u",
                        ev->u.header.version, MEMTAP_FORMAT_VERSION);
    d->pos = (size_t)(c.p - d->win);
    if (!header)
        return NEXT_LOOP; /* a chunk: its records come out of the merge */
    int rc = dec_commit(d, ev);
    return rc == MEMTAP_OK ? NEXT_EVENT : rc;
}

int memtap_decoder_next(memtap_decoder_t *d, memtap_event_t *ev) {
    if (d->done)
        return d->error[0] ? MEMTAP_ERR_CORRUPT : MEMTAP_OK;
    for (;;) {
        if (d->state != EXPECT_HEADER) {
            int r = dec_merged_event(d, ev);
            if (r < 0)
                return -r;
            if (r > 0)
                return MEMTAP_OK;
        }
        int rc = d->pos == d->len ? window_empty(d, ev) : parse_top(d, ev);
        if (rc != NEXT_LOOP)
            return rc;
    }
}
