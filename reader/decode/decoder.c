/* Capture decoder: validated events from the decompressed record stream. Every length,
 * index and count is checked before use; the window never grows, so no input can make the
 * decoder allocate without bound. */
#include "decode/decoder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "memtap/varint.h"
#include "decode/decoder_internal.h"


uint64_t dec_get_varint(cursor_t *c, const char *what) {
    uint64_t v = 0;
    if (c->status)
        return 0;
    int r = memtap_varint_get(&c->p, c->end, &v);
    if (r == 0)
        c->status = PARSE_MORE;
    else if (r < 0) {
        c->status = PARSE_BAD;
        c->why = what;
    }
    return v;
}

uint8_t dec_get_byte(cursor_t *c) {
    if (c->status)
        return 0;
    if (c->p >= c->end) {
        c->status = PARSE_MORE;
        return 0;
    }
    return *c->p++;
}

const uint8_t *dec_get_bytes(cursor_t *c, size_t *len, size_t max, const char *what) {
    uint64_t n = dec_get_varint(c, what);
    if (c->status)
        return NULL;
    if (n > max) {
        c->status = PARSE_BAD;
        c->why = what;
        return NULL;
    }
    if ((size_t)(c->end - c->p) < n) {
        c->status = PARSE_MORE;
        return NULL;
    }
    const uint8_t *s = c->p;
    c->p += n;
    *len = (size_t)n;
    return s;
}

void dec_bad(cursor_t *c, const char *why) {
    if (!c->status) {
        c->status = PARSE_BAD;
        c->why = why;
    }
}

int dec_fail(memtap_decoder_t *d, int code, uint64_t offset, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (code == MEMTAP_ERR_VERSION)
        snprintf(d->error, sizeof d->error, "%s", msg);
    else
        snprintf(d->error, sizeof d->error, "corrupt capture at byte %llu: %s",
                 (unsigned long long)offset, msg);
    d->done = 1;
    return code;
}

int memtap_decoder_open(memtap_decoder_t **out, const char *path) {
    memtap_decoder_t *d = calloc(1, sizeof *d);
    *out = d;
    if (!d)
        return MEMTAP_ERR_NOMEM;
    d->state = EXPECT_HEADER;
    int rc = memtap_source_open(&d->src, path);
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

void memtap_decoder_free(memtap_decoder_t *d) {
    if (!d)
        return;
    memtap_source_close(&d->src);
    memtap_merge_free(&d->merge);
    free(d->win);
    free(d);
}

const char *memtap_decoder_error(const memtap_decoder_t *d) { return d->error; }

void memtap_decoder_progress(const memtap_decoder_t *d, uint64_t *done, uint64_t *total) {
    *done = d->src.file_pos;
    *total = d->src.file_size;
}

/* Moves the unread bytes to the front and decompresses more of the current frame. */
static int fill(memtap_decoder_t *d) {
    if (d->pos > 0) {
        memmove(d->win, d->win + d->pos, d->len - d->pos);
        d->win_offset += d->pos;
        d->len -= d->pos;
        d->pos = 0;
    }
    size_t n;
    int rc = memtap_source_read(&d->src, d->win + d->len, WIN_SIZE - d->len, &n, &d->frame_end);
    if (rc != MEMTAP_OK) {
        snprintf(d->error, sizeof d->error, "%s", d->src.error);
        if (d->src.file_pos == 0 && rc == MEMTAP_ERR_CORRUPT)
            snprintf(d->error, sizeof d->error, "not a memtap capture (no LZ4 frame at byte 0)");
        d->done = 1;
        return rc;
    }
    d->len += n;
    if (n == 0 && !d->frame_end)
        d->eof = 1;
    return MEMTAP_OK;
}

static void parse_header(memtap_decoder_t *d, cursor_t *c, memtap_event_t *ev) {
    if ((size_t)(c->end - c->p) < MEMTAP_MAGIC_LEN + 2) {
        c->status = PARSE_MORE;
        return;
    }
    if (memcmp(c->p, MEMTAP_MAGIC, MEMTAP_MAGIC_LEN) != 0) {
        dec_bad(c, "frame does not start with a memtap header (bad magic)");
        return;
    }
    c->p += MEMTAP_MAGIC_LEN;
    unsigned version = c->p[0] | (unsigned)c->p[1] << 8;
    c->p += 2;
    ev->type = MEMTAP_EV_HEADER;
    ev->u.header.version = version;
    if (version == 0) {
        dec_bad(c, "format version 0");
        return;
    }
    if (version > MEMTAP_FORMAT_VERSION)
        return; /* reported by the caller as a version error */
    d->version = version;
    d->max_kind = version >= 2 ? MEMTAP_KIND_PYMEM_OBJ : MEMTAP_KIND_MMAP;
    ev->u.header.flags = (uint32_t)dec_get_varint(c, "header flags");
    ev->u.header.pid = dec_get_varint(c, "pid");
    ev->u.header.ppid = dec_get_varint(c, "ppid");
    ev->u.header.start_unix_ns = dec_get_varint(c, "start time");
    ev->u.header.page_size = dec_get_varint(c, "page size");
    ev->u.header.exe = (const char *)dec_get_bytes(c, &ev->u.header.exe_len, MEMTAP_MAX_STRING,
                                               "executable path too long");
    ev->u.header.cmdline = (const char *)dec_get_bytes(c, &ev->u.header.cmdline_len,
                                                   MEMTAP_MAX_STRING, "command line too long");
    (void)d;
}

void dec_parse_record(memtap_decoder_t *d, cursor_t *c, memtap_event_t *ev) {
    uint8_t type = dec_get_byte(c);
    if (c->status)
        return;
    if (d->state == AFTER_TRAILER) {
        dec_bad(c, "record after the trailer");
        return;
    }
    int same = (type & 0xf0) == MEMTAP_REC_ALLOC_SAME && d->version >= 3;
    if ((type & 0xf0) == MEMTAP_REC_ALLOC || same) {
        unsigned kind = type & 0x0f;
        ev->type = MEMTAP_EV_ALLOC;
        ev->u.alloc.kind = kind;
        uint64_t delta = dec_get_varint(c, "address");
        ev->u.alloc.size = dec_get_varint(c, "size");
        uint64_t node = same ? d->last_node : dec_get_varint(c, "stack node");
        if (c->status)
            return;
        if (kind > d->max_kind)
            return dec_bad(c, "unknown allocator kind");
        if (node > d->nodes && d->version < 3) /* v3: checked when released (merged_event) */
            return dec_bad(c, "allocation names a stack node not yet defined");
        if (ev->u.alloc.size > MAX_BLOCK)
            return dec_bad(c, "allocation larger than any address space");
        ev->u.alloc.addr = d->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.alloc.node = (uint32_t)node;
        return;
    }
    switch (type) {
    case MEMTAP_REC_MODULES_RESET:
        ev->type = MEMTAP_EV_MODULES_RESET;
        return;
    case MEMTAP_REC_MODULE: {
        ev->type = MEMTAP_EV_MODULE;
        ev->u.module.path = (const char *)dec_get_bytes(c, &ev->u.module.path_len, MEMTAP_MAX_STRING,
                                                    "module path too long");
        ev->u.module.bias = dec_get_varint(c, "module bias");
        ev->u.module.build_id = dec_get_bytes(c, &ev->u.module.build_id_len, MEMTAP_MAX_BUILD_ID,
                                          "build-id too long");
        uint64_t nseg = dec_get_varint(c, "segment count");
        if (!c->status && nseg > MEMTAP_MAX_SEGMENTS)
            return dec_bad(c, "too many segments in a module");
        for (uint64_t i = 0; i < nseg && !c->status; i++) {
            d->segs[i].vaddr = dec_get_varint(c, "segment address");
            d->segs[i].memsz = dec_get_varint(c, "segment size");
            d->segs[i].flags = (uint32_t)dec_get_varint(c, "segment flags");
        }
        ev->u.module.nseg = (size_t)nseg;
        ev->u.module.segs = d->segs;
        return;
    }
    case MEMTAP_REC_THREAD:
        ev->type = MEMTAP_EV_THREAD;
        ev->u.thread.tid = dec_get_varint(c, "thread id");
        ev->u.thread.name = (const char *)dec_get_bytes(c, &ev->u.thread.name_len, MEMTAP_MAX_STRING,
                                                    "thread name too long");
        if (!c->status && d->threads == UINT32_MAX)
            return dec_bad(c, "too many threads");
        ev->u.thread.index = d->threads + 1;
        return;
    case MEMTAP_REC_THREAD_SWITCH:
    case MEMTAP_REC_THREAD_NAME: {
        ev->type = type == MEMTAP_REC_THREAD_SWITCH ? MEMTAP_EV_THREAD_SWITCH
                                                     : MEMTAP_EV_THREAD_NAME;
        uint64_t idx = dec_get_varint(c, "thread index");
        if (type == MEMTAP_REC_THREAD_NAME)
            ev->u.thread.name = (const char *)dec_get_bytes(
                c, &ev->u.thread.name_len, MEMTAP_MAX_STRING, "thread name too long");
        if (!c->status && (idx == 0 || idx > d->threads))
            return dec_bad(c, "unknown thread index");
        ev->u.thread.index = (uint32_t)idx;
        return;
    }
    case MEMTAP_REC_NODE:
    case MEMTAP_REC_PY_NODE: {
        if (type == MEMTAP_REC_PY_NODE && d->version < 2)
            return dec_bad(c, "unknown record type");
        ev->type = MEMTAP_EV_NODE;
        uint64_t up = dec_get_varint(c, "node parent");
        uint64_t delta = 0, code = 0, line = 0;
        if (type == MEMTAP_REC_NODE) {
            delta = dec_get_varint(c, "node frame");
        } else {
            code = dec_get_varint(c, "Python code id");
            line = dec_get_varint(c, "Python line");
        }
        if (c->status)
            return;
        if (type == MEMTAP_REC_PY_NODE &&
            (code == 0 || code > MEMTAP_PY_MAX_CODE || (line >> 1) >> MEMTAP_PY_LINE_BITS))
            return dec_bad(c, "Python frame out of range");
        uint64_t id = (uint64_t)d->nodes + 1;
        if (id >= UINT32_MAX)
            return dec_bad(c, "too many stack nodes");
        if (up == 0 || up > id)
            return dec_bad(c, "stack node parent out of range");
        ev->u.node.id = (uint32_t)id;
        ev->u.node.parent = (uint32_t)(id - up);
        ev->u.node.frame = type == MEMTAP_REC_PY_NODE
                               ? memtap_py_frame(code, (uint32_t)(line >> 1), (int)(line & 1))
                               : d->last_frame + (uint64_t)memtap_unzigzag(delta);
        if (type == MEMTAP_REC_NODE && memtap_is_py_frame(ev->u.node.frame))
            return dec_bad(c, "stack frame address out of range");
        return;
    }
    case MEMTAP_REC_PY_CODE:
        if (d->version < 2)
            return dec_bad(c, "unknown record type");
        ev->type = MEMTAP_EV_PY_CODE;
        ev->u.py_code.id = dec_get_varint(c, "Python code id");
        ev->u.py_code.firstline = dec_get_varint(c, "Python line");
        ev->u.py_code.qualname = (const char *)dec_get_bytes(
            c, &ev->u.py_code.qualname_len, MEMTAP_MAX_STRING, "Python function name too long");
        ev->u.py_code.filename = (const char *)dec_get_bytes(
            c, &ev->u.py_code.filename_len, MEMTAP_MAX_STRING, "Python file name too long");
        if (!c->status && (ev->u.py_code.id == 0 || ev->u.py_code.id > MEMTAP_PY_MAX_CODE ||
                           ev->u.py_code.firstline > UINT32_MAX))
            return dec_bad(c, "Python code out of range");
        return;
    case MEMTAP_REC_MAIN_DONE:
        if (d->version < 2)
            return dec_bad(c, "unknown record type");
        ev->type = MEMTAP_EV_MAIN_DONE;
        ev->u.time.ms = dec_get_varint(c, "time");
        ev->u.time.rss = 0;
        return;
    case MEMTAP_REC_FREE:
    case MEMTAP_REC_MUNMAP: {
        ev->type = type == MEMTAP_REC_FREE ? MEMTAP_EV_FREE : MEMTAP_EV_MUNMAP;
        uint64_t delta = dec_get_varint(c, "address");
        ev->u.free.len = type == MEMTAP_REC_MUNMAP ? dec_get_varint(c, "length") : 0;
        if (ev->u.free.len > MAX_BLOCK)
            return dec_bad(c, "unmapping larger than any address space");
        ev->u.free.addr = d->last_addr + (uint64_t)memtap_unzigzag(delta);
        return;
    }
    case MEMTAP_REC_TIME:
        ev->type = MEMTAP_EV_TIME;
        ev->u.time.ms = dec_get_varint(c, "time");
        ev->u.time.rss = dec_get_varint(c, "rss");
        return;
    case MEMTAP_REC_EXEC:
    case MEMTAP_REC_EXIT:
        ev->type = type == MEMTAP_REC_EXEC ? MEMTAP_EV_EXEC : MEMTAP_EV_EXIT;
        ev->u.time.ms = dec_get_varint(c, "time");
        ev->u.time.rss = 0;
        return;
    case MEMTAP_REC_TRAILER:
        ev->type = MEMTAP_EV_TRAILER;
        ev->u.trailer.allocations = dec_get_varint(c, "trailer");
        ev->u.trailer.frees = dec_get_varint(c, "trailer");
        ev->u.trailer.nodes = dec_get_varint(c, "trailer");
        return;
    default:
        dec_bad(c, "unknown record type");
    }
}

/* Applies a parsed event to the decoder's own state (deltas, counts, order). */
int dec_commit(memtap_decoder_t *d, memtap_event_t *ev) {
    switch (ev->type) {
    case MEMTAP_EV_HEADER:
        d->state = IN_FRAME;
        d->frames++;
        memtap_merge_reset(&d->merge);
        d->merge_closed = 0;
        d->merged_thread = d->fast_id = 0;
        d->last_addr = d->last_frame = 0;
        d->nodes = d->threads = 0;
        d->allocations = d->frees = 0;
        break;
    case MEMTAP_EV_ALLOC:
        d->last_addr = ev->u.alloc.addr;
        d->allocations++;
        break;
    case MEMTAP_EV_FREE:
    case MEMTAP_EV_MUNMAP:
        d->last_addr = ev->u.free.addr;
        d->frees++;
        break;
    case MEMTAP_EV_NODE:
        if (!memtap_is_py_frame(ev->u.node.frame))
            d->last_frame = ev->u.node.frame;
        d->nodes++;
        break;
    case MEMTAP_EV_THREAD:
        d->threads++;
        break;
    case MEMTAP_EV_TRAILER:
        if (ev->u.trailer.allocations != d->allocations || ev->u.trailer.frees != d->frees ||
            ev->u.trailer.nodes != d->nodes)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, ev->offset,
                        "trailer counts %llu allocations, %llu frees, %llu nodes; the frame holds "
                        "%llu, %llu, %u",
                        (unsigned long long)ev->u.trailer.allocations,
                        (unsigned long long)ev->u.trailer.frees,
                        (unsigned long long)ev->u.trailer.nodes,
                        (unsigned long long)d->allocations, (unsigned long long)d->frees,
                        d->nodes);
        d->state = AFTER_TRAILER;
        break;
    default:
        break;
    }
    return MEMTAP_OK;
}

/* ALLOC, FREE and THREAD_SWITCH, nearly every record of a capture, decoded without the
 * general machinery when the window surely holds the whole record. Returns 1 when it decoded one, 0 to let
 * the general path decode (and judge) it. The checks are those of parse_record. */
static int fast_record(memtap_decoder_t *d, memtap_event_t *ev) {
    const uint8_t *p = d->win + d->pos, *q = p + 1;
    uint8_t type = *p;
    uint64_t delta, size, node;
    if ((type & 0xf0) == MEMTAP_REC_ALLOC) {
        if (!fast_varint(&q, &delta) || !fast_varint(&q, &size) || !fast_varint(&q, &node) ||
            (type & 0x0f) > d->max_kind || node > d->nodes || size > MAX_BLOCK)
            return 0;
        ev->type = MEMTAP_EV_ALLOC;
        ev->u.alloc.kind = type & 0x0f;
        ev->u.alloc.addr = d->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.alloc.size = size;
        ev->u.alloc.node = (uint32_t)node;
        d->last_addr = ev->u.alloc.addr;
        d->allocations++;
    } else if (type == MEMTAP_REC_FREE) {
        if (!fast_varint(&q, &delta))
            return 0;
        ev->type = MEMTAP_EV_FREE;
        ev->u.free.addr = d->last_addr + (uint64_t)memtap_unzigzag(delta);
        ev->u.free.len = 0;
        d->last_addr = ev->u.free.addr;
        d->frees++;
    } else if (type == MEMTAP_REC_THREAD_SWITCH) { /* frequent when threads interleave */
        uint64_t idx;
        if (!fast_varint(&q, &idx) || idx == 0 || idx > d->threads)
            return 0;
        ev->type = MEMTAP_EV_THREAD_SWITCH;
        ev->u.thread.index = (uint32_t)idx;
    } else {
        return 0;
    }
    ev->offset = d->win_offset + d->pos;
    d->pos = (size_t)(q - d->win);
    return 1;
}

static int next_event(memtap_decoder_t *d, memtap_event_t *ev);

/* Nearly every event comes from a fast path; the general one is out of line, so this stays
 * small (the big function's register saving cost ~15% of reading). */
int memtap_decoder_next(memtap_decoder_t *d, memtap_event_t *ev) {
    if (d->version >= 3) {
        if (dec_fast_merged(d, ev))
            return MEMTAP_OK;
    } else if (d->state == IN_FRAME && d->len - d->pos >= 32 && !d->done && fast_record(d, ev)) {
        return MEMTAP_OK;
    }
    return next_event(d, ev);
}

__attribute__((noinline)) static int next_event(memtap_decoder_t *d, memtap_event_t *ev) {
    if (d->done)
        return d->error[0] ? MEMTAP_ERR_CORRUPT : MEMTAP_OK;
    for (;;) {
        if (d->version >= 3 && d->state != EXPECT_HEADER) {
            int r = dec_merged_event(d, ev);
            if (r < 0)
                return -r;
            if (r > 0)
                return MEMTAP_OK;
        }
        if (d->pos == d->len) {
            if ((d->frame_end || d->eof) && d->version >= 3 && d->state != EXPECT_HEADER &&
                !d->merge_closed) {
                memtap_merge_close(&d->merge); /* release all that is left, then end */
                d->merge_closed = 1;
                continue;
            }
            if (d->frame_end) { /* the frame is over: it must have ended properly */
                uint64_t at = d->win_offset + d->pos;
                if (d->version >= 3 && d->merge.pending)
                    return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "record cut short by the end of its frame");
                if (d->state == EXPECT_HEADER)
                    return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "empty frame");
                if (d->state != AFTER_TRAILER)
                    return dec_fail(d, MEMTAP_ERR_CORRUPT, at, "frame ends without a trailer");
                d->state = EXPECT_HEADER;
                d->frame_end = 0;
            }
            if (!d->eof) {
                int rc = fill(d);
                if (rc != MEMTAP_OK)
                    return rc;
                continue;
            }
            if (d->frames == 0)
                return dec_fail(d, MEMTAP_ERR_CORRUPT, 0,
                            d->src.file_size ? "no memtap records (the program ended before any "
                                               "were written)"
                                             : "empty file");
            ev->type = MEMTAP_EV_END;
            ev->offset = d->win_offset + d->pos;
            ev->u.end.complete = !d->src.in_frame && d->state == EXPECT_HEADER;
            d->done = 1;
            return MEMTAP_OK;
        }
        cursor_t c = {d->win + d->pos, d->win + d->len, PARSE_OK, NULL};
        memset(ev, 0, sizeof *ev);
        ev->offset = d->win_offset + d->pos;
        if (d->state == EXPECT_HEADER)
            parse_header(d, &c, ev);
        else if (d->version >= 3)
            dec_parse_chunk(d, &c);
        else
            dec_parse_record(d, &c, ev);
        if (c.status == PARSE_BAD)
            return dec_fail(d, MEMTAP_ERR_CORRUPT, ev->offset, "%s (record type 0x%02x)", c.why,
                        d->win[d->pos]);
        if (c.status == PARSE_MORE) {
            if (d->frame_end)
                return dec_fail(d, MEMTAP_ERR_CORRUPT, ev->offset, "record cut short by the end of its frame");
            if (d->eof) { /* the file ends inside this record: the program was killed */
                ev->type = MEMTAP_EV_END;
                ev->u.end.complete = 0;
                d->done = 1;
                return MEMTAP_OK;
            }
            if (d->len - d->pos >= WIN_SIZE / 2)
                return dec_fail(d, MEMTAP_ERR_CORRUPT, ev->offset, "record larger than any valid record");
            int rc = fill(d);
            if (rc != MEMTAP_OK)
                return rc;
            continue;
        }
        if (ev->type == MEMTAP_EV_HEADER && ev->u.header.version > MEMTAP_FORMAT_VERSION)
            return dec_fail(d, MEMTAP_ERR_VERSION, ev->offset,
                        "capture format version %u is newer than this memtap reads (%u): "
                        "upgrade memtap",
                        ev->u.header.version, MEMTAP_FORMAT_VERSION);
        d->pos = (size_t)(c.p - d->win);
        if (d->version >= 3 && d->state != EXPECT_HEADER)
            continue; /* a chunk: its records come out of the merge */
        return dec_commit(d, ev);
    }
}
